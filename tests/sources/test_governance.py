from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order
from orders.sources import services
from orders.sources.models import RawIntake, SourceAccount, ValidationRule
from tests.factories import UserFactory, make_order
from tests.sources.conftest import generic_order, post_generic

pytestmark = pytest.mark.django_db


def send(client, order: dict, account: str = ""):
    return post_generic(client, {"type": "order.created", "account": account, "order": order})


def rule(kind: str, params: dict | None = None, *, dry_run: bool = False, **kwargs) -> ValidationRule:
    return ValidationRule.objects.create(name=kind, kind=kind, params=params or {}, dry_run=dry_run, **kwargs)


@pytest.mark.parametrize(
    ("kind", "params", "order_changes", "field"),
    [
        ("required_fields", {"fields": ["source_number"]}, {}, "source_number"),
        (
            "address",
            {},
            {"shipping_address": {"line1": "1 Navy Way", "city": "Arlington", "country": "US"}},
            "postcode",
        ),
        ("phone", {}, {"customer": {"name": "Grace", "email": "grace@example.com"}}, "customer.phone"),
        ("currency", {"allowed": ["EUR"]}, {}, "currency"),
        ("sku_allowlist", {"skus": ["TEE-1"], "prefixes": ["CAP-"]}, {}, "lines"),
        ("country", {"allowed": ["CA"]}, {}, "country"),
        ("max_value", {"amount": "10"}, {"total": "19.98"}, "total"),
    ],
)
def test_each_enforced_rule_rejects_what_it_names(client, kind, params, order_changes, field):
    rule(kind, params)

    response = send(client, generic_order(**order_changes))

    assert response.json()["status"] == "rejected"
    assert field in RawIntake.objects.get().error
    assert not Order.objects.exists()


def test_an_order_that_passes_every_rule_is_applied(client):
    rule("sku_allowlist", {"prefixes": ["MUG-"]})
    rule("currency", {"allowed": ["USD"]})

    assert send(client, generic_order()).json()["status"] == "applied"


def test_a_dry_run_rule_records_what_it_would_reject_and_lets_the_order_in(client):
    rule("currency", {"allowed": ["EUR"]}, dry_run=True)

    response = send(client, generic_order())

    assert response.json()["status"] == "applied"
    (finding,) = RawIntake.objects.get().findings
    assert (finding["field"], finding["dry_run"]) == ("currency", True)


def test_a_rule_for_one_account_leaves_other_accounts_alone(client):
    strict = SourceAccount.objects.create(source="generic", identifier="strict-erp")
    rule("currency", {"allowed": ["EUR"]}, account=strict)

    assert send(client, generic_order("A"), account="strict-erp").json()["status"] == "rejected"
    assert send(client, generic_order("B"), account="relaxed-crm").json()["status"] == "applied"


def test_a_rule_for_another_source_does_not_apply(client):
    rule("currency", {"allowed": ["EUR"]}, source="shopify")

    assert send(client, generic_order()).json()["status"] == "applied"


def test_the_dry_run_report_says_what_a_new_rule_would_have_rejected(client):
    send(client, generic_order("A"))
    send(client, generic_order("B", currency="EUR"))
    candidate = ValidationRule(name="euro only", kind="currency", params={"allowed": ["EUR"]})

    report = services.rules_dry_run(rules=[candidate], since=timezone.now() - timedelta(days=1))

    assert (report["checked"], report["would_reject"]) == (2, 1)
    assert report["examples"][0]["external_id"] == "A"


def test_dead_letters_are_ordered_by_value_times_customer_tier_then_age(client):
    rule("currency", {"allowed": ["EUR"]})
    for _ in range(5):
        make_order(email="vip@example.com")  # a customer with five orders: vip
    send(client, generic_order("small", lines=[{"sku": "A", "name": "A", "quantity": 1, "unit_price": "10.00"}]))
    send(client, generic_order("big", lines=[{"sku": "A", "name": "A", "quantity": 1, "unit_price": "100.00"}]))
    vip = generic_order("vip", lines=[{"sku": "A", "name": "A", "quantity": 1, "unit_price": "40.00"}])
    send(client, {**vip, "customer": {"name": "V", "email": "vip@example.com"}})
    send(client, generic_order("small-later", lines=[{"sku": "A", "name": "A", "quantity": 1, "unit_price": "10.00"}]))

    ordered = list(services.dead_letters().values_list("external_id", "customer_tier", "impact"))

    assert [row[0] for row in ordered] == ["vip", "big", "small", "small-later"]
    assert ordered[0][1:] == ("vip", Decimal("120.00"))


def test_retry_applies_a_dead_letter_once_the_cause_is_fixed(client):
    blocking = rule("currency", {"allowed": ["EUR"]})
    send(client, generic_order())
    intake = RawIntake.objects.get()
    blocking.dry_run = True
    blocking.save()

    outcome = services.intake_retry(intake=intake, actor=UserFactory())

    assert outcome.status == "applied"
    assert Order.objects.count() == 1


def test_edit_and_retry_applies_the_corrected_payload_and_keeps_the_original_bytes(client):
    send(client, generic_order(currency="ZZZ"))
    intake = RawIntake.objects.get()
    original = bytes(intake.body)

    outcome = services.intake_edit_and_retry(
        intake=intake, payload={"type": "order.created", "order": generic_order(currency="USD")}
    )

    assert outcome.status == "applied"
    intake.refresh_from_db()
    assert bytes(intake.body) == original
    assert Order.objects.get().currency == "USD"


def test_discard_closes_a_dead_letter(client):
    send(client, generic_order(currency="ZZZ"))
    intake = RawIntake.objects.get()

    services.intake_discard(intake=intake, actor=UserFactory())

    assert not services.dead_letters().exists()
    assert services.intake_retry(intake=intake).status == "discarded"  # nothing runs again


def test_a_high_impact_failure_alerts_staff_once(client, caplog, settings):
    settings.SOURCE_HIGH_IMPACT_VALUE = Decimal("100")
    big = generic_order(currency="ZZZ", lines=[{"sku": "A", "name": "A", "quantity": 3, "unit_price": "50.00"}])
    small = generic_order("S", currency="ZZZ")
    with caplog.at_level(logging.ERROR, logger="oms_notify.alerts.intake"):
        send(client, big)
        send(client, small)
        services.intake_retry(intake=RawIntake.objects.get(external_id="SO-1"))

    alerts = [r for r in caplog.records if r.name == "oms_notify.alerts.intake"]
    assert len(alerts) == 1
    assert (alerts[0].event, alerts[0].order_value) == ("intake.high_impact_failure", "150.00")


def test_the_health_report_gives_last_payload_error_rate_and_backlog(client):
    send(client, generic_order("A"))
    send(client, generic_order("B", currency="ZZZ"))
    services.intake_store(source="generic", body=b"{}", headers={"webhook-id": "msg_waiting"})

    (row,) = services.sources_health()

    assert (row["source"], row["received"], row["error_rate"], row["backlog"]) == ("generic", 3, 0.3333, 1)
    assert row["last_received_at"] is not None


def test_the_sweeper_applies_a_payload_whose_task_was_lost(settings):
    settings.SOURCE_SWEEP_AFTER_SECONDS = 0
    import json

    raw, _ = services.intake_store(
        source="generic", body=json.dumps({"type": "order.created", "order": generic_order()}).encode(), headers={}
    )

    services.intakes_sweep()

    raw.refresh_from_db()
    assert raw.status == "applied"


def test_staff_see_the_dead_letters_health_and_can_edit_a_dead_letter(admin_client, client):
    send(client, generic_order(currency="ZZZ"))
    intake = RawIntake.objects.get()

    assert admin_client.get("/admin/orders/rawintake/?dead=yes").status_code == 200
    assert admin_client.get("/admin/orders/rawintake/health/").status_code == 200
    page = admin_client.get(f"/admin/orders/rawintake/{intake.pk}/change/")
    assert page.status_code == 200 and b"ZZZ" in page.content
    assert admin_client.get("/admin/orders/validationrule/").status_code == 200
    assert admin_client.get("/admin/orders/sourceaccount/add/").status_code == 200


def test_staff_edit_and_retry_a_dead_letter_from_the_admin(admin_client, client):
    import json

    send(client, generic_order(currency="ZZZ"))
    intake = RawIntake.objects.get()
    corrected = {"type": "order.created", "order": generic_order(currency="EUR")}

    response = admin_client.post(
        f"/admin/orders/rawintake/{intake.pk}/change/", {"edited_payload": json.dumps(corrected)}
    )

    assert response.status_code == 302
    intake.refresh_from_db()
    assert intake.status == "applied"
    assert Order.objects.get().currency == "EUR"


def test_a_rule_for_the_api_source_refuses_a_rest_api_order_with_a_400(client):
    from rest_framework.authtoken.models import Token

    from tests.factories import user_in

    rule("currency", {"allowed": ["EUR"]}, source="api")
    token = Token.objects.create(user=user_in("Integrations"))
    body = {"source": "api", **generic_order()}

    response = client.post(
        "/api/v1/orders/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert response.status_code == 400
    assert "currency" in response.json()["fields"]
    assert not Order.objects.exists()


def test_the_health_endpoint_needs_the_permission_and_reports_each_source(client, admin_client):
    send(client, generic_order())

    assert client.get("/webhooks/sources/health/").status_code in (401, 403)
    rows = admin_client.get("/webhooks/sources/health/").json()
    assert [(r["source"], r["received"], r["backlog"]) for r in rows] == [("generic", 1, 0)]
