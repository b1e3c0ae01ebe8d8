"""Where personal data lives: one entry per model, every text, JSON, binary and IP field classified.

A field is either personal (with how erasure anonymises it) or kept (not personal, or needed for
audit, dedupe and metrics). tests/privacy/test_registry.py walks every model of the project and
fails on any such field that is not listed here, so a new model cannot be forgotten silently.
Fields with choices hold one of a fixed set of values and cannot carry personal data: they need
no entry.

`customer` lists the ORM paths from a row to its customer's primary key; the rows it selects are what
an export contains and what an erasure rewrites. Models without one are reached another way
(see privacy/services.py: raw carrier webhooks by tracking number, admin log entries by object).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from django.apps import apps
from django.conf import settings
from django.db import models


class How(StrEnum):
    BLANK = "blank"  # "" (or ERASED where the field may not be blank)
    NULL = "null"
    EMPTY = "empty"  # JSON {} (or [] for a list)
    NAME = "name"  # the customer's name: "Erased customer"
    EMAIL = "email"  # erased-<pk>@erased.invalid, unique per customer like the address it replaces
    REDACT = "redact"  # free text: the customer's own values and anything shaped like an e-mail or phone removed
    SCRUB = "scrub"  # JSON or payload bytes: structure kept, values outside the non-personal keys removed


ERASED = "[erased]"
ERASED_NAME = "Erased customer"
ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: never deliverable


@dataclass(frozen=True)
class Policy:
    model: str
    personal: dict[str, How] = field(default_factory=dict)
    keep: tuple[str, ...] = ()
    customer: tuple[str, ...] = ()
    # Personal decimals (GPS) are not walked by the registry test but erased all the same.
    extra_personal: dict[str, How] = field(default_factory=dict)
    # Our own JSON's keys that SCRUB keeps besides the vendors' operational ones.
    scrub_keeps: frozenset[str] = frozenset()

    @property
    def model_class(self) -> type[models.Model]:
        return apps.get_model(self.model)

    @property
    def erasable(self) -> dict[str, How]:
        return {**self.personal, **self.extra_personal}


_GPS = {"latitude": How.NULL, "longitude": How.NULL}

POLICIES: list[Policy] = [
    # --- orders -----------------------------------------------------------------------------
    Policy(
        "orders.Customer",
        personal={"name": How.NAME, "email": How.EMAIL, "phone": How.BLANK},
        keep=("locale", "time_zone"),
        customer=("pk",),
    ),
    Policy(
        "orders.Order",
        personal={
            "ship_name": How.BLANK,
            "ship_line1": How.BLANK,
            "ship_line2": How.BLANK,
            "ship_city": How.BLANK,
            "ship_region": How.BLANK,
            "ship_postcode": How.BLANK,
            "regulatory_hold_reason": How.REDACT,
        },
        # Order numbers, source ids and the intake fingerprint (a hash) stay: dedupe and audit.
        keep=(
            "number",
            "source",
            "source_account",
            "external_id",
            "source_number",
            "intake_fingerprint",
            "ship_country",
            "currency",
            "tracking_token",
        ),
        customer=("customer",),
        extra_personal={"ship_latitude": How.NULL, "ship_longitude": How.NULL},
    ),
    Policy("orders.OrderLine", keep=("sku", "name"), customer=("order__customer",)),
    Policy(
        "orders.Shipment",
        personal={"pod_signed_by": How.BLANK, "pod_signature_ref": How.BLANK, "pod_photo_ref": How.BLANK},
        keep=("carrier", "service_level", "tracking_number", "tracking_id", "status_reason"),
        customer=("order__customer",),
        extra_personal={"pod_latitude": How.NULL, "pod_longitude": How.NULL},
    ),
    Policy(
        "orders.ShipmentEvent",
        # A scan's town is the carrier's depot until the last mile, then the customer's street.
        personal={
            "description": How.REDACT,
            "city": How.BLANK,
            "region": How.BLANK,
            "postcode": How.BLANK,
            "signed_by": How.BLANK,
            "signature_ref": How.BLANK,
            "photo_ref": How.BLANK,
        },
        keep=("carrier", "status", "carrier_code", "reason", "country", "dedupe_key"),
        customer=("shipment__order__customer",),
        extra_personal=dict(_GPS),
    ),
    Policy(
        "orders.StatusChange",
        personal={"reason": How.REDACT},
        keep=("from_status", "to_status", "transition", "source"),
        customer=("order__customer",),
    ),
    Policy(
        "orders.DomainEvent",
        # Only a details change quotes values (old and new address); the rest is statuses and ids.
        personal={"payload": How.SCRUB},
        keep=("name", "correlation_id"),
        customer=("order__customer",),
        scrub_keeps=frozenset(
            {"from", "to", "transition", "notify", "moved", "shipment_event_id", "source", "fields", "actor"}
        ),
    ),
    Policy(
        "orders.RawIntake",
        personal={
            "headers": How.SCRUB,
            "body": How.SCRUB,
            "edited_payload": How.SCRUB,
            "source_address": How.NULL,
            "error": How.REDACT,
            "findings": How.SCRUB,
            "customer_email": How.BLANK,
        },
        # What dedupe and staleness need: the delivery id, the source's order id, the topic.
        keep=("topic", "delivery_id", "external_id", "currency", "customer_tier"),
        customer=("order__customer",),
    ),
    Policy("orders.SourceOrderState", keep=("source_account", "external_id"), customer=("order__customer",)),
    Policy("orders.TrackingVisit", keep=("order_status", "language"), customer=("order__customer",)),
    Policy(
        "orders.DeliveryPreference",
        personal={"instructions": How.BLANK},
        keep=("safe_place", "reschedule_window"),
        customer=("order__customer",),
    ),
    Policy(
        "orders.DeliveryRequest",
        personal={"before": How.SCRUB, "after": How.SCRUB, "client_ip": How.NULL},
        keep=("order_status",),
        customer=("order__customer",),
    ),
    Policy(
        "orders.DeliveryFeedback",
        # The score, carrier, route and driver stay for the CSAT figures; the words go.
        personal={"comment": How.BLANK, "support_note": How.REDACT},
        keep=("carrier", "service_level", "route", "driver", "language"),
        customer=("order__customer",),
    ),
    # Configuration and staff-side records: no customer's data.
    Policy(
        "orders.Brand",
        keep=(
            "name",
            "slug",
            "order_prefix",
            "primary_colour",
            "accent_colour",
            "support_email",
            "support_phone",
            "support_url",
            "email_from_name",
            "email_from_address",
            "sms_sender",
            "whatsapp_sender",
            "default_locale",
            "default_time_zone",
            "banner_text",
            "banner_url",
        ),
    ),
    Policy("orders.SourceAccount", keep=("secret_encrypted", "previous_secret_encrypted", "identifier")),
    Policy("orders.ValidationRule", keep=("name", "params")),
    Policy("orders.TrackingSettings", keep=("safe_places", "reschedule_windows")),
    # --- carriers ---------------------------------------------------------------------------
    Policy(
        "carriers.RawWebhook",
        personal={"headers": How.SCRUB, "body": How.SCRUB, "source_address": How.NULL, "error": How.REDACT},
        keep=("carrier",),
        # No link to an order: found by the customer's tracking numbers in the body.
    ),
    Policy("carriers.EventKey", keep=("carrier", "key")),
    Policy(
        "carriers.PendingEvent",
        keep=("carrier", "dedupe_key", "tracking_number", "underlying_carrier", "status_reported"),
    ),
    Policy("carriers.UnmappedCode", keep=("carrier", "code", "example")),
    Policy("carriers.CarrierAccount", keep=("secret_encrypted", "previous_secret_encrypted", "carrier", "slug")),
    Policy("carriers.DeliveryPolicy", keep=("gps_required_carriers",)),
    Policy(
        "carriers.DeliveryVerification",
        personal={"decision_note": How.REDACT},
        keep=("failed_checks", "notes"),
        customer=("shipment__order__customer",),
    ),
    Policy(
        "carriers.TrackerPoll",
        keep=("client", "external_id", "last_error", "stopped_reason"),
        customer=("shipment__order__customer",),
    ),
    Policy("carriers.DelayFlag", keep=("kind", "basis"), customer=("shipment__order__customer",)),
    # Reconciliation (issue 8): the carrier's latest event can name the signer and the doorstep.
    Policy("carriers.ReconciliationRun", keep=("per_carrier", "note")),
    Policy(
        "carriers.SyncMismatch",
        personal={"carrier_event": How.SCRUB, "note": How.REDACT},
        keep=("client", "ours", "carrier_status"),
        customer=("shipment__order__customer",),
    ),
    # KPI rollups (issue 8): counts and histograms per channel, provider, carrier and route only.
    Policy("kpis.NotificationRollup", keep=("channel", "provider", "carrier", "latency_hist", "confirm_hist")),
    Policy("kpis.ShipmentRollup", keep=("carrier", "eta_error")),
    Policy("kpis.FeedbackRollup", keep=("carrier", "route", "scores")),
    Policy("kpis.VisitRollup", keep=("order_status",)),
    # --- notifications ----------------------------------------------------------------------
    Policy(
        "notifications.CustomerPreferences",
        personal={"attributes": How.EMPTY},
        keep=("token",),
        customer=("customer",),
    ),
    Policy(
        "notifications.Notification",
        personal={
            "recipient": How.BLANK,
            "subject": How.BLANK,
            "body_text": How.BLANK,
            "body_html": How.BLANK,
            "data": How.EMPTY,
            "proof": How.EMPTY,
            "error_message": How.REDACT,
        },
        # Channel, provider, status, timestamps and ids stay: the delivery figures are made of them.
        keep=(
            "idempotency_key",
            "provider",
            "locale",
            "variant",
            "queue",
            "status_reason",
            "sms_encoding",
            "provider_message_id",
            "error_code",
            "correlation_id",
        ),
        # Staff alerts about the customer's orders carry no customer link but may quote them.
        customer=("customer", "order__customer"),
    ),
    Policy(
        "notifications.DeliveryAttempt",
        personal={"error_message": How.REDACT},
        keep=("provider", "provider_message_id", "error_code"),
        customer=("notification__customer", "notification__order__customer"),
    ),
    Policy(
        "notifications.ProviderReceipt",
        personal={"payload": How.SCRUB},
        keep=("provider", "event_id", "message_id", "kind"),
        customer=("notification__customer", "notification__order__customer"),
    ),
    Policy(
        "notifications.DeviceToken",
        personal={"token": How.REDACT, "last_error": How.REDACT},
        keep=("platform",),
        customer=("customer",),
    ),
    Policy(
        "notifications.WebhookMessage",
        personal={"body": How.SCRUB},
        keep=("msg_id", "status_reason"),
        customer=("order__customer",),
    ),
    Policy(
        "notifications.WebhookAttempt",
        personal={"response_body": How.BLANK, "error": How.REDACT},
        customer=("message__order__customer",),
    ),
    Policy("notifications.NotificationRule", keep=("channels",)),
    Policy("notifications.BrandNotificationSettings", keep=("email_footer",)),
    Policy("notifications.TemplateOverride", keep=("locale", "content")),
    Policy("notifications.StaffDestination", keep=("name", "secret_encrypted", "channel", "events", "disabled_reason")),
    Policy("notifications.ProviderRoute", keep=("providers",)),
    Policy("notifications.ProviderHealth", keep=("provider", "last_error")),
    Policy("notifications.ReceiptToken", keep=("provider", "token")),
    Policy(
        "notifications.WebhookEndpoint",
        keep=("url", "description", "event_types", "secret_encrypted", "previous_secret_encrypted", "disabled_reason"),
    ),
    # --- privacy, and Django's admin log (a customer's name and e-mail are its __str__) --------
    Policy("privacy.PrivacyRequest", keep=("counts", "reason")),
    Policy(
        "admin.LogEntry",
        personal={"object_repr": How.REDACT, "change_message": How.REDACT},
        keep=("object_id",),
    ),
]

BY_MODEL: dict[str, Policy] = {p.model: p for p in POLICIES}


def walked_field(f: models.Field) -> bool:
    """A field that could hold personal data and so must be classified."""
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField, models.GenericIPAddressField)
    return isinstance(f, kinds) and not f.choices


def project_models() -> list[type[models.Model]]:
    """Our own apps' models (not Django's or a library's), plus the admin log."""
    base = str(settings.BASE_DIR)
    venv_markers = ("site-packages", "dist-packages")
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue  # no table of its own: the concrete model is walked
        path = apps.get_app_config(model._meta.app_label).path
        ours = path.startswith(base) and not any(m in path for m in venv_markers)
        if ours or model._meta.label == "admin.LogEntry":
            found.append(model)
    return found


def unclassified() -> dict[str, list[str]]:
    """Model label -> the walked fields no policy classifies (empty when everything is)."""
    missing: dict[str, list[str]] = {}
    for model in project_models():
        policy = BY_MODEL.get(model._meta.label)
        known = set(policy.personal) | set(policy.keep) if policy else set()
        left = [f.name for f in model._meta.concrete_fields if walked_field(f) and f.name not in known]
        if left:
            missing[model._meta.label] = left
    return missing


def customer_policies() -> list[Policy]:
    return [p for p in POLICIES if p.customer]
