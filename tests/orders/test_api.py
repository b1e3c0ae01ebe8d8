"""The orders REST API contract: /api/v1/orders/ with token auth, one error shape, thin over services."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from orders import services
from orders.groups import INTEGRATIONS
from orders.models import Brand, Customer, Order, Shipment
from orders.tracking import TrackingEvent
from tests.factories import BrandFactory, UserFactory, make_order, support_user, user_in

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"

PAYLOAD = {
    "source": "api",
    "external_id": "A-1",
    "customer": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+14155550123"},
    "shipping_address": {
        "line1": "1 Main St",
        "city": "New York",
        "postcode": "10001",
        "country": "US",
        "latitude": 40.7,
        "longitude": -74.0,
    },
    "lines": [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}],
    "currency": "USD",
}


def payload(**changes) -> dict:
    body = copy.deepcopy(PAYLOAD)
    body.update(changes)
    return body


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def user_with(*codenames: str):
    user = UserFactory(is_staff=False)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="orders", codename__in=codenames))
    return user


@pytest.fixture(autouse=True)
def default_brand() -> Brand:
    # Made by a migration; a transactional test of an earlier run (--reuse-db) may have flushed it.
    brand, _ = Brand.objects.get_or_create(slug="default", defaults={"name": "Default", "order_prefix": "ORD"})
    return brand


@pytest.fixture
def integration():
    return user_in(INTEGRATIONS, username="wms", is_staff=False)


@pytest.fixture
def api(integration) -> APIClient:
    return client_for(integration)


def detail(order: Order) -> str:
    return f"{ORDERS}{order.number}/"


def ship(order: Order, lines=None, tracking_number: str = "1Z999") -> Shipment:
    return services.shipment_create(
        order=order, carrier="ups", tracking_number=tracking_number, source="api", lines=lines
    )


def scan(shipment: Shipment, status: str, minutes: int = 0, **extra) -> None:
    event = TrackingEvent(
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        status=status,
        occurred_at=timezone.now() - timedelta(hours=1) + timedelta(minutes=minutes),
        **extra,
    )
    services.shipment_apply_event(shipment=shipment, event=event)


def confirmed(**kwargs) -> Order:
    order = make_order(**kwargs)
    return services.order_transition(order=order, transition="confirm", source="api")


# --- create -------------------------------------------------------------------------------------


def test_it_creates_an_order_and_answers_201_with_it(api):
    response = api.post(ORDERS, payload(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get()
    assert body["number"] == order.number
    assert body["status"] == "pending"
    assert body["brand"] == "default"
    assert body["total"] == "9.99"
    assert body["lines"] == [{"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}]
    assert response["Location"].endswith(f"/api/v1/orders/{order.number}/")


def test_it_answers_a_repeat_with_200_and_the_same_order(api):
    first = api.post(ORDERS, payload(), format="json")
    again = api.post(ORDERS, payload(), format="json")

    assert again.status_code == 200
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_it_answers_a_conflicting_repeat_with_409_and_the_existing_number(api):
    first = api.post(ORDERS, payload(), format="json")
    changed = payload(lines=[{"sku": "MUG-1", "name": "Mug", "quantity": 2, "unit_price": "9.99"}])

    response = api.post(ORDERS, changed, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "conflict"
    assert response.json()["number"] == first.json()["number"]
    assert Order.objects.get().lines.get().quantity == 1


def test_it_files_an_order_under_an_explicit_brand(api):
    BrandFactory(slug="acme", order_prefix="ACME")

    response = api.post(ORDERS, payload(brand="acme"), format="json")

    assert response.status_code == 201
    assert response.json()["brand"] == "acme"
    assert response.json()["number"].startswith("ACME-")


def test_it_refuses_an_unknown_brand_as_a_field_error(api):
    response = api.post(ORDERS, payload(brand="nope"), format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert "brand" in response.json()["fields"]


def _with(path: str, value) -> dict:
    """The minimal body with one (dotted) field replaced."""
    body = payload()
    *parents, leaf = path.split(".")
    target = body
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    target[leaf] = value
    return body


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        ("customer.phone", "415-555-0123", ["customer", "phone"]),
        ("customer.phone", "+1415555012", ["customer", "phone"]),
        ("customer.email", "not-an-email", ["customer", "email"]),
        ("currency", "ABC", ["currency"]),
        ("currency", "XAU", ["currency"]),
        ("lines", [], ["lines"]),
        ("lines.0.quantity", 0, ["lines", "0", "quantity"]),
        ("lines.0.unit_price", "-1.00", ["lines", "0", "unit_price"]),
        ("shipping_address.country", "XX", ["shipping_address", "country"]),
        ("shipping_address.latitude", 91, ["shipping_address", "latitude"]),
        ("shipping_address.longitude", -180.5, ["shipping_address", "longitude"]),
        ("shipping_address.latitude", 1e20, ["shipping_address", "latitude"]),
    ],
    ids=[
        "phone-not-e164",
        "phone-not-valid",
        "email",
        "currency-unknown",
        "currency-gold",
        "no-lines",
        "zero-quantity",
        "negative-price",
        "country-unknown",
        "latitude-range",
        "longitude-range",
        "latitude-huge",
    ],
)
def test_it_refuses_an_invalid_field_with_a_400_that_names_it(api, path, value, where):
    response = api.post(ORDERS, _with(path, value), format="json")

    assert response.status_code == 400, response.json()
    fields = response.json()["fields"]
    for key in where:
        fields = fields[key]
    assert fields  # a non-empty list of reasons at exactly that place
    assert Order.objects.count() == 0


def test_it_refuses_the_same_sku_on_two_lines(api):
    line = {"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}

    response = api.post(ORDERS, payload(lines=[line, line]), format="json")

    assert response.status_code == 400
    assert "lines" in response.json()["fields"]


def test_it_refuses_a_status_in_the_body_as_read_only(api):
    response = api.post(ORDERS, payload(status="delivered"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"status": ["This field is read-only."]}


def test_it_refuses_an_unknown_field_rather_than_dropping_it(api):
    response = api.post(ORDERS, payload(extrnal_id="typo"), format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"extrnal_id": ["Unknown field."]}


def test_it_writes_nothing_when_one_line_is_bad(api):
    good = {"sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "9.99"}
    bad = {"sku": "CUP-1", "name": "Cup", "quantity": 0, "unit_price": "1.00"}

    response = api.post(ORDERS, payload(lines=[good, bad]), format="json")

    assert response.status_code == 400
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0


def test_it_leaves_nothing_behind_when_the_service_refuses_after_writing(api, default_brand):
    # Each line is valid, but their sum does not fit the order total: the service finds out after
    # it has counted the brand's sequence and written the customer, and must roll both back.
    sequence = default_brand.order_sequence
    huge = {"sku": "GOLD", "name": "Gold", "quantity": 2_000_000, "unit_price": "9999999999.99"}

    response = api.post(ORDERS, payload(lines=[huge]), format="json")

    assert response.status_code == 400
    assert "total" in response.json()["fields"]
    assert Order.objects.count() == 0
    assert Customer.objects.count() == 0
    assert Brand.objects.get(slug="default").order_sequence == sequence


def test_it_rounds_coordinates_to_the_six_places_it_stores(api):
    body = _with("shipping_address.latitude", 40.712775312)
    body["shipping_address"]["longitude"] = -74.0059728

    response = api.post(ORDERS, body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["shipping_address"]["latitude"] == 40.712775
    assert response.json()["shipping_address"]["longitude"] == -74.005973


# --- authentication and permissions -------------------------------------------------------------


def test_it_requires_authentication():
    response = APIClient().get(ORDERS)

    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_it_refuses_an_unknown_token():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    response = client.get(ORDERS)

    assert response.status_code == 401
    assert response.json()["error"] == "authentication_failed"


def test_it_refuses_reading_without_the_view_permission():
    response = client_for(user_with("add_order")).get(ORDERS)

    assert response.status_code == 403
    assert response.json()["error"] == "permission_denied"
    assert "orders.view_order" in response.json()["detail"]


def test_it_refuses_creating_without_the_add_permission():
    response = client_for(user_with("view_order")).post(ORDERS, payload(), format="json")

    assert response.status_code == 403
    assert Order.objects.count() == 0


def test_it_accepts_a_session_login_as_well_as_a_token():
    order = make_order()
    client = APIClient()
    client.force_login(support_user())

    response = client.get(detail(order))

    assert response.status_code == 200


# --- detail -------------------------------------------------------------------------------------


def test_it_returns_an_order_with_every_field_of_the_contract(api):
    order = make_order()

    response = api.get(detail(order))

    assert response.status_code == 200
    body = response.json()
    expected = {
        "number",
        "status",
        "status_display",
        "brand",
        "source",
        "source_account",
        "external_id",
        "customer",
        "shipping_address",
        "lines",
        "currency",
        "total",
        "inventory_allocated",
        "regulatory_hold",
        "regulatory_hold_reason",
        "tracking_url",
        "allowed_transitions",
        "shipments",
        "history",
        "created_at",
        "updated_at",
    }
    assert expected <= set(body)
    assert body["status_display"] == "Pending"
    assert body["customer"] == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+14155550123",
        "locale": "en",
        "time_zone": "UTC",
    }
    assert body["shipping_address"]["country"] == "US"


def test_it_gives_an_absolute_tracking_url_that_does_not_reveal_the_pk(api):
    order = make_order()

    url = api.get(detail(order)).json()["tracking_url"]

    assert url.startswith("https://track.example.test/t/")
    token = url.rstrip("/").rsplit("/", 1)[-1]
    assert token not in {str(order.pk), order.number}
    assert len(token) >= 32


def test_it_lists_the_transitions_the_caller_may_make(api):
    order = make_order()
    viewer = client_for(user_with("view_order"))

    mine = api.get(detail(order)).json()["allowed_transitions"]
    theirs = viewer.get(detail(order)).json()["allowed_transitions"]

    assert sorted(mine, key=lambda t: t["name"]) == [
        {"name": "cancel", "target": "cancelled"},
        {"name": "confirm", "target": "confirmed"},
    ]
    assert theirs == []


def test_it_shows_shipments_with_their_events_and_the_whole_history(api, integration):
    order = confirmed(inventory_allocated=True)
    shipment = ship(order)
    api.post(f"{detail(order)}transitions/", {"transition": "dispatch", "reason": "picked up"}, format="json")
    scan(shipment, "in_transit", description="Departed facility", city="Memphis", region="TN", country="US")

    body = api.get(detail(order)).json()

    [parcel] = body["shipments"]
    assert parcel["tracking_id"] == shipment.tracking_id
    assert parcel["carrier"] == "ups"
    assert parcel["status"] == "in_transit"
    assert parcel["lines"] == [{"sku": "SKU-1", "quantity": 1}]
    assert parcel["events"] == [
        {
            "status": "in_transit",
            "description": "Departed facility",
            "reason": "",
            "location": "Memphis, TN, US",
            "occurred_at": parcel["events"][0]["occurred_at"],
        }
    ]
    moves = [(row["shipment_tracking_id"], row["transition"], row["to_status"]) for row in body["history"]]
    assert (None, "create", "pending") in moves
    assert (None, "confirm", "confirmed") in moves
    assert (shipment.tracking_id, "create", "info_received") in moves
    assert (shipment.tracking_id, "mark_in_transit", "in_transit") in moves
    dispatch = next(row for row in body["history"] if row["transition"] == "dispatch")
    assert dispatch["actor"] == integration.username
    assert dispatch["reason"] == "picked up"
    assert dispatch["source"] == "api"


def test_it_answers_404_in_the_error_shape_for_an_unknown_order(api):
    response = api.get(f"{ORDERS}ORD-999999/")

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "No order ORD-999999."}


# --- list ---------------------------------------------------------------------------------------


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.json()
    return [row["number"] for row in response.json()["results"]]


def test_it_filters_the_list_by_status(api):
    pending = make_order()
    done = confirmed()

    assert _numbers(api.get(ORDERS, {"status": "confirmed"})) == [done.number]
    assert set(_numbers(api.get(ORDERS, {"status": "pending,confirmed"}))) == {pending.number, done.number}


def test_it_refuses_an_unknown_status_filter(api):
    response = api.get(ORDERS, {"status": "shipped"})

    assert response.status_code == 400
    assert "status" in response.json()["fields"]


def test_it_filters_the_list_by_updated_since(api):
    old = make_order()
    new = make_order()
    Order.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()

    assert _numbers(api.get(ORDERS, {"updated_since": since})) == [new.number]


def test_it_takes_an_unencoded_plus_in_updated_since(api):
    make_order()
    # "+00:00" sent raw in a query string arrives as " 00:00".
    response = api.get(f"{ORDERS}?updated_since=2000-01-01T00:00:00+00:00")

    assert len(_numbers(response)) == 1


def test_it_refuses_an_updated_since_that_is_not_iso_8601(api):
    response = api.get(ORDERS, {"updated_since": "yesterday"})

    assert response.status_code == 400
    assert "updated_since" in response.json()["fields"]


def test_it_filters_the_list_by_brand(api):
    acme = BrandFactory(slug="acme", order_prefix="ACME")
    make_order()
    theirs = make_order(brand=acme)

    assert _numbers(api.get(ORDERS, {"brand": "acme"})) == [theirs.number]


def test_it_pages_the_list_oldest_change_first_without_repeats(api):
    made = [make_order() for _ in range(5)]
    # An order that changed last comes last, whatever its age.
    services.order_set_flags(order=made[0], source="api", inventory_allocated=True)

    seen: list[str] = []
    url = f"{ORDERS}?page_size=2"
    pages = 0
    while url and pages < 10:
        response = api.get(url)
        seen += _numbers(response)
        url = response.json()["next"]
        pages += 1

    assert pages == 3
    assert seen == [o.number for o in made[1:]] + [made[0].number]


# --- PATCH --------------------------------------------------------------------------------------


def test_it_parks_an_order_on_hold_and_resumes_it_when_the_hold_clears(api):
    order = confirmed()

    held = api.patch(detail(order), {"regulatory_hold": True, "regulatory_hold_reason": "export check"}, format="json")
    cleared = api.patch(detail(order), {"regulatory_hold": False}, format="json")

    assert held.status_code == 200
    assert held.json()["status"] == "on_hold"
    assert held.json()["regulatory_hold_reason"] == "export check"
    assert cleared.status_code == 200
    assert cleared.json()["status"] == "confirmed"
    assert cleared.json()["regulatory_hold"] is False


def test_it_refuses_a_hold_without_a_reason(api):
    order = make_order()

    response = api.patch(detail(order), {"regulatory_hold": True}, format="json")

    assert response.status_code == 400
    assert "regulatory_hold_reason" in response.json()["fields"]
    order.refresh_from_db()
    assert (order.status, order.regulatory_hold) == ("pending", False)


def test_it_sets_inventory_allocated(api):
    order = make_order()

    response = api.patch(detail(order), {"inventory_allocated": True}, format="json")

    assert response.status_code == 200
    assert response.json()["inventory_allocated"] is True
    order.refresh_from_db()
    assert order.inventory_allocated is True


def test_it_refuses_to_patch_the_status_or_any_other_field(api):
    order = make_order()

    response = api.patch(detail(order), {"status": "delivered", "currency": "EUR"}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {
        "status": ["This field is read-only."],
        "currency": ["This field is read-only."],
    }
    order.refresh_from_db()
    assert (order.status, order.currency) == ("pending", "USD")


def test_it_refuses_patch_without_the_change_permission():
    order = make_order()

    response = client_for(user_with("view_order")).patch(detail(order), {"inventory_allocated": True}, format="json")

    assert response.status_code == 403


# --- transitions --------------------------------------------------------------------------------


def test_it_moves_an_order_and_answers_with_the_whole_order(api):
    order = make_order()

    response = api.post(f"{detail(order)}transitions/", {"transition": "confirm"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "confirmed"
    assert {"name": "start_processing", "target": "processing"} in response.json()["allowed_transitions"]
    order.refresh_from_db()
    assert order.status == "confirmed"


def test_it_refuses_dispatch_without_inventory_with_409_and_why(api):
    order = confirmed()
    ship(order)

    response = api.post(f"{detail(order)}transitions/", {"transition": "dispatch"}, format="json")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "transition_not_allowed"
    assert body["reason"] == "condition_failed:inventory_is_allocated"
    assert body["status"] == "confirmed"
    assert {"name": "cancel", "target": "cancelled"} in body["allowed_transitions"]
    assert "dispatch" not in [t["name"] for t in body["allowed_transitions"]]


def test_it_refuses_an_unknown_or_system_transition_with_409(api):
    order = make_order()

    unknown = api.post(f"{detail(order)}transitions/", {"transition": "teleport"}, format="json")
    system = api.post(f"{detail(order)}transitions/", {"transition": "hold"}, format="json")

    assert (unknown.status_code, unknown.json()["reason"]) == (409, "unknown_transition")
    assert (system.status_code, system.json()["reason"]) == (409, "unknown_transition")


def test_it_refuses_a_move_with_403_when_the_caller_may_not_move_orders():
    order = make_order()

    response = client_for(user_with("view_order")).post(
        f"{detail(order)}transitions/", {"transition": "confirm"}, format="json"
    )

    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "pending"


# --- shipments ----------------------------------------------------------------------------------


def test_it_registers_a_shipment_with_a_tracking_id(api):
    order = make_order(lines=[("A", 2), ("B", 1)])

    response = api.post(
        f"{detail(order)}shipments/",
        {"carrier": "easypost", "tracking_number": "EZ1000", "service_level": "Priority", "eta": "2026-11-25"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    shipment = Shipment.objects.get()
    assert body["tracking_id"] == shipment.tracking_id
    assert body["tracking_id"].startswith("OMS")
    assert body["order"] == order.number
    assert body["eta"] == "2026-11-25"
    assert body["status"] == "info_received"
    assert body["lines"] == [{"sku": "A", "quantity": 2}, {"sku": "B", "quantity": 1}]


def test_it_refuses_a_shipment_line_with_an_unknown_sku(api):
    order = make_order()

    response = api.post(
        f"{detail(order)}shipments/",
        {"carrier": "ups", "tracking_number": "1Z1", "lines": [{"sku": "NOPE", "quantity": 1}]},
        format="json",
    )

    assert response.status_code == 400
    assert "lines" in response.json()["fields"]
    assert Shipment.objects.count() == 0


def test_it_refuses_to_ship_more_than_was_ordered(api):
    order = make_order(lines=[("A", 2)])
    ship(order, lines=[("A", 1)])

    response = api.post(
        f"{detail(order)}shipments/",
        {"carrier": "ups", "tracking_number": "1Z2", "lines": [{"sku": "A", "quantity": 2}]},
        format="json",
    )

    assert response.status_code == 400
    assert "lines" in response.json()["fields"]
    assert Shipment.objects.count() == 1


def test_a_split_shipment_leaves_the_order_partially_shipped_after_dispatch(api):
    order = confirmed(lines=[("A", 1), ("B", 1)])
    api.patch(detail(order), {"inventory_allocated": True}, format="json")
    first = api.post(
        f"{detail(order)}shipments/",
        {"carrier": "ups", "tracking_number": "1Z3", "lines": [{"sku": "A", "quantity": 1}]},
        format="json",
    )

    response = api.post(f"{detail(order)}transitions/", {"transition": "dispatch"}, format="json")

    assert first.status_code == 201
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "partially_shipped"


def test_it_refuses_a_shipment_without_the_add_shipment_permission():
    order = make_order()

    response = client_for(user_with("view_order", "change_order")).post(
        f"{detail(order)}shipments/", {"carrier": "ups", "tracking_number": "1Z4"}, format="json"
    )

    assert response.status_code == 403
    assert Shipment.objects.count() == 0


# --- query counts and throttling ----------------------------------------------------------------


def _busy_order(n: int) -> Order:
    """Three lines, two parcels on the road with scans, a third waiting at the dock: dispatch is offered."""
    order = confirmed(lines=[("A", 2), ("B", 1), ("C", 1)], external_id=f"BUSY-{n}", inventory_allocated=True)
    for i, sku in enumerate("AB"):
        shipment = ship(order, lines=[(sku, 1)], tracking_number=f"1Z{n}{i}")
        scan(shipment, "in_transit", minutes=i, description="Departed")
        scan(shipment, "out_for_delivery", minutes=i + 10, description="On the van")
    ship(order, lines=[("C", 1)], tracking_number=f"1Z{n}C")
    return order


def test_the_list_takes_a_bounded_number_of_queries_whatever_its_size(api, django_assert_max_num_queries):
    for n in range(12):
        _busy_order(n)

    with django_assert_max_num_queries(12):
        response = api.get(ORDERS)

    assert len(_numbers(response)) == 12
    assert all(len(row["shipments"]) == 3 for row in response.json()["results"])


def test_the_detail_takes_a_bounded_number_of_queries_whatever_its_size(api, django_assert_max_num_queries):
    order = _busy_order(0)

    with django_assert_max_num_queries(12):
        response = api.get(detail(order))

    body = response.json()
    assert body["status"] == "partially_shipped"
    assert [t["name"] for t in body["allowed_transitions"]] == ["dispatch"]
    assert sum(len(s["events"]) for s in body["shipments"]) == 4


def test_it_throttles_a_caller_past_the_rate(api, monkeypatch):
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/min"})
    cache.clear()
    try:
        statuses = [api.get(ORDERS).status_code for _ in range(3)]
        refused = api.get(ORDERS)
    finally:
        cache.clear()

    assert statuses == [200, 200, 429]
    assert refused.json()["error"] == "throttled"
    assert int(refused["Retry-After"]) > 0


def test_it_answers_405_to_a_method_a_route_does_not_take(api):
    order = make_order()

    assert api.get(f"{detail(order)}transitions/").status_code == 405
    assert api.put(detail(order), payload(), format="json").status_code == 405
    assert api.delete(detail(order)).status_code == 405
