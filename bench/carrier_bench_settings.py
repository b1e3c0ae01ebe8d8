"""Settings for bench/carrier_webhooks.py only: the project's settings with a URLConf that adds a
bare DRF view next to the real endpoints (so both run in the same server, same process)."""

from oms_notify.settings import *  # noqa: F403

ROOT_URLCONF = "bench.carrier_bench_urls"
