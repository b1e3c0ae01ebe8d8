"""BENCHMARKS.md from the suite's JSON: the machine, then each figure next to its same-run baseline."""

from __future__ import annotations

from pathlib import Path


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _range(result: dict, key: str) -> str:
    low, high = result["range"].get(key, [None, None])
    if low is None or len(result["runs"]) < 2:
        return ""
    return f" ({_number(low)}–{_number(high)})"


def _summary_rows(benchmarks: dict) -> list[str]:
    rows = []
    ingest = benchmarks.get("ingest")
    if ingest and ingest["median"]:
        m = ingest["median"]
        rows.append(
            f"| webhook ingest (wrk, 4 connections, gunicorn 4 sync workers) | "
            f"{_number(m.get('real.rps'))} req/s{_range(ingest, 'real.rps')}, p50 {_number(m.get('real.p50'))} ms, "
            f"p99 {_number(m.get('real.p99'))} ms, {_number(m.get('real.cpu_ms'), 2)} ms web CPU/req | "
            f"bare DRF view: {_number(m.get('bare.rps'))} req/s, p50 {_number(m.get('bare.p50'))} ms, "
            f"p99 {_number(m.get('bare.p99'))} ms, {_number(m.get('bare.cpu_ms'), 2)} ms CPU/req "
            f"(ratio {_number(m.get('ratio'), 2)}) |"
        )
    for name in ("end_to_end", "end_to_end_80", "end_to_end_50"):
        e2e = benchmarks.get(name)
        if not (e2e and e2e["median"]):
            continue
        m = e2e["median"]
        p50, p95, p99 = m.get("p50_ms"), m.get("p95_ms"), m.get("p99_ms")
        rows.append(
            f"| end to end: webhook received → request at the fake, steady {_number(m.get('rate'), 0)} events/s | "
            f"p50 {_number(p50)} ms, p95 {_number(p95)} ms, p99 {_number(p99)} ms{_range(e2e, 'p99_ms')}, offered "
            f"{_number(m.get('offered_rate'))}/s, SMS delivered under load {_number(m.get('sms_per_s_under_load'))}/s; "
            f"lost {_number(m.get('lost'), 0)}; "
            f"{_number(m.get('worker_cpu_ms_per_event'))} ms worker CPU/event, "
            f"{_number(m.get('machine_cpu_ms_per_event'))} ms all CPU on the machine/event | "
            f"— (the script measures none; every key of its JSON is below) |"
        )
    dispatch = benchmarks.get("dispatch")
    if dispatch and dispatch["median"]:
        m = dispatch["median"]
        rate, baseline = m.get("msgs_per_s"), m.get("noop_tasks_per_s")
        rows.append(
            f"| dispatch, fake provider answering in 50 ms | {_number(rate)} notifications/s"
            f"{_range(dispatch, 'msgs_per_s')}, {_number(m.get('cpu_ms_per_msg'), 2)} ms worker CPU each, "
            f"{_number(m.get('machine_cpu_ms_per_msg'), 2)} ms all CPU on the machine each | "
            f"no-op Celery task: {_number(baseline)}/s, {_number(m.get('noop_cpu_ms_per_task'), 2)} ms CPU each |"
        )
    tracking = benchmarks.get("tracking")
    if tracking and tracking["median"]:
        m = tracking["median"]
        rows.append(
            f"| tracking page over HTTP, {_number(m.get('orders'))} orders | page p95 "
            f"{_number(m.get('http.page.p95_ms'))} ms{_range(tracking, 'http.page.p95_ms')} "
            f"({_number(m.get('http.page.rps'))} req/s, {_number(m.get('http.page.web_cpu_ms_per_request'), 1)} ms "
            f"CPU/req); JSON p95 {_number(m.get('http.json.p95_ms'))} ms | bare view p95 "
            f"{_number(m.get('http.bare.p95_ms'))} ms ({_number(m.get('http.bare.rps'))} req/s, "
            f"{_number(m.get('http.bare.web_cpu_ms_per_request'), 2)} ms CPU/req) |"
        )
    spike = benchmarks.get("spike")
    if spike and spike["median"]:
        m = spike["median"]
        rows.append(
            f"| spike: {_number(m.get('events'))} signed carrier events, closed loop (run once) | accepted at "
            f"{_number(m.get('send.rps'))}/s (ack p99 {_number(m.get('send.p99_ms'))} ms); {_drain_note(m)}; "
            f"peak queue {_number(m.get('peak_queue_depth.critical'))} (critical); peak RSS web "
            f"{_number(m.get('peak_rss_mb.web'))} MB, workers {_number(m.get('peak_rss_mb.critical_worker'))} + "
            f"{_number(m.get('peak_rss_mb.default_worker'))} MB; lost {_number(m.get('check.lost'), 0)}, applied "
            f"twice {_number(m.get('check.applied_twice'), 0)}; CPU per event: web "
            f"{_number(m.get('cpu_ms_per_event.web'))} ms, workers {_number(m.get('cpu_ms_per_event.critical_worker'))}"
            f" + {_number(m.get('cpu_ms_per_event.default_worker'))} ms | bare DRF view on the same server, closed "
            f"loop: {_number(m.get('bare_view.rps'))} req/s (ack p99 {_number(m.get('bare_view.p99_ms'))} ms); idle "
            f"RSS before the burst: web {_number(m.get('rss_mb_before.web'))} MB, workers "
            f"{_number(m.get('rss_mb_before.critical_worker'))} + {_number(m.get('rss_mb_before.default_worker'))} MB |"
        )
    return rows


def _drain_note(m: dict[str, float]) -> str:
    after = _number(m.get("drain_seconds_after_burst"))
    if m.get("drained"):
        return f"drained {after} s after the burst"
    return f"NOT drained {after} s after the burst ({_number(m.get('check.still_queued'), 0)} still queued)"


def _machine_rows(machine: dict) -> list[str]:
    labels = [
        ("measured_at", "measured at (UTC)"),
        ("cpu_model", "CPU"),
        ("logical_cpus", "logical CPUs"),
        ("physical_cores", "physical cores"),
        ("ram_gb", "RAM (GB)"),
        ("kernel", "kernel"),
        ("os", "OS"),
        ("python", "Python"),
        ("postgresql", "PostgreSQL"),
        ("redis", "Redis"),
        ("django", "Django"),
        ("celery", "Celery"),
        ("gunicorn", "gunicorn"),
        ("wrk", "load generator"),
        ("commit", "git commit"),
        ("uncommitted_changes", "uncommitted changes in the tree"),
        ("load_average_at_start", "load average at start (1, 5, 15 min)"),
        ("load_average_at_end", "load average at end"),
    ]
    return [f"| {label} | {machine.get(key, '')} |" for key, label in labels]


def _details(name: str, result: dict) -> list[str]:
    lines = [f"### {result['title']}", ""]
    lines.append(
        f"`{result['command']}` — status **{result['status']}**, {len(result['runs'])} run(s), finished "
        f"{result.get('measured_at', '?')}, load average after {result.get('load_average_after', '?')}."
    )
    problems = [r for r in result["runs"] if r["status"] != "ok"]
    for run in problems:
        lines.append(f"- a run {run['status']}: {run.get('reason') or 'exit code ' + str(run.get('exit_code'))}")
    if result["status"] == "missing":
        lines.append("- figure **missing**: the script does not write `--json` yet; the lead re-runs the suite.")
    lines.append("")
    if result["median"]:
        lines += ["| figure | median | range over runs |", "| --- | ---: | ---: |"]
        for key, value in result["median"].items():
            if key.startswith("samples") or key.startswith("in_process.") and key.endswith("queries"):
                continue
            low, high = result["range"][key]
            lines.append(f"| `{key}` | {_number(value, 2)} | {_number(low, 2)}–{_number(high, 2)} |")
        lines.append("")
    return lines


def report_write(document: dict, path: Path) -> None:
    machine = document["machine"]
    benchmarks = document["benchmarks"]
    size = "quick: small sizes, `BENCH_QUICK=1`" if document["quick"] else "full sizes"
    runs = "one run" if document["runs"] == 1 else f"{document['runs']} runs"
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` ({size}) in {document['suite_seconds'] // 60} min "
        f"{document['suite_seconds'] % 60} s{' (all merged runs together)' if document.get('merged_from') else ''}. "
        f"Every figure is the **median of {runs}**, each run "
        "a fresh process with its own scratch database; the tracking page's seed and the spike run **once** "
        "(the seed is reused by the tracking runs). Each baseline is measured in the same run, on the same "
        "server processes, right after the figure it sits next to. Load comes from `wrk` in its own process, "
        "over loopback. Machine-readable: `bench/results/latest.json` (every run's figures and the spike's "
        "samples over time).",
        "",
        *(
            [
                f"Merged: some benchmarks were re-run (`--merge`) after a first run at {document['merged_from']}; "
                "each benchmark's section gives when it was measured and the load average after it. "
                "(Run one `--merge` at a time: the last to finish writes the file.)",
                "",
            ]
            if document.get("merged_from")
            else []
        ),
        "**Read with care:** this machine is shared (other engineers' test suites run on the same 2 cores; "
        "see the load averages below), so throughput and latency here are pessimistic and noisy. The CPU "
        "time per request and the ratio to the same-run baseline move much less than wall-clock figures. "
        "Re-run `make bench` on a quiet machine for figures to quote.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *_machine_rows(machine),
        "",
        "## Figures and their baselines",
        "",
        "| benchmark | figure (median) | baseline, same run |",
        "| --- | --- | --- |",
        *_summary_rows(benchmarks),
        "",
    ]
    missing = [name for name, result in benchmarks.items() if result["status"] != "ok"]
    if missing:
        lines += [f"Not measured or not clean in this run: {', '.join(missing)} (details below).", ""]
    lines += ["## Every figure", ""]
    for name, result in benchmarks.items():
        lines += _details(name, result)
    lines += [
        "## How to reproduce",
        "",
        "```",
        "make bench                  # full sizes, 3 runs: estimated at about an hour on a quiet 2-core machine",
        "                            # (the 50,000-event spike's drain is most of it)",
        "make bench BENCH_QUICK=1    # small sizes, one run: minutes on a quiet machine; checks the suite works",
        'make bench BENCH_QUICK=1 BENCH_SUITE_ARGS="--only spike --merge"   # re-run one, keep the rest',
        'make bench BENCH_SUITE_ARGS="--spike-events 10000"                 # a smaller spike',
        "make bench BENCH_RUNS=5     # more runs per figure",
        "```",
        "",
        "Each benchmark also runs alone: see the docstring at the top of each `bench/*.py` script.",
        "",
    ]
    path.write_text("\n".join(lines))
