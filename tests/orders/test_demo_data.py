"""manage.py seed_demo: the world a newcomer meets first must be complete, real and repeatable."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from orders.models import Brand, Customer, Order, Shipment, ShipmentEvent, StatusChange
from orders.statuses import OrderStatus, ShipmentStatus


def _seed() -> str:
    out = StringIO()
    # Test settings run with DEBUG off, where the command refuses unless forced.
    call_command("seed_demo", "--force", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once for the module (the slow part); every test's own changes roll back inside it."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield _seed()
        transaction.set_rollback(True)


def with_demo_data(test):
    """The test reads the module's demo data (and may change it: its changes roll back)."""
    return pytest.mark.django_db(pytest.mark.usefixtures("seeded")(test))


@with_demo_data
def test_it_has_an_order_in_every_order_status():
    present = set(Order.objects.values_list("status", flat=True))
    assert set(OrderStatus.values) - present == set()


@with_demo_data
def test_it_gives_every_shipment_that_was_not_cancelled_a_carrier_timeline():
    bare = Shipment.objects.exclude(status=ShipmentStatus.CANCELLED).annotate(n=Count("events")).filter(n=0)
    assert list(bare) == []


@with_demo_data
def test_it_dates_every_carrier_event_between_the_order_and_now_and_receives_it_afterwards():
    now = timezone.now()
    for event in ShipmentEvent.objects.select_related("shipment__order"):
        assert event.shipment.order.placed_at < event.occurred_at < now
        assert event.received_at >= event.occurred_at


@with_demo_data
def test_it_includes_an_order_split_across_two_carriers():
    split = Order.objects.annotate(n=Count("shipments")).filter(n__gte=2)
    carriers = {frozenset(o.shipments.values_list("carrier", flat=True)) for o in split}
    assert any(len(c) >= 2 for c in carriers)


@with_demo_data
def test_it_records_proof_of_delivery_on_every_delivered_shipment():
    delivered = Shipment.objects.filter(status=ShipmentStatus.DELIVERED)
    assert delivered.exists()
    for shipment in delivered:
        assert shipment.delivered_at is not None
        assert shipment.pod_photo_ref
        assert shipment.pod_latitude is not None


@with_demo_data
def test_it_builds_each_order_history_through_the_services():
    # The audit log ends where the order is: nothing was written around the state machines.
    for order in Order.objects.all():
        moves = order.history.filter(shipment__isnull=True).order_by("occurred_at", "id")
        assert moves.first().transition == "create"
        assert moves.last().to_status == order.status, order.number


@with_demo_data
def test_it_creates_nothing_new_when_run_twice():
    def counts():
        return [m.objects.count() for m in (Brand, Customer, Order, Shipment, ShipmentEvent, StatusChange)]

    before = counts()
    output = _seed()
    assert counts() == before
    assert "(0 new)" in output


@with_demo_data
def test_it_prints_an_admin_login_that_works(seeded):
    match = re.search(r"^\s*Admin login: admin / (\S+)", seeded, re.MULTILINE)
    assert match, seeded
    user = authenticate(username="admin", password=match.group(1))
    assert user is not None and user.is_superuser


@with_demo_data
def test_it_prints_an_api_token_for_the_api_user(seeded):
    from rest_framework.authtoken.models import Token

    token = Token.objects.get(user__username="api")
    assert f"Authorization: Token {token.key}" in seeded


@pytest.mark.django_db
def test_it_refuses_to_run_with_debug_off_unless_forced():
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        call_command("seed_demo", stdout=StringIO())


ROOT = Path(__file__).resolve().parents[2]


def test_the_env_example_documents_every_setting_that_the_settings_read():
    source = (ROOT / "oms_notify" / "settings.py").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    missing = []
    for is_f_string, name in re.findall(r'env(?:\.\w+)?\(\s*(f?)"([^"]+)"', source):
        # CARRIER_{name.upper()}_WEBHOOK_SECRET: any documented name of that shape will do.
        pattern = re.sub(r"\\\{[^}]*\\\}", "[A-Z0-9_]+", re.escape(name)) if is_f_string else re.escape(name)
        if not any(re.fullmatch(pattern, known) for known in documented):
            missing.append(name)
    assert missing == []
