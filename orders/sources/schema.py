"""OpenAPI description of the source webhooks and of `generic`, our documented order format.

These serializers only document; the adapters parse the raw bytes. The `order` of a generic
message is exactly the POST /api/v1/orders/ body (same serializer, same validation).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from orders.api.serializers import OrderCreateSerializer


class VendorPayloadSerializer(serializers.Serializer):
    """The vendor's own order (or fulfillment) JSON, exactly as the shop sends it."""


class GenericOrderMessageSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["order.created", "order.updated", "order.status_changed"])
    account = serializers.CharField(
        required=False, help_text="Your account name (its own secrets and validation rules); orders are filed under it."
    )
    occurred_at = serializers.DateTimeField(
        required=False,
        help_text="When the change happened in your system. An older message than the last one applied "
        "for the same order is kept but never applied (stale).",
    )
    order = OrderCreateSerializer(
        required=False,
        help_text="order.created / order.updated: the POST /api/v1/orders/ body. `source` defaults to "
        "generic (any slug but api, shopify, woocommerce).",
    )
    external_id = serializers.CharField(required=False, help_text="order.status_changed: the order's external_id.")
    source = serializers.SlugField(required=False, help_text="order.status_changed: the order's source (generic).")
    transition = serializers.CharField(
        required=False, help_text="order.status_changed: confirm, start_processing, dispatch, cancel, complete."
    )
    transitions = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="order.created/updated: moves to make after."
    )
    reason = serializers.CharField(required=False, help_text="For the audit log.")


def _header(name: str, description: str, kind=OpenApiTypes.STR) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.HEADER, description=description)


SHOPIFY_HEADERS = [
    _header("X-Shopify-Topic", "orders/create, orders/updated, orders/cancelled, fulfillments/create|update"),
    _header("X-Shopify-Hmac-Sha256", "base64 HMAC-SHA256 of the raw body with the app's client secret"),
    _header("X-Shopify-Shop-Domain", "the shop (its SourceAccount and secrets)"),
    _header("X-Shopify-Webhook-Id", "dedupe key"),
    _header("X-Shopify-Triggered-At", "used for staleness when the body has no updated_at"),
]
WOOCOMMERCE_HEADERS = [
    _header("X-WC-Webhook-Topic", "order.created, order.updated"),
    _header("X-WC-Webhook-Signature", "base64 HMAC-SHA256 of the exact body bytes"),
    _header("X-WC-Webhook-Source", "the shop URL (its SourceAccount and secrets)"),
    _header("X-WC-Webhook-Delivery-ID", "dedupe key"),
]
GENERIC_HEADERS = [
    _header("webhook-id", "message id (the dedupe key)"),
    _header("webhook-timestamp", "unix seconds (±5 min)", OpenApiTypes.INT),
    _header("webhook-signature", '"v1,<base64 HMAC-SHA256(key, id.timestamp.body)>", space-separated'),
]

SHOPIFY_DESCRIPTION = (
    "Shopify order and fulfillment webhooks. Signed per shop (SourceAccount secrets, rotation with two "
    "valid; SOURCE_SHOPIFY_WEBHOOK_SECRET as bootstrap). Stored raw, acknowledged 202 and applied from a "
    "queue; a repeat of X-Shopify-Webhook-Id answers 200 duplicate."
)
WOOCOMMERCE_DESCRIPTION = (
    "WooCommerce order webhooks, signature over the exact bytes (PHP-escaped slashes kept). The unsigned "
    "ping sent when a webhook is created (form body webhook_id=<id>) answers 200."
)
GENERIC_DESCRIPTION = (
    "Any other system (CRM, ERP, in-house tool) pushes order creates, updates and status changes in this "
    "format, signed with Standard Webhooks headers and a whsec_ secret (SOURCE_GENERIC_WEBHOOK_SECRET or the "
    "account's). The order goes through the same serializer and validation as POST /api/v1/orders/."
)

_ACK = inline_serializer("SourceWebhookAck", {"status": serializers.CharField(), "id": serializers.IntegerField()})
_ERROR = inline_serializer("SourceWebhookError", {"error": serializers.CharField(), "detail": serializers.CharField()})
RESPONSES = {
    200: OpenApiResponse(_ACK, description="A duplicate delivery (recorded once), or the WooCommerce ping."),
    202: OpenApiResponse(_ACK, description="Stored; status is queued, or the outcome when applied at once."),
    401: OpenApiResponse(_ERROR, description="Signature missing, wrong or stale; or the account is inactive."),
    413: OpenApiResponse(_ERROR, description="Body over SOURCE_WEBHOOK_MAX_BYTES."),
}

GENERIC_EXAMPLES = [
    OpenApiExample(
        "order.created",
        request_only=True,
        value={
            "type": "order.created",
            "account": "crm-eu",
            "occurred_at": "2026-01-05T10:00:00Z",
            "order": {
                "external_id": "SO-1001",
                "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+14155550123"},
                "shipping_address": {"line1": "1 Main St", "city": "New York", "postcode": "10001", "country": "US"},
                "lines": [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
                "currency": "USD",
            },
        },
    ),
    OpenApiExample(
        "order.status_changed",
        request_only=True,
        value={
            "type": "order.status_changed",
            "account": "crm-eu",
            "occurred_at": "2026-01-05T11:00:00Z",
            "external_id": "SO-1001",
            "transition": "cancel",
            "reason": "customer called",
        },
    ),
]


class HealthSerializer(serializers.Serializer):
    source = serializers.CharField()
    account = serializers.CharField()
    last_received_at = serializers.DateTimeField(allow_null=True)
    received = serializers.IntegerField(help_text="Payloads in the last 24 h")
    error_rate = serializers.FloatField(help_text="Dead letters / received, last 24 h")
    backlog = serializers.IntegerField(help_text="Stored, not applied yet")
    oldest_backlog_seconds = serializers.IntegerField()
    open_dead_letters = serializers.IntegerField()
