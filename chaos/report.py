"""The chaos report: the invariants (pass/fail) and the figures behind them, as markdown."""

from __future__ import annotations

import os
import platform


def invariants(result: dict, *, kills: int, concurrency: int) -> list[dict]:
    ev, http, st = result["events"], result["http"], result["statuses"]
    raw, nt, fig = result["raw_webhooks"], result["notifications"], result["figures"]
    wanted_faults = result["parameters"]["kills"] + result["parameters"]["redis_restarts"]
    dup_bound = kills * concurrency

    def check(name: str, ok: bool, detail: str) -> dict:
        return {"name": name, "ok": bool(ok), "detail": detail}

    return [
        check(
            "every fault was injected and every service came back",
            len(result["faults"]) == wanted_faults
            and not result["fault_errors"]
            and all("back_after_s" in f for f in result["faults"])
            and all(result["figures"]["alive_at_end"].values()),
            f"{len(result['faults'])}/{wanted_faults} faults; {len(result['fault_errors'])} errors; "
            f"alive at the end: {result['figures']['alive_at_end']}",
        ),
        check(
            "valid events recorded, each once",
            ev["missing_count"] == 0 and ev["recorded_more_than_once"] == 0,
            f"{ev['recorded_once']}/{ev['valid_scans']} once; {ev['missing_count']} missing; "
            f"{ev['recorded_more_than_once']} more than once",
        ),
        check(
            "invalid events accepted: none",
            ev["invalid_accepted_events"] == 0 and http["invalid_answered_2xx"] == 0 and raw["forged_stored"] == 0,
            f"{ev['invalid_accepted_events']} foreign timeline rows; {http['invalid_answered_2xx']} invalid "
            f"requests answered 2xx; {raw['forged_stored']} forged bodies stored",
        ),
        check(
            "every request got the answer its kind deserves (2xx valid, 400 malformed, 401 forged)",
            http["unexpected"] == 0,
            f"{http['unexpected']} unexpected; by kind {http['by_kind']}",
        ),
        check(
            "orders whose final status differs from the oracle's: none",
            st["differing"] == 0,
            f"{st['differing']} of {st['orders']}",
        ),
        check(
            "queues drained, nothing left unprocessed",
            fig["drained"] == {"notifications_open": 0, "raw_unprocessed": 0, "queued": 0}
            and raw["left_unprocessed"] == 0,
            f"after {fig['drain_seconds']} s: {fig['drained']}",
        ),
        check(
            "every due notification reached its provider or was dead-lettered for a stated reason",
            nt["unexplained"] == 0 and nt["lost"] == 0,
            f"{nt['delivered']}/{nt['due']} delivered; dead letters {nt['dead_letters']}; "
            f"{nt['unexplained']} unexplained; {nt['lost']} lost",
        ),
        check(
            "every order's final-status message reached the customer by SMS and email",
            nt["final_message_missing"] == 0,
            f"{nt['final_message_missing']} missing",
        ),
        check(
            "duplicates only from sends in flight at a worker kill",
            nt["duplicates_unexplained"] == 0 and nt["duplicates"] <= dup_bound,
            f"{nt['duplicates']} duplicate sends (bound: {kills} kills x {concurrency} in flight = {dup_bound}); "
            f"{nt['duplicates_unexplained']} not explained by a kill; most copies of one message: {nt['max_copies']}",
        ),
        check(
            "every dead-lettered webhook is explained (a malformed request)",
            raw["dead_letters_unexplained"] == 0 and raw["malformed_dead_lettered"] == raw["malformed_sent"],
            f"{raw['malformed_dead_lettered']}/{raw['malformed_sent']} malformed dead-lettered; "
            f"{raw['dead_letters_unexplained']} unexplained",
        ),
    ]


def markdown(result: dict) -> str:
    p, t, fig = result["parameters"], result["traffic"], result["figures"]
    nt, raw, ev = result["notifications"], result["raw_webhooks"], result["events"]
    ok = all(i["ok"] for i in result["invariants"])
    lines = [
        f"# Chaos report: {'PASS' if ok else 'FAIL'}",
        "",
        f"{p['events']} carrier webhooks for {p['orders']} orders (seed {p['seed']}, offered at {p['rate']:.0f}/s); "
        f"{p['kills']} worker SIGKILLs, {p['redis_restarts']} Redis restart(s); providers fail "
        f"{p['error_rate']:.0%} of calls with 500 and {p['timeout_rate']:.0%} with a timeout.",
        f"Machine: {platform.platform()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}.",
        "",
        "| invariant | result | detail |",
        "|---|---|---|",
    ]
    for inv in result["invariants"]:
        lines.append(f"| {inv['name']} | {'ok' if inv['ok'] else '**FAIL**'} | {inv['detail']} |")
    lines += [
        "",
        "## Traffic",
        "",
        f"valid {t.get('valid', 0)}, duplicates {t.get('duplicate', 0)}, out of order {t.get('out_of_order', 0)}, "
        f"malformed {t.get('malformed', 0)}, badly signed {t.get('bad_signature', 0)}; "
        f"{fig['sender_attempts']} HTTP attempts ({fig['sender_retries']} carrier-style retries).",
        f"Answers by kind: {result['http']['by_kind']}",
        "",
        "## Faults",
        "",
        *[
            f"- at {f['at_progress']:.0%} of the traffic: {f['action']}, "
            f"back after {f.get('back_after_s', '(never)')} s"
            for f in result["faults"]
        ],
        *[f"- fault error: {e.splitlines()[-1]}" for e in result["fault_errors"]],
        *[
            f"- worker {name} exited by itself at {', '.join(f'{t} s' for t in times)} into the traffic "
            "(restarted by the harness's supervisor; see the worker log)"
            for name, times in result["figures"].get("unplanned_worker_exits", {}).items()
        ],
        "",
        "## Carrier events",
        "",
        f"- valid scans: {ev['valid_scans']}; recorded once: {ev['recorded_once']}; missing: {ev['missing_count']}; "
        f"recorded more than once: {ev['recorded_more_than_once']}",
        f"- timeline rows that match no valid scan (an invalid event accepted): {ev['invalid_accepted_events']}",
        f"- raw webhooks stored: {raw['stored']} by status {raw['by_status']}",
        f"- dead-lettered webhooks by reason: {raw['dead_letters'] or 'none'} "
        f"({raw['dead_letters_unexplained']} unexplained)",
        "",
        "## Notifications",
        "",
        f"- outbox rows: {nt['rows']}; due at a fake provider: {nt['due']}; delivered: {nt['delivered']}",
        f"- not due (the product's own rules): {nt['not_due'] or 'none'}; "
        f"feedback requests scheduled 24 h later: {nt['scheduled_later']}",
        f"- duplicate sends: {nt['duplicates']} ({nt['duplicates_unexplained']} not explained by a kill); "
        f"most copies of one message: {nt['max_copies']}",
        f"- dead letters by reason: {nt['dead_letters'] or 'none'}",
        f"- provider calls: {fig['provider_calls']}; requests the fakes accepted that match no row: "
        f"{nt['unmatched_provider_requests']}",
        "",
        "## Figures",
        "",
        f"- database {fig['database_seconds']} s (template built: {fig['template_built']}), seeding "
        f"{fig['seed_seconds']} s, starting services {fig['start_seconds']} s",
        f"- sending {fig['send_seconds']} s, draining {fig['drain_seconds']} s, whole run {fig['total_seconds']} s",
        f"- worker CPU seconds (since their last start): {fig['worker_cpu_seconds']}",
        f"- sweeps enqueued {fig['sweeps_enqueued']}, refused while the broker was down "
        f"{fig['sweeps_refused_by_broker']}",
    ]
    problems = [
        ("orders whose status differs", result["statuses"]["examples"]),
        ("missing scans", ev["missing"]),
        ("invalid events accepted", ev["invalid_examples"]),
        ("unexpected HTTP answers", result["http"]["examples"]),
        ("unexplained notifications", nt["unexplained_examples"]),
        ("lost notifications", nt["lost_examples"]),
        ("final-status messages missing", nt["final_message_missing_examples"]),
        ("unexplained dead-lettered webhooks", raw["unexplained_examples"]),
    ]
    for title, examples in problems:
        if examples:
            lines += ["", f"## Examples: {title}", "", *[f"- `{e}`" for e in examples[:10]]]
    return "\n".join(lines) + "\n"
