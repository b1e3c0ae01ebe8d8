"""The support admin: buttons, flags and overrides go through the services; the audit log stays intact."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import events, services
from orders.models import DomainEvent, Order, StatusChange
from orders.statuses import OrderStatus
from orders.tracking import TrackingEvent
from tests.factories import UserFactory, make_order, supervisor_user, support_user

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------


class _FormReader(HTMLParser):
    """What a browser would submit from the order's change form, and which move buttons it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self.buttons: set[str] = set()
        self._in_form = False
        self._textarea: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and a.get("id") == "order_form":
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "button" and name == "_fsm_transition_to":
            self.buttons.add(a["value"])
        elif tag == "input" and name and a.get("type") != "submit":
            if a.get("type") != "checkbox" or "checked" in a:
                self.data[name] = a.get("value", "on")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select] = a.get("value", "")

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.data[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False
        elif tag == "textarea":
            if self._textarea:
                self.data[self._textarea] = self.data[self._textarea].removeprefix("\n")
            self._textarea = None
        elif tag == "select":
            self._select = None


def read_change_form(client, order: Order) -> _FormReader:
    response = client.get(change_url(order))
    assert response.status_code == 200
    reader = _FormReader()
    reader.feed(response.content.decode())
    return reader


def change_url(order: Order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def override_url(order: Order) -> str:
    return reverse("admin:orders_order_override_status", args=[order.pk])


def transition_url(order: Order, name: str) -> str:
    return reverse("admin:orders_order_transition", kwargs={"object_id": order.pk, "transition_name": name})


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def listed_numbers(client, **params) -> set[str]:
    response = client.get(reverse("admin:orders_order_changelist"), params)
    assert response.status_code == 200
    return {order.number for order in response.context["cl"].result_list}


def confirmed(order: Order) -> Order:
    return services.order_transition(order=order, transition="confirm", source="api")


def ready_to_dispatch() -> Order:
    order = confirmed(make_order(inventory_allocated=True))
    services.shipment_create(order=order, carrier="ups", tracking_number="1Z999AA10123456784", source="api")
    return order


def dispatched() -> Order:
    return services.order_transition(order=ready_to_dispatch(), transition="dispatch", source="api")


@pytest.fixture
def support(client):
    user = support_user()
    client.force_login(user)
    return user


@pytest.fixture
def supervisor(client):
    user = supervisor_user()
    client.force_login(user)
    return user


@pytest.fixture
def editor_without_transitions(client):
    """May view and edit orders, but not move them."""
    user = UserFactory()
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_order", "change_order"]))
    client.force_login(user)
    return user


# --- transition buttons -------------------------------------------------------------------------


def test_it_shows_confirm_and_cancel_for_a_pending_order(client, support):
    order = make_order()

    assert read_change_form(client, order).buttons == {"confirm", "cancel"}


def test_it_shows_dispatch_once_inventory_and_a_shipment_are_ready(client, support):
    order = ready_to_dispatch()

    assert read_change_form(client, order).buttons == {"start_processing", "dispatch", "cancel"}


def test_it_never_shows_system_transitions_even_when_the_machine_allows_them(client, support):
    order = dispatched()
    assert "follow_shipments" in {t.name for t in order.get_available_user_status_transitions(support)}

    assert read_change_form(client, order).buttons == set()


def test_pressing_confirm_moves_the_order_through_the_service(client, support):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "_fsm_transition_to": "confirm"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    change = StatusChange.objects.get(order=order, transition="confirm")
    assert (change.source, change.actor, change.from_status) == ("admin", support, OrderStatus.PENDING)
    assert DomainEvent.objects.filter(name=events.ORDER_STATUS_CHANGED, status_change=change).exists()


def test_pressing_cancel_asks_for_a_reason_before_moving(client, support):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "_fsm_transition_to": "cancel"})

    assert response.status_code == 302
    assert response["Location"] == transition_url(order, "cancel")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_cancelling_records_the_reason_in_the_history(client, support):
    order = make_order()

    response = client.post(transition_url(order, "cancel"), {"reason": "Customer called to cancel"})

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    change = StatusChange.objects.get(order=order, transition="cancel")
    assert (change.reason, change.source, change.actor) == ("Customer called to cancel", "admin", support)


def test_it_refuses_to_cancel_without_a_reason(client, support):
    order = make_order()

    response = client.post(transition_url(order, "cancel"), {"reason": ""})

    assert response.status_code == 200
    assert response.context["transition_form"].errors["reason"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_a_forged_dispatch_without_inventory_leaves_the_status_and_shows_an_error(client, support):
    order = confirmed(make_order(inventory_allocated=False))
    services.shipment_create(order=order, carrier="ups", tracking_number="1ZNOSTOCK", source="api")
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "_fsm_transition_to": "dispatch"}, follow=True)

    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    assert not StatusChange.objects.filter(order=order, transition="dispatch").exists()
    assert any("inventory is not allocated" in m for m in messages_of(response))


@pytest.mark.parametrize("name", ["hold", "follow_shipments", "save", "no_such_move"])
def test_a_forged_post_of_a_move_staff_cannot_make_changes_nothing(client, support, name):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "_fsm_transition_to": name}, follow=True)

    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert any("not a move staff can make" in m for m in messages_of(response))


def test_a_user_without_transition_permission_sees_no_buttons(client, editor_without_transitions):
    order = make_order()

    assert read_change_form(client, order).buttons == set()


def test_a_user_without_transition_permission_cannot_move_an_order_by_a_forged_post(client, editor_without_transitions):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "_fsm_transition_to": "confirm"}, follow=True)

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert not StatusChange.objects.filter(order=order, transition="confirm").exists()
    assert any("You may not confirm" in m for m in messages_of(response))


def test_a_user_without_transition_permission_cannot_cancel_through_the_reason_form(client, editor_without_transitions):
    order = make_order()

    client.post(transition_url(order, "cancel"), {"reason": "forged"})

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


# --- override ------------------------------------------------------------------------------------


def test_the_override_link_is_shown_to_a_supervisor(client, supervisor):
    order = make_order()

    assert override_url(order) in client.get(change_url(order)).content.decode()


def test_the_override_link_is_hidden_from_support(client, support):
    order = make_order()

    assert override_url(order) not in client.get(change_url(order)).content.decode()


def test_a_support_users_override_post_is_forbidden_and_changes_nothing(client, support):
    order = make_order()

    response = client.post(override_url(order), {"status": "delivered", "reason": "forged", "notify": "on"})

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert not StatusChange.objects.filter(order=order, transition="override").exists()


@pytest.mark.parametrize(("notify", "expected"), [("on", True), (None, False)])
def test_a_supervisors_override_is_audited_with_the_reason_and_notify_choice(client, supervisor, notify, expected):
    order = make_order()
    data = {"status": "delayed", "reason": "Carrier confirmed a lost scan"}
    if notify:
        data["notify"] = notify

    response = client.post(override_url(order), data)

    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.DELAYED
    change = StatusChange.objects.get(order=order, transition="override")
    assert (change.reason, change.notify_customer, change.actor, change.source) == (
        "Carrier confirmed a lost scan",
        expected,
        supervisor,
        "admin",
    )
    assert DomainEvent.objects.get(status_change=change).payload["notify"] is expected


def test_an_override_without_a_reason_is_refused(client, supervisor):
    order = make_order()

    response = client.post(override_url(order), {"status": "delayed", "reason": "   ", "notify": "on"})

    assert response.status_code == 200
    assert response.context["form"].errors["reason"]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert not StatusChange.objects.filter(order=order, transition="override").exists()


# --- flags and address ---------------------------------------------------------------------------


def test_setting_the_hold_flag_parks_the_order_on_hold(client, support):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(
        change_url(order), {**data, "regulatory_hold": "on", "regulatory_hold_reason": "Export licence check"}
    )

    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.regulatory_hold) == (OrderStatus.ON_HOLD, True)
    change = StatusChange.objects.get(order=order, transition="hold")
    assert (change.source, change.actor, change.reason) == ("admin", support, "Export licence check")


def test_a_hold_without_a_reason_is_a_form_error(client, support):
    order = make_order()
    data = read_change_form(client, order).data

    response = client.post(change_url(order), {**data, "regulatory_hold": "on", "regulatory_hold_reason": ""})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["regulatory_hold_reason"]
    order.refresh_from_db()
    assert (order.status, order.regulatory_hold) == (OrderStatus.PENDING, False)


def test_clearing_the_hold_flag_resumes_the_order(client, support):
    order = confirmed(make_order())
    services.order_set_flags(order=order, source="api", regulatory_hold=True, regulatory_hold_reason="Sanctions check")
    data = read_change_form(client, order).data
    assert data["regulatory_hold"] == "on"
    del data["regulatory_hold"]

    client.post(change_url(order), data)

    order.refresh_from_db()
    assert (order.status, order.regulatory_hold) == (OrderStatus.CONFIRMED, False)
    assert StatusChange.objects.filter(order=order, transition="release", source="admin", actor=support).exists()


def test_allocating_inventory_in_the_form_saves_the_flag(client, support):
    order = make_order(inventory_allocated=False)
    data = read_change_form(client, order).data

    client.post(change_url(order), {**data, "inventory_allocated": "on"})

    order.refresh_from_db()
    assert order.inventory_allocated is True


def test_a_stale_page_does_not_clear_a_hold_set_after_it_was_loaded(client, support):
    order = make_order()
    stale = read_change_form(client, order).data
    services.order_set_flags(order=order, source="api", regulatory_hold=True, regulatory_hold_reason="Sanctions check")

    client.post(change_url(order), {**stale, "ship_line2": "Flat 2"})

    order.refresh_from_db()
    assert (order.status, order.regulatory_hold, order.ship_line2) == (OrderStatus.ON_HOLD, True, "Flat 2")


def test_the_status_cannot_be_set_through_the_change_form(client, support):
    order = make_order()
    data = read_change_form(client, order).data

    client.post(change_url(order), {**data, "status": "delivered"})

    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


# --- change list ---------------------------------------------------------------------------------


def test_the_changelist_finds_an_order_by_tracking_number(client, support):
    order = ready_to_dispatch()
    other = make_order(email="grace@example.com")

    found = listed_numbers(client, q="1Z999AA10123456784")

    assert order.number in found and other.number not in found


def test_the_changelist_finds_an_order_by_our_tracking_id(client, support):
    order = ready_to_dispatch()
    make_order(email="grace@example.com")

    assert listed_numbers(client, q=order.shipments.get().tracking_id) == {order.number}


def test_the_changelist_finds_an_order_by_customer_email(client, support):
    order = make_order(email="grace@example.com")
    other = make_order(email="ada@example.com")

    found = listed_numbers(client, q="grace@example.com")

    assert order.number in found and other.number not in found


def test_the_exception_filter_lists_only_exceptional_orders(client, support):
    supervisor = supervisor_user()
    normal = make_order()
    held = make_order()
    services.order_set_flags(order=held, source="api", regulatory_hold=True, regulatory_hold_reason="Check")
    delayed = services.order_override_status(
        order=make_order(), status="delayed", reason="test", notify=False, actor=supervisor
    )
    in_flight_with_hold = dispatched()
    services.order_set_flags(
        order=in_flight_with_hold, source="api", regulatory_hold=True, regulatory_hold_reason="Recall"
    )

    found = listed_numbers(client, exception="yes")

    assert found == {held.number, delayed.number, in_flight_with_hold.number}
    assert normal.number in listed_numbers(client, exception="no")


def test_the_changelist_marks_exceptions_visibly(client, support):
    supervisor = supervisor_user()
    services.order_override_status(order=make_order(), status="delayed", reason="test", notify=False, actor=supervisor)

    content = client.get(reverse("admin:orders_order_changelist")).content.decode()

    assert 'class="oms-exception"' in content and "⚠ Delayed" in content


def test_the_changelist_query_count_does_not_grow_with_the_orders(client, support):
    make_order()
    make_order(email="b@example.com")
    url = reverse("admin:orders_order_changelist")
    client.get(url)  # warm the session and content-type caches
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for i in range(6):
        make_order(email=f"more{i}@example.com")
    with CaptureQueriesContext(connection) as many:
        client.get(url)

    assert len(many) == len(few)


# --- the change page and other models -----------------------------------------------------------


def test_the_change_page_shows_lines_shipments_and_history_to_support(client, support):
    order = ready_to_dispatch()
    shipment = order.shipments.get()

    content = client.get(change_url(order)).content.decode()

    assert "SKU-1" in content
    assert shipment.tracking_id in content
    assert reverse("admin:orders_shipment_change", args=[shipment.pk]) in content
    assert "status history" in content.lower() and "confirm" in content


def test_the_shipment_page_shows_its_carrier_timeline(client, support):
    order = dispatched()
    shipment = order.shipments.get()
    event = TrackingEvent(
        carrier="ups",
        tracking_number=shipment.tracking_number,
        status="in_transit",
        occurred_at=datetime(2026, 1, 5, 10, 30, tzinfo=UTC),
        description="Departed facility in Louisville",
    )
    services.shipment_apply_event(shipment=shipment, event=event)

    response = client.get(reverse("admin:orders_shipment_change", args=[shipment.pk]))

    assert response.status_code == 200
    assert "Departed facility in Louisville" in response.content.decode()


def test_orders_cannot_be_added_in_the_admin(client):
    client.force_login(UserFactory(is_superuser=True))

    assert client.get(reverse("admin:orders_order_add")).status_code == 403


def test_orders_cannot_be_deleted_in_the_admin(client):
    client.force_login(UserFactory(is_superuser=True))
    order = make_order()

    response = client.post(reverse("admin:orders_order_delete", args=[order.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()


def test_a_status_change_cannot_be_edited_in_the_admin(client):
    client.force_login(UserFactory(is_superuser=True))
    change = StatusChange.objects.get(order=make_order())

    response = client.post(
        reverse("admin:orders_statuschange_change", args=[change.pk]), {"reason": "rewritten", "to_status": "x"}
    )

    assert response.status_code == 403
    change.refresh_from_db()
    assert (change.reason, change.to_status) == ("", OrderStatus.PENDING)


def test_a_status_change_cannot_be_deleted_in_the_admin(client):
    client.force_login(UserFactory(is_superuser=True))
    change = StatusChange.objects.get(order=make_order())

    response = client.post(reverse("admin:orders_statuschange_delete", args=[change.pk]), {"post": "yes"})

    assert response.status_code == 403
    assert StatusChange.objects.filter(pk=change.pk).exists()


def test_a_status_change_can_be_viewed_by_support(client, support):
    change = StatusChange.objects.get(order=make_order())

    response = client.get(reverse("admin:orders_statuschange_change", args=[change.pk]))

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


def test_the_admin_header_says_oms_notify(client, support):
    response = client.get(reverse("admin:index"))

    assert response.context["site_header"] == "oms_notify"
