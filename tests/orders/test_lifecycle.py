"""The order machine: every allowed and every refused move, its conditions and permissions."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from orders import events, services
from orders.exceptions import TransitionRefused
from orders.models import DomainEvent, Order, StatusChange
from orders.statuses import OrderStatus as OS
from tests.factories import UserFactory, make_order, supervisor_user, support_user
from tests.orders.builders import apply, order_in

pytestmark = pytest.mark.django_db

USER_MOVES = ["confirm", "start_processing", "dispatch", "cancel", "complete"]

# What a member of Support may do from each status (with inventory allocated and parcels packed).
ALLOWED = {
    OS.PENDING: {"confirm": OS.CONFIRMED, "cancel": OS.CANCELLED},
    OS.CONFIRMED: {"start_processing": OS.PROCESSING, "dispatch": OS.DISPATCHED, "cancel": OS.CANCELLED},
    OS.PROCESSING: {"dispatch": OS.DISPATCHED, "cancel": OS.CANCELLED},
    OS.ON_HOLD: {"cancel": OS.CANCELLED},
    OS.PARTIALLY_SHIPPED: {"dispatch": OS.DISPATCHED},
    OS.DISPATCHED: {},
    OS.IN_TRANSIT: {},
    OS.OUT_FOR_DELIVERY: {},
    OS.DELAYED: {},
    OS.DELIVERY_FAILED: {},
    OS.DELIVERED: {"complete": OS.COMPLETED},
    OS.COMPLETED: {},
    OS.CANCELLED: {},
    OS.RETURNED_TO_SENDER: {},
}


def with_parcel(order: Order) -> Order:
    """Pre-dispatch orders need a packed parcel before dispatch is on offer."""
    if order.status in (OS.CONFIRMED, OS.PROCESSING):
        services.shipment_create(order=order, carrier="ups", tracking_number="1ZPACKED", source="api")
    return order


def test_the_table_covers_every_order_status():
    assert set(ALLOWED) == set(OS.values)


@pytest.mark.parametrize("status", list(ALLOWED))
def test_it_offers_exactly_the_allowed_moves(status):
    order = with_parcel(order_in(status))
    assert order.status == status
    offered = services.order_available_transitions(order=order, user=support_user())
    assert {t["name"] for t in offered} == set(ALLOWED[status])


@pytest.mark.parametrize(("status", "move"), [(s, m) for s, moves in ALLOWED.items() for m in moves])
def test_each_allowed_move_reaches_its_target_and_is_audited(status, move):
    order = with_parcel(order_in(status))
    user = support_user()
    moved = services.order_transition(order=order, transition=move, source="api", actor=user, reason="test")
    assert moved.status == ALLOWED[status][move]
    change = StatusChange.objects.filter(order=order, shipment=None).last()
    assert (change.from_status, change.to_status, change.transition) == (status, moved.status, move)
    assert change.actor == user and change.source == "api" and change.reason == "test"
    assert DomainEvent.objects.filter(status_change=change, name=events.ORDER_STATUS_CHANGED).exists()


@pytest.mark.parametrize(
    ("status", "move"), [(s, m) for s, moves in ALLOWED.items() for m in USER_MOVES if m not in moves]
)
def test_each_refused_move_changes_nothing(status, move):
    order = with_parcel(order_in(status))
    audit_rows = StatusChange.objects.count()
    with pytest.raises(TransitionRefused):
        services.order_transition(order=order, transition=move, source="api", actor=support_user())
    order.refresh_from_db()
    assert order.status == status
    assert StatusChange.objects.count() == audit_rows


@pytest.mark.parametrize("move", ["hold", "release", "follow_shipments", "save", "delete", "nonsense"])
def test_system_moves_and_other_methods_cannot_be_called_by_name(move):
    order = make_order()
    with pytest.raises(TransitionRefused) as refused:
        services.order_transition(order=order, transition=move, source="api")
    assert refused.value.reason == "unknown_transition"


def test_it_refuses_dispatch_before_inventory_is_allocated():
    order = make_order(inventory_allocated=False)
    services.order_transition(order=order, transition="confirm", source="api")
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z1", source="api")
    with pytest.raises(TransitionRefused) as refused:
        services.order_transition(order=order, transition="dispatch", source="api")
    assert refused.value.reason == "condition_failed:inventory_is_allocated"
    services.order_set_flags(order=order, source="api", inventory_allocated=True)
    assert services.order_transition(order=order, transition="dispatch", source="api").status == OS.DISPATCHED


def test_it_refuses_dispatch_with_no_parcel_to_hand_over():
    order = order_in(OS.PROCESSING)
    with pytest.raises(TransitionRefused) as refused:
        services.order_transition(order=order, transition="dispatch", source="api")
    assert refused.value.reason == "condition_failed:has_shipment_to_dispatch"


def test_it_explains_a_move_the_status_does_not_allow():
    order = order_in(OS.IN_TRANSIT)
    with pytest.raises(TransitionRefused) as refused:
        services.order_transition(order=order, transition="cancel", source="api")
    assert refused.value.reason == "not_allowed_from_in_transit"


def test_a_regulatory_hold_parks_the_order_and_clearing_it_resumes_where_it_was():
    order = order_in(OS.PROCESSING)
    held = services.order_set_flags(
        order=order, source="api", regulatory_hold=True, regulatory_hold_reason="sanctions screening"
    )
    assert held.status == OS.ON_HOLD
    with pytest.raises(TransitionRefused):
        services.order_transition(order=held, transition="dispatch", source="api")
    resumed = services.order_set_flags(order=held, source="api", regulatory_hold=False)
    assert resumed.status == OS.PROCESSING
    assert not resumed.regulatory_hold and resumed.regulatory_hold_reason == ""
    moves = list(StatusChange.objects.filter(order=order).values_list("transition", "source")[3:])
    assert moves == [("hold", "api"), ("release", "api")]


def test_a_hold_needs_a_reason():
    order = make_order()
    with pytest.raises(ValidationError):
        services.order_set_flags(order=order, source="api", regulatory_hold=True)
    order.refresh_from_db()
    assert order.status == OS.PENDING and not order.regulatory_hold


def test_a_hold_after_dispatch_keeps_following_the_carrier_but_blocks_completion():
    order = order_in(OS.IN_TRANSIT)
    services.order_set_flags(order=order, source="api", regulatory_hold=True, regulatory_hold_reason="customs")
    shipment = order.shipments.get()
    apply(shipment, "delivered", minutes=600)
    order.refresh_from_db()
    assert order.status == OS.DELIVERED
    with pytest.raises(TransitionRefused) as refused:
        services.order_transition(order=order, transition="complete", source="api")
    assert refused.value.reason == "condition_failed:nothing_open"


def test_cancelling_cancels_parcels_that_never_left():
    order = order_in(OS.PROCESSING)
    shipment = services.shipment_create(order=order, carrier="ups", tracking_number="1Z5", source="api")
    services.order_transition(order=order, transition="cancel", source="api", reason="customer asked")
    shipment.refresh_from_db()
    assert shipment.status == "cancelled"


def test_a_user_without_the_permission_may_not_move_an_order():
    order = make_order()
    outsider = UserFactory()
    assert services.order_available_transitions(order=order, user=outsider) == []
    with pytest.raises(PermissionDenied):
        services.order_transition(order=order, transition="confirm", source="api", actor=outsider)
    order.refresh_from_db()
    assert order.status == OS.PENDING
    assert not StatusChange.objects.filter(order=order, transition="confirm").exists()


def test_a_supervisor_may_force_any_status_with_a_reason_and_a_notify_choice():
    order = order_in(OS.IN_TRANSIT)
    boss = supervisor_user()
    forced = services.order_override_status(
        order=order, status=OS.DELIVERED, reason="customer confirmed by phone", notify=False, actor=boss
    )
    assert forced.status == OS.DELIVERED and forced.delivered_at is not None
    change = StatusChange.objects.filter(order=order).last()
    assert (change.transition, change.from_status, change.to_status) == ("override", OS.IN_TRANSIT, OS.DELIVERED)
    assert change.actor == boss and change.reason == "customer confirmed by phone" and not change.notify_customer
    event = DomainEvent.objects.get(status_change=change)
    assert event.payload["notify"] is False


def test_support_may_not_override():
    order = make_order()
    with pytest.raises(PermissionDenied):
        services.order_override_status(order=order, status=OS.CANCELLED, reason="x", notify=True, actor=support_user())
    order.refresh_from_db()
    assert order.status == OS.PENDING


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_override_needs_a_reason(reason):
    order = make_order()
    with pytest.raises(ValidationError):
        services.order_override_status(
            order=order, status=OS.CANCELLED, reason=reason, notify=True, actor=supervisor_user()
        )


def test_an_override_to_on_hold_resumes_to_the_earlier_status_when_released():
    order = order_in(OS.CONFIRMED)
    services.order_override_status(
        order=order, status=OS.ON_HOLD, reason="fraud review", notify=False, actor=supervisor_user()
    )
    order.refresh_from_db()
    assert order.status_before_hold == OS.CONFIRMED
    # Releasing a parked order happens when no hold flag is set: confirm the machine allows it.
    services.order_set_flags(order=order, source="api", regulatory_hold=True, regulatory_hold_reason="r")
    assert services.order_set_flags(order=order, source="api", regulatory_hold=False).status == OS.CONFIRMED


def test_audit_rows_are_append_only():
    order = make_order()
    change = StatusChange.objects.filter(order=order).first()
    change.reason = "rewritten"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()


def test_the_status_field_cannot_be_assigned_directly():
    order = make_order()
    with pytest.raises(AttributeError):
        order.status = OS.DELIVERED


def test_a_user_without_the_permission_learns_nothing_about_which_moves_are_possible():
    order = order_in(OS.IN_TRANSIT)
    with pytest.raises(PermissionDenied):
        services.order_transition(order=order, transition="cancel", source="api", actor=UserFactory())


def test_an_order_with_an_audit_trail_cannot_be_deleted():
    from django.db.models import ProtectedError

    order = make_order()
    with pytest.raises(ProtectedError):
        order.delete()
    assert StatusChange.objects.filter(order=order).exists()
