"""Schemathesis against our own OpenAPI schema: every operation, with auth, on real data.

Every generated request goes in-process through the WSGI app (no network). The checks are
schemathesis' defaults: no 5xx, every status code, content type, header and body as documented.
FUZZ_API_CASES sets the total number of generated cases (spread over the operations); `make fuzz`
runs a longer campaign. Hypothesis is derandomized and keeps no example database, so a run in CI
is the same run as on a laptop.
"""

from __future__ import annotations

import json
import math
import os
import socket
import zlib

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi import checks

from notifications import netguard, outbound
from notifications.models import Notification
from tests.factories import UserFactory, make_order

TOTAL_CASES = int(os.environ.get("FUZZ_API_CASES", "1000"))
# Left out on purpose: "schema-valid request rejected" flags a filter naming a brand that does not
# exist (a 400 the schema cannot express), and "schema-violating request accepted" flags DRF's
# documented leniency (0/1 for booleans, "12" for integers). Everything else runs, including the
# checks for 5xx, undocumented status codes and content types, body schemas and ignored auth.
NOT_CHECKED = [checks.negative_data_rejection, checks.positive_data_acceptance]


def _load_schema() -> schemathesis.openapi.OpenApiSchema:
    # Through the JSON renderer, exactly as /api/schema/ serves it (Decimal bounds become numbers).
    document = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    schema.app = get_wsgi_application()
    return schema


schema = _load_schema()
OPERATIONS = sum(1 for _ in schema.get_all_operations())
PER_OPERATION = max(1, math.ceil(TOTAL_CASES / OPERATIONS))


@pytest.fixture
def world(db, settings, monkeypatch):
    """A user with every permission, its token, and one of each object the paths name."""
    # Fuzzing is about what the code does with odd input, not about the rate limit.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_CLASSES": []}
    settings.NETGUARD_ALLOW_LOOPBACK = False
    cache.clear()
    # Generated hostnames must never reach a real resolver, nor anything a real network.
    monkeypatch.setattr(netguard.socket, "getaddrinfo", _fake_getaddrinfo)
    monkeypatch.setattr(netguard, "post", _no_network)
    user = UserFactory(is_superuser=True, is_staff=False)
    token = Token.objects.create(user=user).key
    order = make_order()
    endpoint, _ = outbound.endpoint_create(url="https://hooks.example.com/in", event_types=[])
    message = endpoint.messages.create(event_type="order.created", body="{}", order=order)
    notification = Notification.objects.filter(order=order).first()
    real = {
        "number": order.number,
        "token": order.tracking_token,
        "carrier": "generic",
        "id": str(endpoint.pk),
        "/messages/{id}": str(message.pk),
        "/customers/{id}": str(order.customer_id),
        "public_id": str(notification.public_id) if notification else "",
    }
    # Django's test client does the same: a finished request must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {"headers": {"Authorization": f"Token {token}"}, "real": real}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def cases_run():
    """Counts the cases of one operation (hypothesis runs them all inside one test call)."""
    seen: list[str] = []
    yield seen
    # The total promised (FUZZ_API_CASES) is only true if every operation got its share.
    assert len(seen) >= PER_OPERATION, f"only {len(seen)} cases ran for {seen[:1]}"


def _fake_getaddrinfo(host, port, *args, **kwargs):
    if "private" in str(host):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port or 443))]
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))]


def _no_network(*args, **kwargs):
    raise netguard.UnsafeDestination("no_network_in_tests")


def _use_real_objects(case, real: dict) -> None:
    """Point about half of the cases at objects that exist, so they reach the code behind the 404."""
    for name, value in (case.path_parameters or {}).items():
        # An {id} names a message or a customer on some paths, an outbound endpoint on the others.
        known = next((v for k, v in real.items() if k.startswith("/") and k in case.path), None) or real.get(name)
        if known and zlib.crc32(repr(value).encode()) % 2 == 0:
            case.path_parameters[name] = known


@schema.parametrize()
@settings(
    max_examples=PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented_and_never_with_a_5xx(case, world, cases_run):
    _use_real_objects(case, world["real"])
    cases_run.append(case.operation.label)
    case.call_and_validate(headers=world["headers"], excluded_checks=NOT_CHECKED)
