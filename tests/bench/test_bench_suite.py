"""The benchmark suite's own parts (bench/suite): what its figures and its "nothing lost" check rest on."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from suite.report import report_write  # noqa: E402
from suite.run import Benchmark, _run_once, medians  # noqa: E402
from suite.wrkload import Request, write_requests, wrk_run  # noqa: E402

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")


class _Recorder(BaseHTTPRequestHandler):
    """202 for a POST (500 when the body asks for it), 405 for a GET: like the carrier endpoint."""

    protocol_version = "HTTP/1.1"
    bodies: list[str] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        with self.lock:
            self.bodies.append(body)
        self._answer(500 if "fail" in body else 202)

    def do_GET(self):  # noqa: N802
        self._answer(405)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def recorder():
    _Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Recorder.bodies
    server.shutdown()
    server.server_close()


@needs_wrk
def test_a_bounded_burst_sends_every_request_exactly_once(recorder, tmp_path):
    port, bodies = recorder
    headers = (("Content-Type", "application/json"),)
    requests = [Request("POST", "/hook/", json.dumps({"n": n}), headers) for n in range(40)]
    write_requests(tmp_path / "burst.tsv", requests)

    result = wrk_run(port=port, requests_file=tmp_path / "burst.tsv", duration=60, connections=4, limit=40,
                     filler_path="/hook/")  # fmt: skip

    assert sorted(bodies) == sorted(r.body for r in requests)
    assert result["requests"] == 40
    assert result["status_2xx"] == 40


@needs_wrk
def test_server_errors_are_counted_apart_from_acceptances(recorder, tmp_path):
    port, _ = recorder
    requests = [Request("POST", "/hook/", "fail" if n % 4 == 0 else f"ok-{n}") for n in range(20)]
    write_requests(tmp_path / "burst.tsv", requests)

    result = wrk_run(port=port, requests_file=tmp_path / "burst.tsv", duration=60, connections=2, limit=20,
                     filler_path="/hook/")  # fmt: skip

    assert (result["status_2xx"], result["status_5xx"]) == (15, 5)


def test_a_request_that_the_file_format_cannot_carry_is_refused():
    with pytest.raises(ValueError, match="tab or a newline"):
        Request("POST", "/hook/", "a\tb").line()


def test_each_figure_is_the_median_of_the_runs_and_sample_lists_are_left_out():
    runs = [
        {"figures": {"real": {"rps": 100.0, "p99": 9}, "ok": True, "samples": [1, 2]}},
        {"figures": {"real": {"rps": 300.0, "p99": 7}, "ok": False, "samples": [3]}},
        {"figures": {"real": {"rps": 200.0, "p99": 8}, "ok": True}},
        {"status": "failed"},
    ]

    assert medians(runs) == {"real.rps": 200.0, "real.p99": 8.0, "ok": 1.0}


def test_a_script_without_the_json_flag_is_reported_missing_not_failed(tmp_path):
    script = tmp_path / "old_bench.py"
    script.write_text("import argparse\nargparse.ArgumentParser().parse_args()\n")
    bench = Benchmark(name="old", title="Old", script=str(script), args=[], quick_args=[], timeout=60)

    run = _run_once(bench, args=[], env={}, timeout=60, log=tmp_path / "log")

    assert run["status"] == "missing"


def test_the_report_names_what_was_not_measured(tmp_path):
    missing = {"status": "missing", "reason": "the script does not accept --json yet", "seconds": 1}
    document = {
        "machine": {"cpu_model": "Test CPU", "logical_cpus": 2, "commit": "abc123"},
        "quick": True,
        "runs": 1,
        "suite_seconds": 75,
        "benchmarks": {
            "dispatch": {
                "title": "Dispatch",
                "command": "bench/x.py",
                "runs_wanted": 1,
                "status": "missing",
                "runs": [missing],
                "median": {},
                "range": {},
            },  # fmt: skip
        },
    }

    report_write(document, tmp_path / "BENCHMARKS.md")

    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "Not measured or not clean in this run: dispatch" in text
    assert "figure **missing**" in text
    assert "| CPU | Test CPU |" in text
