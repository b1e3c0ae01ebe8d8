"""What a chaos run must have produced, worked out from the plan alone, and the comparison with
what the database and the fake providers hold afterwards.

The oracle applies the product's rules to the *valid* scans in time order (the order the carrier
saw them, whatever order they arrived in): the newest scan moves the parcel; a parcel that is
delivered, returned or cancelled moves no further, except delivered -> returned to sender; the
order's status follows its parcel (orders/statuses.py). It then names the one customer message
each order must have received: the one for its final status, by SMS and by email.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from chaos.generator import Plan

IN_FLIGHT = {
    "info_received",
    "in_transit",
    "out_for_delivery",
    "available_for_pickup",
    "attempt_failed",
    "delayed",
    "exception",
}
FINAL = {"delivered", "returned_to_sender", "cancelled"}
# The order status a single live parcel implies (orders.statuses.order_status_for_shipments).
ORDER_STATUS = {
    "info_received": "dispatched",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "out_for_delivery",
    "attempt_failed": "delivery_failed",
    "delayed": "delayed",
    "exception": "delayed",
    "delivered": "delivered",
    "returned_to_sender": "returned_to_sender",
}
# The customer message that an order in this status must have had (notifications.rules).
FINAL_MESSAGE = {
    "dispatched": "order_dispatched",
    "in_transit": "order_dispatched",
    "out_for_delivery": "out_for_delivery",
    "delivery_failed": "delivery_failed",
    "delayed": "delayed",
    "delivered": "delivered",
    "returned_to_sender": "returned_to_sender",
}
FAKE_PROVIDERS = {"twilio", "sendgrid"}
SENT = {"sent", "delivered"}


def allowed(current: str, target: str) -> bool:
    if target == "info_received" or target == current:
        return False
    if current in IN_FLIGHT:
        return True
    return current == "delivered" and target == "returned_to_sender"


def expected_statuses(plan: Plan) -> dict[int, dict]:
    """Per order index: the valid scans, the parcel's final status and the order's."""
    valid_ids = {scan_id for d in plan.deliveries if d.kind == "valid" for scan_id in d.scans}
    by_order: dict[int, list] = defaultdict(list)
    for scan_id in valid_ids:
        scan = plan.scans[scan_id]
        by_order[scan.order].append(scan)
    out = {}
    for row in plan.orders:
        scans = sorted(by_order[row["index"]], key=lambda s: s.occurred_at)
        status = "info_received"
        for scan in scans:
            if allowed(status, scan.status):
                status = scan.status
        order_status = ORDER_STATUS[status] if status != "info_received" else "confirmed"
        out[row["index"]] = {
            "scans": {(s.occurred_at, s.status) for s in scans},
            "shipment": status,
            "order": order_status,
            "message": FINAL_MESSAGE.get(order_status, ""),
        }
    return out


def check_events(plan: Plan, expected: dict[int, dict], timeline: list[tuple]) -> dict:
    """timeline: (tracking_number, occurred_at, status) of every ShipmentEvent row."""
    by_number = {row["tracking_number"]: row["index"] for row in plan.orders}
    seen: Counter = Counter()
    foreign = []
    for number, occurred_at, status in timeline:
        index = by_number.get(number)
        key = (occurred_at, status)
        if index is None or key not in expected[index]["scans"]:
            foreign.append({"tracking_number": number, "occurred_at": occurred_at.isoformat(), "status": status})
            continue
        seen[(index, key)] += 1
    wanted = [(i, key) for i, e in expected.items() for key in e["scans"]]
    missing = [(i, key) for i, key in wanted if seen[(i, key)] == 0]
    twice = [(i, key, n) for (i, key), n in seen.items() if n > 1]
    return {
        "valid_scans": len(wanted),
        "recorded_once": sum(1 for i, key in wanted if seen[(i, key)] == 1),
        "missing": [{"order": i, "occurred_at": k[0].isoformat(), "status": k[1]} for i, k in missing[:20]],
        "missing_count": len(missing),
        "recorded_more_than_once": len(twice),
        "invalid_accepted_events": len(foreign),
        "invalid_examples": foreign[:10],
    }


def check_statuses(plan: Plan, expected: dict[int, dict], actual: dict[str, tuple[str, str]]) -> dict:
    """actual: tracking number -> (shipment status, order status)."""
    wrong = []
    for row in plan.orders:
        want = expected[row["index"]]
        got = actual.get(row["tracking_number"], ("(none)", "(none)"))
        if (want["shipment"], want["order"]) != got:
            wrong.append(
                {
                    "order": row["index"],
                    "carrier": row["carrier"],
                    "story": row["story"],
                    "expected": {"shipment": want["shipment"], "order": want["order"]},
                    "actual": {"shipment": got[0], "order": got[1]},
                }
            )
    return {"orders": len(plan.orders), "differing": len(wrong), "examples": wrong[:20], "all": wrong}


def check_http(plan: Plan, answers: dict[int, int]) -> dict:
    """answers: delivery seq -> final HTTP status the sender got (0: never answered)."""
    expected = {"valid": (200, 202), "duplicate": (200, 202), "malformed": (400,), "bad_signature": (401,)}
    by_kind: dict[str, Counter] = defaultdict(Counter)
    wrong = []
    for d in plan.deliveries:
        code = answers.get(d.seq, 0)
        by_kind[d.kind][code] += 1
        if code not in expected[d.kind]:
            wrong.append({"seq": d.seq, "kind": d.kind, "carrier": d.carrier, "status": code})
    invalid_ok = sum(1 for w in wrong if w["kind"] in ("malformed", "bad_signature") and 200 <= w["status"] < 300)
    return {
        "by_kind": {k: dict(v) for k, v in by_kind.items()},
        "unexpected": len(wrong),
        "invalid_answered_2xx": invalid_ok,
        "examples": wrong[:10],
    }


def check_notifications(
    plan: Plan,
    expected: dict[int, dict],
    rows: list[dict],
    twilio_ok: list[tuple[str, str, float]],
    sendgrid_ok: list[tuple[str, float]],
    kills: list[float],
    in_flight_window: float,
    differing: set[int] = frozenset(),
) -> dict:
    """rows: every Notification (dicts); *_ok: the fakes' successful answers with their times."""
    arrivals: dict[int, list[float]] = defaultdict(list)
    by_sms = defaultdict(list)
    for row in rows:
        if row["provider"] == "twilio":
            by_sms[(row["recipient"], row["body_text"])].append(row)
    by_public = {str(row["public_id"]): row for row in rows}
    unmatched = 0
    for public_id, at in sendgrid_ok:
        row = by_public.get(public_id)
        if row is None:
            unmatched += 1
        else:
            arrivals[row["id"]].append(at)
    # An SMS carries no id of ours: match on (number, text); identical texts share their arrivals.
    sms_groups: dict[tuple, list[float]] = defaultdict(list)
    for to, body, at in twilio_ok:
        sms_groups[(to, body)].append(at)
    for key, times in sms_groups.items():
        group = by_sms.get(key)
        if not group:
            unmatched += len(times)
            continue
        times.sort()
        # Identical texts cannot be told apart: the arrivals go first to the rows that say they were
        # sent (a superseded twin with the same text must not take a sent row's arrival).
        ordered = sorted(group, key=lambda r: (r["status"] not in SENT, r["id"]))
        for row, at in zip(ordered, times, strict=False):
            arrivals[row["id"]].append(at)
        extra = times[len(group) :]
        arrivals[ordered[0]["id"]].extend(extra)

    due = [r for r in rows if r["provider"] in FAKE_PROVIDERS and r["event"] != "feedback_request"]
    later = [r for r in rows if r["event"] == "feedback_request"]
    not_sent_reasons: Counter = Counter()
    dead_letters: Counter = Counter()
    unexplained = []
    delivered = duplicates = unexplained_dups = 0
    lost = []
    for row in due:
        got = arrivals.get(row["id"], [])
        if row["status"] == "suppressed":
            not_sent_reasons[row["status_reason"].split(":")[0] or "suppressed"] += 1
            continue
        if got:
            delivered += 1
            copies = len(got) - 1
            if copies:
                duplicates += copies
                first = min(got)
                if not any(kill - in_flight_window <= first <= kill for kill in kills):
                    unexplained_dups += copies
            if row["status"] not in SENT:
                lost.append(_brief(row, "reached the provider but not marked sent"))
            continue
        if row["status"] == "failed":
            key = f"{row['status_reason']}: {row['error_code'] or 'no code'}"
            dead_letters[key] += 1
            if row["status_reason"] != "dead-lettered" or row["attempts"] < 1:
                unexplained.append(_brief(row, "failed without exhausting its attempts"))
        elif row["status"] in SENT:
            lost.append(_brief(row, "marked sent, never reached the provider"))
        else:
            unexplained.append(_brief(row, f"still {row['status']}"))

    # Each order's final-status message, by SMS and email, must have reached its provider. An order
    # whose status differs from the oracle's is counted there, not again here.
    by_order = defaultdict(list)
    for row in rows:
        if row["audience"] == "customer":
            by_order[row["order_index"]].append(row)
    final_missing = []
    for row in plan.orders:
        if row["index"] in differing:
            continue
        want = expected[row["index"]]["message"]
        for channel in ("sms", "email"):
            hits = [
                r
                for r in by_order[row["index"]]
                if r["event"] == want and r["channel"] == channel and arrivals.get(r["id"])
            ]
            if not hits:
                final_missing.append({"order": row["index"], "message": want, "channel": channel})
    due_count = len(due) - sum(not_sent_reasons.values())
    return {
        "rows": len(rows),
        "due": due_count,
        "delivered": delivered,
        "not_due": dict(not_sent_reasons),
        "scheduled_later": len(later),
        "duplicates": duplicates,
        "duplicates_unexplained": unexplained_dups,
        "max_copies": max((len(v) for v in arrivals.values()), default=0),
        "dead_letters": dict(dead_letters),
        "unexplained": len(unexplained),
        "unexplained_examples": unexplained[:10],
        "lost": len(lost),
        "lost_examples": lost[:10],
        "unmatched_provider_requests": unmatched,
        "final_message_missing": len(final_missing),
        "final_message_missing_examples": final_missing[:10],
    }


def _brief(row: dict, why: str) -> dict:
    keys = ("id", "event", "audience", "channel", "provider", "status", "status_reason", "attempts", "error_code")
    return {**{k: row[k] for k in keys}, "why": why}


def check_raw(plan: Plan, raws: list[dict]) -> dict:
    """raws: every RawWebhook (status, error, body). Malformed ones are the expected dead letters."""
    malformed_bodies = {d.body for d in plan.deliveries if d.kind == "malformed"}
    forged_bodies = {d.body for d in plan.deliveries if d.kind == "bad_signature"}
    statuses = Counter(r["status"] for r in raws)
    reasons: Counter = Counter()
    unexplained = []
    stored_forgeries = 0
    for r in raws:
        body = bytes(r["body"])
        if body in forged_bodies:
            stored_forgeries += 1
        if r["status"] in ("failed", "pending"):
            reason = (r["error"] or "").split("\n")[0]
            reasons[_reason_class(reason)] += 1
            if body not in malformed_bodies:
                unexplained.append({"id": r["id"], "status": r["status"], "error": reason[:200]})
    malformed_failed = sum(1 for r in raws if bytes(r["body"]) in malformed_bodies and r["status"] == "failed")
    return {
        "stored": len(raws),
        "by_status": dict(statuses),
        "left_unprocessed": statuses.get("received", 0),
        "dead_letters": dict(reasons),
        "dead_letters_unexplained": len(unexplained),
        "unexplained_examples": unexplained[:10],
        "malformed_dead_lettered": malformed_failed,
        "malformed_sent": sum(1 for d in plan.deliveries if d.kind == "malformed"),
        "forged_stored": stored_forgeries,
    }


def _reason_class(reason: str) -> str:
    """A dead letter's reason without the specifics (field names stay, values go)."""
    if reason.startswith("parse error: body is not JSON"):
        return "parse error: body is not JSON"
    if reason.startswith("parse error: not a timestamp"):
        return "parse error: not a timestamp"
    if reason.startswith("parse error: missing field"):
        return reason[:80]
    return reason[:80] or "(no error recorded)"
