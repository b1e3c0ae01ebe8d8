"""The traffic of a chaos run: carrier webhooks in each vendor's real format, and what each one is.

Every order gets one parcel with one carrier and a scan history drawn from a few life stories
(straight to the door, a failed attempt, a delay, a return, a stray scan after delivery...).
Each scan becomes a webhook in the carrier's own format; trackers (EasyPost, AfterShip, Shippo)
resend their whole history so far, as they do in production. Then the mix the issue asks for is
laid on top: exact retries (same delivery id), deliveries moved later in the stream, malformed
bodies that are signed correctly, and forged bodies signed with the wrong secret.

Signatures are made at send time (`sign`), because Standard Webhooks and Shippo sign a timestamp
that the receiver checks against a 5-minute tolerance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CARRIERS = ("generic", "easypost", "aftership", "shippo")
# The name each parcel is registered under: the aggregator matches its underlying carrier.
SHIPMENT_CARRIER = {"generic": "acme", "easypost": "usps", "aftership": "dhl", "shippo": "fedex"}
SECRETS = {
    "generic": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "easypost": "chaos-easypost-secret",
    "aftership": "chaos-aftership-secret",
    "shippo": "chaos-shippo-secret",
}
WRONG_SECRETS = {
    "generic": "whsec_" + base64.b64encode(b"not-the-secret-at-all-32-bytes!!").decode(),
    "easypost": "not-the-easypost-secret",
    "aftership": "not-the-aftership-secret",
    "shippo": "not-the-shippo-secret",
}

EASYPOST = {
    "info_received": ("pre_transit", "label_created"),
    "in_transit": ("in_transit", "arrived_at_facility"),
    "out_for_delivery": ("out_for_delivery", "out_for_delivery"),
    "delivered": ("delivered", "arrived_at_destination"),
    "attempt_failed": ("failure", "delivery_attempted"),
    "delayed": ("in_transit", "weather_delay"),
    "exception": ("failure", "address_not_found"),
    "returned_to_sender": ("return_to_sender", "return_to_sender"),
}
AFTERSHIP = {
    "info_received": ("InfoReceived", "InfoReceived_001"),
    "in_transit": ("InTransit", "InTransit_002"),
    "out_for_delivery": ("OutForDelivery", "OutForDelivery_001"),
    "delivered": ("Delivered", "Delivered_001"),
    "attempt_failed": ("AttemptFail", "AttemptFail_001"),
    "delayed": ("Exception", "Exception_004"),
    "exception": ("Exception", "Exception_001"),
    "returned_to_sender": ("Exception", "Exception_011"),
}
SHIPPO = {
    "info_received": ("PRE_TRANSIT", ""),
    "in_transit": ("TRANSIT", ""),
    "out_for_delivery": ("TRANSIT", "out_for_delivery"),
    "delivered": ("DELIVERED", ""),
    "attempt_failed": ("TRANSIT", "delivery_attempted"),
    "delayed": ("TRANSIT", "package_delayed"),
    "exception": ("FAILURE", ""),
    "returned_to_sender": ("RETURNED", ""),
}
CITIES = [("Newark", "NJ", "07102"), ("Memphis", "TN", "38118"), ("Louisville", "KY", "40209"), ("Reno", "NV", "89502")]

# (weight, name, head, tail): `in_transit` scans are padded in between to reach the scan budget.
STORIES = [
    (70, "delivered", ["info_received"], ["out_for_delivery", "delivered"]),
    (8, "attempt_then_delivered", ["info_received"], ["out_for_delivery", "attempt_failed", "out_for_delivery",
                                                      "delivered"]),
    (6, "delay_then_delivered", ["info_received", "in_transit", "delayed"], ["out_for_delivery", "delivered"]),
    (6, "still_moving", ["info_received"], ["out_for_delivery"]),
    (4, "returned", ["info_received"], ["out_for_delivery", "attempt_failed", "returned_to_sender"]),
    (3, "exception", ["info_received"], ["exception"]),
    (3, "stray_scan_after_delivery", ["info_received"], ["out_for_delivery", "delivered", "in_transit"]),
]  # fmt: skip


_BY_NAME = {story[1]: story for story in STORIES}
FIRST_STORIES = {
    i: _BY_NAME[name]
    for i, name in enumerate(
        ["delivered", "attempt_then_delivered", "delay_then_delivered", "still_moving", "stray_scan_after_delivery",
         "returned", "exception"]
    )
}  # fmt: skip


@dataclass
class Scan:
    """One physical event of one parcel: what the carrier saw, when."""

    order: int
    status: str
    occurred_at: datetime
    scan_id: str


@dataclass(eq=False)  # identity: the stream is searched by object
class Delivery:
    """One HTTP request to send. `kind` is what the oracle expects of it."""

    seq: int
    carrier: str
    order: int
    body: bytes
    kind: str  # valid | duplicate | malformed | bad_signature
    delivery_id: str  # the vendor's id of this delivery (retries share it)
    scans: list[str] = field(default_factory=list)  # scan ids this body carries (valid ones only)
    displaced: bool = False  # moved later in the stream (out of order)
    timestamp: int = 0  # signed-timestamp schemes: the moment of signing (set by the sender)


@dataclass
class Plan:
    orders: list[dict]
    scans: dict[str, Scan]
    deliveries: list[Delivery]
    seed: int

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.deliveries:
            out[d.kind] = out.get(d.kind, 0) + 1
        out["out_of_order"] = sum(1 for d in self.deliveries if d.displaced)
        return out


def tracking_number(carrier: str, order: int, run: str) -> str:
    prefix = {"generic": "ACME", "easypost": "9400", "aftership": "JD01", "shippo": "7749"}[carrier]
    return f"{prefix}{run}{order:06d}"


def plan_build(
    *,
    events: int,
    orders: int,
    seed: int = 7,
    duplicates: float = 0.10,
    out_of_order: float = 0.05,
    malformed: float = 0.02,
    bad_signature: float = 0.01,
    now: datetime | None = None,
) -> Plan:
    """`events` requests in all, for `orders` orders, with the given shares of each fault."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    run = f"{seed % 100:02d}"
    n_dup, n_bad = round(events * duplicates), round(events * malformed)
    n_forged = round(events * bad_signature)
    unique = events - n_dup - n_bad - n_forged
    if unique < orders * 3:
        raise ValueError(f"{events} requests leave {unique} scans for {orders} orders: at least 3 each")

    budgets = [unique // orders + (1 if i < unique % orders else 0) for i in range(orders)]
    order_rows, scans, per_order = [], {}, []
    for i in range(orders):
        carrier = CARRIERS[i % len(CARRIERS)]
        # Every story at least once, even in a small run (the stray scan on a carrier that sends one
        # scan per webhook, where arrival order matters most); then drawn by weight.
        story = FIRST_STORIES.get(i) or rng.choices(STORIES, weights=[s[0] for s in STORIES])[0]
        _, name, head, tail = story
        padding = max(1, budgets[i] - len(head) - len(tail))
        statuses = head + ["in_transit"] * padding + tail
        # Scans over the last ~40 hours, an hour or so apart: the delivered scan stays within the
        # proof-of-delivery receipt window, and no two scans of a parcel share a second.
        start = now - timedelta(hours=40) + timedelta(minutes=rng.randint(0, 120))
        step = timedelta(seconds=(36 * 3600) // len(statuses))
        mine = []
        for k, status in enumerate(statuses):
            scan = Scan(i, status, (start + step * k).replace(microsecond=0), f"scan-{run}-{i}-{k}")
            scans[scan.scan_id] = scan
            mine.append(scan)
        per_order.append(mine)
        order_rows.append(
            {
                "index": i,
                "carrier": carrier,
                "story": name,
                "tracking_number": tracking_number(carrier, i, run),
                "shipment_carrier": SHIPMENT_CARRIER[carrier],
            }
        )

    valid: list[Delivery] = []
    for i, mine in enumerate(per_order):
        row = order_rows[i]
        for k in range(len(mine)):
            body, delivery_id = _body(row, mine[: k + 1], rng)
            valid.append(Delivery(0, row["carrier"], i, body, "valid", delivery_id, [s.scan_id for s in mine[: k + 1]]))
    # Scans arrive roughly in time order across all parcels, as a live feed does.
    valid.sort(key=lambda d: scans[d.scans[-1]].occurred_at)
    stream: list[Delivery] = list(valid)

    # A stray hub scan after delivery, and the delivered scan itself synced late from the driver's
    # handheld: the newer (stray) webhook arrives first. Physically the parcel is delivered.
    for row, mine in zip(order_rows, per_order, strict=True):
        if row["story"] == "stray_scan_after_delivery":
            late = next(d for d in valid if d.order == row["index"] and d.scans[-1] == mine[-2].scan_id)
            stray = next(d for d in valid if d.order == row["index"] and d.scans[-1] == mine[-1].scan_id)
            stream.remove(late)
            stream.insert(stream.index(stray) + 1, late)
            late.displaced = True
    for d in rng.sample([d for d in valid if not d.displaced], round(events * out_of_order)):
        at = stream.index(d)
        stream.pop(at)
        stream.insert(min(len(stream), at + rng.randint(5, max(6, len(stream) // 10))), d)
        d.displaced = True
    for _ in range(n_dup):
        original = rng.choice(valid)
        at = stream.index(original)
        copy = Delivery(0, original.carrier, original.order, original.body, "duplicate", original.delivery_id)
        copy.scans = list(original.scans)
        stream.insert(rng.randint(at + 1, len(stream)), copy)
    for n in range(n_bad):
        row = order_rows[rng.randrange(orders)]
        stream.insert(rng.randrange(len(stream) + 1), _malformed(row, n, now, rng))
    for n in range(n_forged):
        row = order_rows[rng.randrange(orders)]
        forged = _forged_scan(row, n, now)
        body, delivery_id = _body(row, [forged], rng)
        stream.insert(
            rng.randrange(len(stream) + 1),
            Delivery(0, row["carrier"], row["index"], body, "bad_signature", delivery_id),
        )
    for seq, d in enumerate(stream):
        d.seq = seq
    return Plan(order_rows, scans, stream, seed)


def _forged_scan(row: dict, n: int, now: datetime) -> Scan:
    # Newer than any real scan and "delivered": if a forgery got in, the final status would show it.
    return Scan(row["index"], "delivered", (now - timedelta(minutes=30 + n)).replace(microsecond=0), f"forged-{n}")


def _malformed(row: dict, n: int, now: datetime, rng: random.Random) -> Delivery:
    """A correctly signed body the adapter must refuse (400 and a dead letter), never apply."""
    forged = _forged_scan(row, 10_000 + n, now)
    body, delivery_id = _body(row, [forged], rng)
    doc = json.loads(body)
    variant = n % 4
    if variant == 0:  # cut off mid-stream
        body = body[: len(body) // 2]
    elif variant == 1:  # an impossible date in the scan
        body = json.dumps(_set_time(row["carrier"], doc, "2026-02-30T10:00:00Z")).encode()
    elif variant == 2:  # no tracking number
        body = json.dumps(_drop_tracking_number(row["carrier"], doc)).encode()
    else:  # not a timestamp at all
        body = json.dumps(_set_time(row["carrier"], doc, "yesterday")).encode()
    return Delivery(0, row["carrier"], row["index"], body, "malformed", f"{delivery_id}-bad")


def _set_time(carrier: str, doc: dict, value: str) -> dict:
    if carrier == "generic":
        doc["events"][-1]["occurred_at"] = value
    elif carrier == "easypost":
        doc["result"]["tracking_details"][-1]["datetime"] = value
    elif carrier == "aftership":
        doc["msg"]["checkpoints"][-1]["checkpoint_time"] = value
    else:
        doc["data"]["tracking_status"]["status_date"] = value
    return doc


def _drop_tracking_number(carrier: str, doc: dict) -> dict:
    if carrier == "generic":
        doc["events"][-1].pop("tracking_number")
    elif carrier == "easypost":
        doc["result"].pop("tracking_code")
    elif carrier == "aftership":
        doc["msg"].pop("tracking_number")
    else:
        doc["data"].pop("tracking_number")
    return doc


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(row: dict, history: list[Scan], rng: random.Random) -> tuple[bytes, str]:
    """The webhook body for a parcel whose newest scan is history[-1], and its delivery id."""
    carrier, number, last = row["carrier"], row["tracking_number"], history[-1]
    city, state, postcode = CITIES[row["index"] % len(CITIES)]
    delivery_id = f"{last.scan_id}-d"
    if carrier == "generic":
        event = {
            "event_id": last.scan_id,
            "tracking_number": number,
            "status": last.status,
            "occurred_at": last.occurred_at.isoformat(),
            "description": f"Scan: {last.status.replace('_', ' ')}",
            "location": {"city": city, "region": state, "postcode": postcode, "country": "US"},
        }
        if last.status == "delivered":
            event["proof"] = {"signed_by": "R. Chaos"}
        doc: dict = {"events": [event]}
    elif carrier == "easypost":
        details = [
            {
                "object": "TrackingDetail",
                "message": f"Scan {s.scan_id}",
                "description": f"Scan {s.scan_id}",
                "status": EASYPOST[s.status][0],
                "status_detail": EASYPOST[s.status][1],
                "datetime": _iso(s.occurred_at),
                "source": "USPS",
                "carrier_code": "",
                "tracking_location": {"object": "TrackingLocation", "city": city, "state": state, "country": "US",
                                      "zip": postcode},
            }
            for s in history
        ]  # fmt: skip
        status = EASYPOST[last.status][0]
        doc = {
            "description": "tracker.updated",
            "mode": "production",
            "id": f"evt_{hashlib.sha1(delivery_id.encode()).hexdigest()[:24]}",
            "object": "Event",
            "status": "pending",
            "created_at": _iso(last.occurred_at),
            "result": {
                "id": f"trk_{number}",
                "object": "Tracker",
                "mode": "production",
                "tracking_code": number,
                "status": status,
                "carrier": "USPS",
                "signed_by": "R. Chaos" if last.status == "delivered" else None,
                "est_delivery_date": None,
                "tracking_details": details,
            },
        }
        delivery_id = doc["id"]
    elif carrier == "aftership":
        points = [
            {
                "checkpoint_time": s.occurred_at.isoformat(),
                "message": f"Scan {s.scan_id}",
                "slug": "dhl",
                "tag": AFTERSHIP[s.status][0],
                "subtag": AFTERSHIP[s.status][1],
                "city": city,
                "state": state,
                "zip": postcode,
                "country_region": "USA",
            }
            for s in history
        ]
        doc = {
            "event": "tracking_update",
            "event_id": str(_uuid(rng)),
            "is_tracking_first_tag": len(history) == 1,
            "msg": {
                "id": hashlib.md5(number.encode()).hexdigest(),  # noqa: S324 - an id, not a secret
                "tracking_number": number,
                "slug": "dhl",
                "tag": AFTERSHIP[last.status][0],
                "subtag": AFTERSHIP[last.status][1],
                "checkpoints": points,
                "signed_by": "R. Chaos" if last.status == "delivered" else None,
            },
            "ts": int(last.occurred_at.timestamp()),
        }
        delivery_id = doc["event_id"]
    else:
        items = [
            {
                "object_id": s.scan_id,
                "status": SHIPPO[s.status][0],
                "substatus": {"code": SHIPPO[s.status][1], "text": "", "action_required": False}
                if SHIPPO[s.status][1]
                else None,
                "status_date": _iso(s.occurred_at),
                "status_details": f"Scan {s.scan_id}",
                "location": {"city": city, "state": state, "zip": postcode, "country": "US"},
            }
            for s in history
        ]
        doc = {
            "event": "track_updated",
            "test": False,
            "data": {
                "carrier": "fedex",
                "tracking_number": number,
                "tracking_history": items[:-1],
                "tracking_status": items[-1],
                "eta": None,
                "metadata": f"Order {row['index']}",
            },
        }
    return json.dumps(doc, separators=(",", ":")).encode(), delivery_id


def _uuid(rng: random.Random) -> str:
    raw = f"{rng.getrandbits(128):032x}"
    return f"{raw[:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"


def sign(delivery: Delivery, *, now: int | None = None) -> dict[str, str]:
    """The headers a carrier sends with this body; a bad_signature delivery uses the wrong secret."""
    secret = (WRONG_SECRETS if delivery.kind == "bad_signature" else SECRETS)[delivery.carrier]
    body = delivery.body
    stamp = now or int(time.time())
    headers = {"Content-Type": "application/json"}
    if delivery.carrier == "generic":
        from carriers.adapters.generic import sign as standard_sign

        headers.update(
            {
                "webhook-id": delivery.delivery_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": standard_sign(secret, delivery.delivery_id, stamp, body),
            }
        )
    elif delivery.carrier == "easypost":
        key = unicodedata.normalize("NFKD", secret).encode()
        headers["X-Hmac-Signature"] = "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    elif delivery.carrier == "aftership":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers["aftership-hmac-sha256"] = base64.b64encode(digest).decode()
    else:
        digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
        headers["Shippo-Auth-Signature"] = f"t={stamp},v1={digest}"
    return headers
