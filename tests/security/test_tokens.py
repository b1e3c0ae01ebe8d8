"""Customer-facing tokens carry at least 128 bits of entropy; guessing by lookup is rate-limited.

Entropy is measured, not assumed: over many fresh tokens, the observed bits per character times the
length. The lookup form's limit itself is tested in tests/tracking/test_self_service.py
(test_lookups_are_rate_limited_per_client); here: a guesser who hits the limit cannot go on by
changing what they guess, and the page a token opens says nothing to a wrong token.
"""

from __future__ import annotations

import math
import string
from collections import Counter

import pytest
from django.core.cache import cache

from notifications.models import CustomerPreferences, new_preferences_token
from orders.models import Order, new_tracking_token
from tests.factories import make_order

SAMPLE = 4000
URLSAFE = set(string.ascii_letters + string.digits + "-_")


def measured_bits(tokens: list[str]) -> float:
    """Shannon entropy per character over the sample, times the (shortest) token length."""
    counts = Counter("".join(tokens))
    total = sum(counts.values())
    per_char = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_char * min(len(t) for t in tokens)


@pytest.mark.parametrize("make_token", [new_tracking_token, new_preferences_token], ids=["tracking", "preferences"])
def test_each_customer_token_has_at_least_128_bits_of_entropy(make_token):
    tokens = [make_token() for _ in range(SAMPLE)]

    assert len(set(tokens)) == SAMPLE
    assert set("".join(tokens)) <= URLSAFE  # safe in a URL without escaping
    assert measured_bits(tokens) >= 128


@pytest.mark.django_db
def test_the_models_use_those_generators_for_every_new_row():
    order = make_order()
    prefs = CustomerPreferences.objects.get_or_create(customer=order.customer)[0]

    assert Order._meta.get_field("tracking_token").default is new_tracking_token
    assert CustomerPreferences._meta.get_field("token").default is new_preferences_token
    assert len(order.tracking_token) >= 32 and len(prefs.token) >= 32


@pytest.mark.django_db
def test_a_guesser_at_the_limit_is_refused_whatever_they_guess_next(client, settings):
    settings.TRACKING_LOOKUP_LIMIT = 5
    cache.clear()
    order = make_order()
    answers = [client.post("/track/", {"number": order.number, "secret": f"guess{i}@example.com"}) for i in range(5)]
    assert [a.status_code for a in answers] == [404] * 5

    right = client.post("/track/", {"number": order.number, "secret": "ada@example.com"})
    other_number = client.post("/track/", {"number": "ORD-999999", "secret": "ada@example.com"})

    assert (right.status_code, other_number.status_code) == (429, 429)
    cache.clear()


@pytest.mark.django_db
def test_a_wrong_token_gets_the_same_page_as_no_order_at_all(client):
    order = make_order()
    near_miss = order.tracking_token[:-1] + ("A" if order.tracking_token[-1] != "A" else "B")

    near = client.get(f"/t/{near_miss}/")
    nothing = client.get("/t/x/")

    assert near.status_code == nothing.status_code == 404
    assert order.number not in near.content.decode()
