"""The registry of personal data: every field that could hold some is classified, and the list stays true."""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldDoesNotExist

from privacy import registry
from privacy.registry import BY_MODEL, POLICIES, Policy


def test_every_text_json_binary_and_ip_field_of_every_model_is_classified():
    assert registry.unclassified() == {}, "classify these fields in privacy/registry.py (personal or keep)"


def test_a_field_left_out_of_the_registry_is_reported(monkeypatch):
    policy = BY_MODEL["orders.Customer"]
    monkeypatch.setitem(BY_MODEL, "orders.Customer", Policy(policy.model, personal={}, keep=policy.keep))

    assert registry.unclassified() == {"orders.Customer": ["name", "email", "phone"]}


def test_the_walk_covers_every_app_of_the_project_and_the_admin_log():
    labels = {m._meta.label for m in registry.project_models()}

    assert {"orders.Customer", "carriers.RawWebhook", "notifications.Notification", "admin.LogEntry"} <= labels
    assert "auth.Permission" not in labels


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.model)
def test_every_classified_field_and_customer_path_exists(policy):
    model = policy.model_class
    for name in [*policy.personal, *policy.keep, *policy.extra_personal]:
        try:
            model._meta.get_field(name)
        except FieldDoesNotExist:
            pytest.fail(f"{policy.model}.{name} is in the registry but not on the model")
    for path in policy.customer:
        model._default_manager.filter(**{path: 1}).query  # noqa: B018  (raises FieldError on a bad path)


def test_no_field_is_both_personal_and_kept():
    for policy in POLICIES:
        assert not set(policy.personal) & set(policy.keep), policy.model
