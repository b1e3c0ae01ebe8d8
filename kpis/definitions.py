"""The definition of every figure on the dashboard: shown next to it and on the definitions page."""

from __future__ import annotations

DEFINITIONS: dict[str, tuple[str, str]] = {
    "delivery-rate": (
        "Delivery rate",
        "Messages the provider confirmed as delivered ÷ messages accepted by a provider that reports delivery "
        "(Twilio, SendGrid, Mailgun, MessageBird, WhatsApp Cloud). Push, staff chat and the local outbox send no "
        "receipts: they count for acceptance only and show “no receipts”. A message is counted in the period it was "
        "created; a receipt that arrives late updates that period at the next refresh.",
    ),
    "acceptance-rate": (
        "Acceptance rate",
        "Messages the provider accepted ÷ (accepted + refused after every retry). Messages still pending, suppressed "
        "(opt-out, no consent) or expired are left out.",
    ),
    "drop-rate": (
        "Drop rate",
        "Messages accepted by the provider but then reported failed, bounced or undelivered ÷ messages with receipts. "
        "The provider table is sorted by the number dropped.",
    ),
    "time-to-confirm": (
        "Time to confirm",
        "For each delivery confirmation message: the time of the carrier's delivered scan → the moment the provider "
        "accepted our confirmation. Average, p50, p95, and the share under 30 s. Resends are left out.",
    ),
    "update-latency": (
        "Update latency",
        "For each message caused by a carrier update: the carrier webhook's arrival (RawWebhook.received_at, kept on "
        "the shipment event) → the message handed to and accepted by the provider. p50, p95, p99 and the share under "
        "2 s. Messages held on purpose (quiet hours, proof-of-delivery wait, staff first, retry back-off, surveys) "
        "and resends are left out.",
    ),
    "percentiles": (
        "Percentiles",
        "Computed from latency histograms (bucket edges 0.1 s … 24 h), interpolated inside a bucket: exact at the "
        "2 s and 30 s edges, otherwise within the width of the bucket that holds the percentile.",
    ),
    "csat": (
        "CSAT",
        "Average delivery feedback score (1–5) of the responses received in the period; the distribution shows how "
        "many gave each score. Lowest-scoring carriers and routes are sorted by that average (look at the count).",
    ),
    "response-rate": (
        "Response rate",
        "Feedback responses received in the period ÷ orders sent a feedback request in the period.",
    ),
    "on-time": (
        "On time in window",
        "Shipments delivered inside the order's promised window (promised from … to, in the brand's time zone) ÷ "
        "delivered shipments whose order had a promised window.",
    ),
    "eta-accuracy": (
        "ETA accuracy",
        "Shipments delivered on the date of the carrier's first ETA ÷ delivered shipments that had an ETA; the mean "
        "error is the average number of days between that first ETA and the actual delivery date.",
    ),
    "failed-first-attempt": (
        "Failed first attempt",
        "Delivered shipments that had a failed delivery attempt before their delivery ÷ delivered shipments.",
    ),
    "visits-per-order": (
        "Tracking visits per order",
        "Tracking-page views ÷ distinct orders viewed, in the period. By exception type: the order's status at the "
        "time of the visit; visits during an exception (delay, failed attempt, hold …) are the WISMO proxy.",
    ),
    "sync-accuracy": (
        "Data sync accuracy",
        "From the carrier reconciliation runs: (shipments checked − shipments whose status differs from the "
        "carrier's latest) ÷ shipments checked. Open mismatches are those no one has resolved yet.",
    ),
    "periods": (
        "Periods",
        "Days in the server time zone (UTC unless set), weeks from Monday, calendar months. Delivery performance uses "
        "the brand's local delivery date. Figures come from rollup tables refreshed every few minutes.",
    ),
}
