"""A customer whose personal data sits in every place the product keeps any, and a way to find it again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from carriers.models import RawWebhook
from notifications.models import (
    CustomerPreferences,
    DeliveryAttempt,
    DeviceToken,
    Notification,
    ProviderReceipt,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from orders import services
from orders.models import Customer, DeliveryFeedback, DeliveryPreference, DeliveryRequest, DomainEvent, Order, Shipment
from orders.services import LineIn
from orders.sources.models import RawIntake
from orders.tracking import TrackingEvent
from privacy.registry import project_models
from privacy.services import _row
from tests.factories import supervisor_user


@dataclass
class Person:
    name: str
    email: str
    phone: str
    line1: str
    city: str
    postcode: str
    signer: str
    ip: str
    tracking_number: str
    device_token: str
    instructions: str
    comment: str
    latitude: str
    longitude: str

    @property
    def values(self) -> list[str]:
        """Every personal value, as it would appear in any stored text (lower-cased when compared)."""
        first, last = self.name.split(" ", 1)
        return [
            self.name,
            first,
            last,
            self.email,
            self.phone,
            self.line1,
            self.city,
            self.postcode,
            self.signer,
            self.ip,
            self.device_token,
            self.instructions,
            self.comment,
            self.latitude,
            self.longitude,
        ]


ZELDA = Person(
    name="Zelda Quixmarlowe",
    email="zelda.qm@example.org",
    phone="+14155550987",
    line1="77 Wisteria Lane",
    city="Quahogton",
    postcode="QX9 8ZZ",
    signer="Bartholomew Doorfield",
    ip="203.0.113.77",
    tracking_number="1ZPRIV00000000001",
    device_token="fcm-token-zelda-0123456789",
    instructions="Behind the blue gnome statue",
    comment="Courier was kind, thanks",
    latitude="51.501234",
    longitude="-0.141234",
)
OTTO = Person(
    name="Otto Brennerwick",
    email="otto.b@example.net",
    phone="+14155550111",
    line1="5 Juniper Court",
    city="Brindlemoor",
    postcode="BR4 1AA",
    signer="Otto Brennerwick",
    ip="198.51.100.9",
    tracking_number="1ZPRIV00000000002",
    device_token="fcm-token-otto-9876543210",
    instructions="Ring twice please",
    comment="Late again",
    latitude="52.612345",
    longitude="-1.252345",
)


def _order(person: Person, external_id: str) -> Order:
    order, _ = services.order_create(
        source="api",
        external_id=external_id,
        customer={"name": person.name, "email": person.email, "phone": person.phone},
        shipping_address={
            "name": person.name,
            "line1": person.line1,
            "city": person.city,
            "postcode": person.postcode,
            "country": "GB",
            "latitude": Decimal(person.latitude),
            "longitude": Decimal(person.longitude),
        },
        lines=[LineIn(sku="MUG-1", name="Mug", quantity=1, unit_price=Decimal("9.99"))],
        currency="GBP",
        inventory_allocated=True,
    )
    return order


def _scan(shipment: Shipment, status: str, minutes: int, **extra) -> None:
    services.shipment_apply_event(
        shipment=shipment,
        event=TrackingEvent(
            carrier="ups",
            tracking_number=shipment.tracking_number,
            status=status,
            occurred_at=timezone.now() - timedelta(hours=2) + timedelta(minutes=minutes),
            **extra,
        ),
    )


def everywhere(person: Person, capture, *, delivered: bool = True) -> Customer:
    """The person's order dispatched (and delivered), messages sent, and their data in every other record."""
    order = _order(person, f"PRIV-{person.tracking_number[-4:]}")
    customer = order.customer
    Customer.objects.filter(pk=customer.pk).update(consent_sms=True, consent_push=True)
    with capture(execute=True):
        services.order_transition(order=order, transition="confirm", source="api")
        shipment = services.shipment_create(
            order=order, carrier="ups", tracking_number=person.tracking_number, source="api"
        )
        services.order_transition(order=order, transition="dispatch", source="api")
        _scan(shipment, "in_transit", 1, description="Arrived at facility", city="Depot Town")
        if delivered:
            _scan(
                shipment,
                "delivered",
                30,
                description=f"Delivered at {person.line1}, left with {person.signer}",
                city=person.city,
                postcode=person.postcode,
                signed_by=person.signer,
                latitude=Decimal(person.latitude),
                longitude=Decimal(person.longitude),
                photo_ref="https://pod.example/p/1.jpg",
            )
    order.refresh_from_db()
    supervisor = supervisor_user()
    if delivered:
        services.order_override_status(
            order=order,
            status="completed",
            reason=f"{person.name} phoned from {person.phone}",
            notify=False,
            actor=supervisor,
        )
    sent = Notification.objects.filter(order=order).exclude(body_text="").first()
    assert sent is not None, "the fixture needs at least one rendered message"
    Notification.objects.filter(pk=sent.pk).update(error_message=f"The 'To' number {person.phone} is not valid")
    DeliveryAttempt.objects.create(
        notification=sent,
        number=9,
        provider="twilio",
        started_at=timezone.now(),
        latency_ms=5,
        outcome="permanent",
        error_message=f"The 'To' number {person.phone} is not valid",
    )
    ProviderReceipt.objects.create(
        provider="sendgrid",
        event_id=f"ev-{person.tracking_number[-4:]}",
        notification=sent,
        kind="delivered",
        payload={
            "email": person.email,
            "event": "delivered",
            "sg_event_id": f"ev-{person.tracking_number[-4:]}",
            "ip": person.ip,
        },
    )
    DeviceToken.objects.create(customer=customer, provider="fcm", token=person.device_token, platform="ios")
    CustomerPreferences.objects.update_or_create(customer=customer, defaults={"attributes": {"nickname": person.name}})
    DeliveryPreference.objects.create(order=order, safe_place="porch", instructions=person.instructions)
    DeliveryRequest.objects.create(
        order=order,
        kind="instructions",
        before={},
        after={"instructions": person.instructions},
        order_status=order.status,
        client_ip=person.ip,
    )
    DeliveryFeedback.objects.create(order=order, shipment=shipment, received=True, score=4, comment=person.comment)
    DomainEvent.objects.create(
        name="order.details_changed", order=order, payload={"changes": {"ship_line1": ["old", person.line1]}}
    )
    intake_body = {
        "id": 1,
        "email": person.email,
        "shipping_address": {"address1": person.line1, "zip": person.postcode},
    }
    RawIntake.objects.create(
        source="shopify",
        topic="orders/create",
        delivery_id=f"d-{person.tracking_number[-4:]}",
        body=json.dumps(intake_body).encode(),
        headers={"X-Shopify-Hmac-Sha256": "c2lnbmF0dXJl", "X-Forwarded-For": person.ip},
        source_address=person.ip,
        received_at=timezone.now(),
        status="applied",
        order=order,
        customer_email=person.email,
        edited_payload={"customer": {"phone": person.phone}},
    )
    RawWebhook.objects.create(
        carrier="ups",
        body=raw_ups(person),
        received_at=timezone.now(),
        status="processed",
        source_address=person.ip,
        headers={"Content-Type": "application/json", "X-Forwarded-For": person.ip, "X-Ups-Signature": "sig"},
    )
    # Disabled: later orders of the test must not queue deliveries to it.
    endpoint = WebhookEndpoint.objects.create(url="https://wms.example/hooks", secret_encrypted="x", enabled=False)
    message = WebhookMessage.objects.create(
        endpoint=endpoint,
        event_type="order.delivered",
        order=order,
        status="delivered",
        body=json.dumps({"type": "order.delivered", "data": {"number": order.number, "email": person.email}}),
    )
    WebhookAttempt.objects.create(
        message=message,
        number=1,
        started_at=timezone.now(),
        outcome="success",
        status_code=200,
        response_body=f"ok {person.email}",
    )
    LogEntry.objects.create(
        user=supervisor,
        content_type=ContentType.objects.get_for_model(Customer),
        object_id=str(customer.pk),
        object_repr=str(customer),
        action_flag=CHANGE,
        change_message=f'[{{"changed": {{"fields": ["Phone"]}}}}] {person.phone}',
    )
    customer.refresh_from_db()
    return customer


def raw_ups(person: Person) -> bytes:
    return json.dumps(
        {
            "trackingNumber": person.tracking_number,
            "activityStatus": {"type": "D", "code": "FS", "description": "DELIVERED"},
            "signedBy": person.signer,
            "activityLocation": {"city": person.city, "postalCode": person.postcode},
        }
    ).encode()


def found_anywhere(values: list[str]) -> dict[str, list[str]]:
    """Every stored row of every project model, every field: which of the values still appear where."""
    wanted = [v.lower() for v in values]
    found: dict[str, list[str]] = {}
    for model in project_models():
        for obj in model._default_manager.all():
            text = json.dumps(_row(obj), default=str).lower()
            hits = [v for v in wanted if v in text]
            if hits:
                found.setdefault(f"{model._meta.label}#{obj.pk}", []).extend(hits)
    return found
