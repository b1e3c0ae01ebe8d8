"""Dead letters are visible to staff and replayable: admin actions and `manage.py replay_webhooks`."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from carriers import services
from carriers.adapters import ups as ups_adapter
from carriers.models import CarrierAccount, DeliveryVerification, RawWebhook, UnmappedCode
from orders.statuses import ShipmentStatus
from tests.carriers.conftest import fixture_bytes, make_shipment
from tests.factories import BrandFactory

pytestmark = pytest.mark.django_db


def _unmapped_ups(days_ago: int = 0) -> RawWebhook:
    doc = json.loads(fixture_bytes("ups_trackalert_tracking_event.json"))
    doc["activityStatus"] = {"type": "Z", "code": "ZZ", "description": "Held at locker"}
    raw = services.raw_webhook_store(
        carrier="ups",
        body=json.dumps(doc).encode(),
        headers={},
        received_at=timezone.now() - timedelta(days=days_ago),
    )
    services.raw_webhook_process(raw_id=raw.pk)
    return raw


def _garbage(carrier: str = "ups") -> RawWebhook:
    raw = services.raw_webhook_store(carrier=carrier, body=b'{"trackingNumber": "1Z"}', headers={})
    services.raw_webhook_process(raw_id=raw.pk)
    raw.refresh_from_db()
    return raw


def test_the_command_replays_dead_letters_after_a_mapping_fix(monkeypatch):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    raw = _unmapped_ups()
    garbage = _garbage()
    monkeypatch.setitem(ups_adapter.TYPE_MAP, "Z", "available_for_pickup")
    out, err = StringIO(), StringIO()
    call_command("replay_webhooks", "--carrier", "ups", "--status", "failed,processed", stdout=out, stderr=err)
    assert "Replayed 2 webhook(s)" in out.getvalue()
    assert "2/2" in err.getvalue()  # the progress bar
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.AVAILABLE_FOR_PICKUP
    assert shipment.events.get(status="available_for_pickup").received_at == raw.received_at
    garbage.refresh_from_db()
    assert (garbage.status, garbage.attempts) == (RawWebhook.Status.FAILED, 2)


def test_the_command_only_replays_what_it_is_asked_for():
    old = _garbage()
    RawWebhook.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    recent = _garbage()
    other = _garbage(carrier="fedex")
    since = (timezone.now() - timedelta(days=1)).date().isoformat()
    call_command("replay_webhooks", "--carrier", "ups", "--since", since, stdout=StringIO(), stderr=StringIO())
    attempts = dict(RawWebhook.objects.values_list("pk", "attempts"))
    assert attempts == {old.pk: 1, recent.pk: 2, other.pk: 1}


def test_the_command_refuses_an_unknown_status():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("replay_webhooks", "--status", "lost", stdout=StringIO())


def test_staff_see_dead_letters_with_their_error(admin_client):
    raw = _garbage()
    response = admin_client.get(reverse("admin:carriers_rawwebhook_changelist") + "?status=failed")
    assert response.status_code == 200
    assert f">{raw.pk}<" in response.content.decode()
    assert "parse error" in response.content.decode()


def test_staff_can_open_a_dead_letter_and_read_its_body(admin_client):
    raw = _garbage()
    response = admin_client.get(reverse("admin:carriers_rawwebhook_change", args=[raw.pk]))
    assert response.status_code == 200
    assert "trackingNumber" in response.content.decode()


def test_the_admin_action_replays_the_selected_webhooks(admin_client, monkeypatch):
    shipment = make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    raw = _unmapped_ups()
    monkeypatch.setitem(ups_adapter.TYPE_MAP, "Z", "available_for_pickup")
    response = admin_client.post(
        reverse("admin:carriers_rawwebhook_changelist"),
        {"action": "replay", "_selected_action": [raw.pk]},
        follow=True,
    )
    assert "Replayed: 1 processed." in response.content.decode()
    shipment.refresh_from_db()
    assert shipment.status == ShipmentStatus.AVAILABLE_FOR_PICKUP


def test_staff_see_unmapped_codes_with_their_count(admin_client):
    make_shipment(carrier="ups", tracking_number="1Z204W4R0308071865")
    _unmapped_ups()
    assert UnmappedCode.objects.get().count == 1
    response = admin_client.get(reverse("admin:carriers_unmappedcode_changelist"))
    assert "Z/ZZ" in response.content.decode()


def test_unverified_deliveries_are_listed_for_review(admin_client):
    shipment = make_shipment(carrier="acme", tracking_number="R1")
    DeliveryVerification.objects.create(shipment=shipment, result="unverified", failed_checks=["gps_out_of_range"])
    response = admin_client.get(reverse("admin:carriers_deliveryverification_changelist") + "?review=yes")
    assert "gps_out_of_range" in response.content.decode()


def test_the_admin_rotates_an_account_secret_without_showing_it(admin_client):
    brand = BrandFactory()
    url = reverse("admin:carriers_carrieraccount_add")
    data = {"brand": brand.pk, "carrier": "fedex", "slug": "acme", "is_active": "on", "new_secret": "first"}
    admin_client.post(url, data)
    account = CarrierAccount.objects.get()
    change = reverse("admin:carriers_carrieraccount_change", args=[account.pk])
    admin_client.post(change, {**data, "new_secret": "s3cond-Secret"})
    assert services.webhook_secrets(carrier="fedex", account_slug="acme")[1] == ["s3cond-Secret", "first"]
    assert "s3cond-Secret" not in admin_client.get(change).content.decode()


def _staff(make):
    """A staff user whose group got the carriers grants (post_migrate; a flushed test DB lost them)."""
    from django.contrib.auth import get_user_model

    from carriers.groups import grant_carrier_permissions

    user = make()
    grant_carrier_permissions()
    return get_user_model().objects.get(pk=user.pk)


def test_support_staff_can_replay_but_not_decide_deliveries(client):
    from tests.factories import support_user

    user = _staff(support_user)
    assert user.has_perm("carriers.replay_rawwebhook")
    assert not user.has_perm("carriers.decide_deliveryverification")
    raw = _garbage()
    client.force_login(user)
    response = client.post(
        reverse("admin:carriers_rawwebhook_changelist"), {"action": "replay", "_selected_action": [raw.pk]}
    )
    assert response.status_code == 302
    raw.refresh_from_db()
    assert raw.attempts == 2


def test_supervisors_can_decide_an_unverified_delivery_in_the_admin(client):
    from tests.factories import supervisor_user

    user = _staff(supervisor_user)
    shipment = make_shipment(carrier="acme", tracking_number="R2")
    verification = DeliveryVerification.objects.create(shipment=shipment, result="unverified")
    client.force_login(user)
    client.post(
        reverse("admin:carriers_deliveryverification_changelist"),
        {"action": "accept", "_selected_action": [verification.pk]},
    )
    verification.refresh_from_db()
    assert (verification.decision, verification.decided_by) == ("accepted", user)
