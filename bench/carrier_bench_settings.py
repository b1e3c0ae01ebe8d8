"""Settings for the benchmarks that run gunicorn: the project's settings with a URLConf that adds a
bare DRF view next to the real endpoints (so both run in the same server, same process)."""

import os

from oms_notify.settings import *  # noqa: F403

ROOT_URLCONF = "bench.carrier_bench_urls"
# Pages need collected static files with DEBUG off (the manifest storage); a benchmark collects them
# into a directory of its own rather than the project's staticfiles/.
STATIC_ROOT = os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT)  # noqa: F405
