"""The chaos run, small: 300 signed carrier webhooks for 30 orders through gunicorn, two real
Celery workers (one SIGKILLed), a Redis restart and providers failing a quarter of their calls.

The harness runs in its own process (it sets up Django for its scratch database and its own Redis
server; this process keeps the test settings) and the test asserts each invariant of its report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "--events", "300", "--orders", "30", "--kills", "1", "--redis-restarts", "1", "--rate", "20",
    "--stale-seconds", "8", "--requeue-seconds", "5", "--carrier-sweep-after", "5", "--sweep-every", "2",
    "--web-workers", "1", "--concurrency", "4", "--drain-timeout", "150",
]  # fmt: skip


def _server_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the chaos run needs PostgreSQL")
    auth = quote(db["USER"] or "postgres") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    if shutil.which("redis-server") is None:
        pytest.skip("the chaos run starts its own redis-server")
    out = tmp_path_factory.mktemp("chaos")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_", "PYTEST_"))}
    env["DATABASE_URL"] = _server_url()
    run = subprocess.Popen(
        [sys.executable, "-m", "chaos", *SMALL, "--out", str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = run.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        run.terminate()  # the harness stops its services and drops its database on SIGTERM
        output, _ = run.communicate(timeout=60)
    path = out / "chaos-report.json"
    assert path.exists(), f"the run broke (exit {run.returncode}):\n{output[-5000:]}"
    result = json.loads(path.read_text())
    result["exit_status"] = run.returncode
    return result


def _invariant(report: dict, name: str) -> dict:
    found = [i for i in report["invariants"] if i["name"].startswith(name)]
    assert found, f"no invariant {name!r} in the report"
    return found[0]


STATUSES = "orders whose final status differs"


@pytest.mark.parametrize(
    "name",
    [
        "every fault was injected",
        "valid events recorded, each once",
        "invalid events accepted: none",
        "every request got the answer its kind deserves",
        "queues drained",
        "every due notification reached its provider",
        "every order's final-status message",
        "duplicates only from sends in flight",
        "every dead-lettered webhook is explained",
    ],
)
def test_the_small_chaos_run_holds_the_invariant(report, name):
    invariant = _invariant(report, name)

    assert invariant["ok"], invariant["detail"]


def test_final_statuses_match_the_oracle_except_where_the_known_late_delivery_defect_bites(report):
    # tests/chaos/test_findings.py pins the defect: a delivered scan arriving after a newer stray
    # scan is ignored. Any other difference from the oracle fails here; once fixed, none is left.
    statuses = report["statuses"]
    others = [
        e
        for e in statuses["examples"]
        if not (e["story"] == "stray_scan_after_delivery" and e["expected"]["shipment"] == "delivered")
    ]

    assert others == []
    assert statuses["differing"] == len(statuses["examples"])


def test_the_small_chaos_run_really_broke_things_and_exits_by_its_invariants(report):
    actions = [f["action"] for f in report["faults"]]
    failing = [i["name"] for i in report["invariants"] if not i["ok"]]

    assert any(a.startswith("SIGKILL worker") for a in actions)
    assert any(a.startswith("redis restarted") for a in actions)
    assert report["traffic"]["malformed"] and report["traffic"]["bad_signature"] and report["traffic"]["duplicate"]
    # The fakes failed for real: more provider calls than messages delivered.
    calls = sum(report["figures"]["provider_calls"].values())
    assert calls > report["notifications"]["delivered"]
    assert report["exit_status"] == (1 if failing else 0)
    assert all(name.startswith(STATUSES) for name in failing)
