"""OpenAPI description of the webhook endpoint and of `generic`, our documented 3PL format.

These serializers only document; the adapter (carriers.adapters.generic) parses the raw bytes.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from orders.statuses import EVENT_STATUSES


class GenericLocationSerializer(serializers.Serializer):
    city = serializers.CharField(required=False)
    region = serializers.CharField(required=False)
    postcode = serializers.CharField(required=False)
    country = serializers.CharField(required=False, help_text="ISO 3166-1 alpha-2")


class GenericProofSerializer(serializers.Serializer):
    signed_by = serializers.CharField(required=False)
    signature_url = serializers.URLField(required=False)
    photo_url = serializers.URLField(required=False)
    signature_base64 = serializers.CharField(required=False, help_text="Extension: inline PNG, stored as a file.")
    photo_base64 = serializers.CharField(required=False, help_text="Extension: inline JPEG, stored as a file.")


class GenericEventSerializer(serializers.Serializer):
    event_id = serializers.CharField(required=False, help_text="Your id for the event; the dedupe key when given.")
    tracking_number = serializers.CharField()
    status = serializers.ChoiceField(choices=EVENT_STATUSES, help_text="Canonical status; others count as unknown.")
    occurred_at = serializers.DateTimeField(help_text="ISO 8601 with an offset.")
    description = serializers.CharField(required=False)
    location = GenericLocationSerializer(required=False)
    latitude = serializers.FloatField(required=False)
    longitude = serializers.FloatField(required=False)
    proof = GenericProofSerializer(required=False)
    carrier = serializers.CharField(required=False, help_text="Extension: the carrier that carries the parcel.")
    code = serializers.CharField(required=False, help_text="Extension: your own status code.")
    reason = serializers.CharField(required=False, help_text="Extension: why (e.g. for an exception).")
    estimated_delivery = serializers.DateField(required=False, help_text="Extension: a date, no time.")


class GenericPayloadSerializer(serializers.Serializer):
    events = GenericEventSerializer(many=True)


WEBHOOK_HEADERS = [
    OpenApiParameter("webhook-id", OpenApiTypes.STR, OpenApiParameter.HEADER, description="generic: message id"),
    OpenApiParameter(
        "webhook-timestamp", OpenApiTypes.INT, OpenApiParameter.HEADER, description="generic: unix seconds (±5 min)"
    ),
    OpenApiParameter(
        "webhook-signature",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        description='generic: "v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>", space-separated',
    ),
]

_ACK = inline_serializer("CarrierWebhookAck", {"status": serializers.CharField(), "id": serializers.IntegerField()})
_ERROR = inline_serializer("CarrierWebhookError", {"error": serializers.CharField(), "detail": serializers.CharField()})

WEBHOOK_RESPONSES = {
    200: OpenApiResponse(_ACK, description="Stored and applied (or a duplicate, recorded once)."),
    202: OpenApiResponse(_ACK, description="Stored; applied later (queued, or waiting for the shipment)."),
    400: OpenApiResponse(_ERROR, description="Not a payload we understand; kept as a dead letter."),
    401: OpenApiResponse(_ERROR, description="Signature/credential missing, wrong or stale."),
    404: OpenApiResponse(_ERROR, description="Unknown carrier."),
    413: OpenApiResponse(_ERROR, description="Body over 1 MiB."),
}

GENERIC_EXAMPLE = OpenApiExample(
    "generic delivered",
    value={
        "events": [
            {
                "event_id": "evt-123",
                "tracking_number": "ACME123",
                "status": "delivered",
                "occurred_at": "2026-01-05T14:03:00+01:00",
                "description": "Left with neighbour",
                "location": {"city": "Lyon", "region": "ARA", "postcode": "69002", "country": "FR"},
                "latitude": 45.7578,
                "longitude": 4.8320,
                "proof": {"signed_by": "J. Martin", "photo_url": "https://3pl.example/pod/123.jpg"},
            }
        ]
    },
    request_only=True,
)
