"""Failover under fire: the primary email provider dies mid-run under a real Celery worker.

The primary (SendGrid fake) accepts the first messages, then takes one more, holds it past the
client's read timeout (accepted but never answered: the provider's crash) and stops listening.
Everything after that fails over to Mailgun; once the circuit is open the worker does not even
try the dead provider. Nothing may be lost, and the only duplicates allowed are the messages the
primary accepted without answering. The counts are printed (run with -s to see them).
"""

from __future__ import annotations

import threading
import time

import pytest

from notifications import services
from notifications.models import DeliveryAttempt, Notification
from tests.e2e.conftest import celery_worker_process, wait_for  # noqa: F401  (the fixture)
from tests.factories import make_order
from tests.fakes.channels import FakeMailgun
from tests.fakes.providers import FakeSendGrid

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
S = Notification.Status
MESSAGES = 30
DIES_AT = 10  # the 10th request is accepted and never answered; the process is gone after it


class DyingSendGrid(FakeSendGrid):
    def __init__(self) -> None:
        super().__init__()
        self.accepted_unanswered: list[str] = []

    def respond(self, request):
        reply = super().respond(request)
        if len(self.requests) == DIES_AT:
            self.accepted_unanswered.append(request.json["custom_args"]["notification"])
            threading.Thread(target=self.stop, daemon=True).start()
            time.sleep(1.5)  # longer than the worker's read timeout: it gives up before we "answer"
            return None
        return reply


@pytest.fixture
def fakes(monkeypatch, settings):
    primary, secondary = DyingSendGrid().start(), FakeMailgun().start()
    env = {
        "SENDGRID_API_KEY": primary.api_key,
        "SENDGRID_API_HOST": primary.url,
        "MAILGUN_API_KEY": secondary.api_key,
        "MAILGUN_DOMAIN": secondary.domain,
        "MAILGUN_API_BASE_URL": secondary.url,
        "NOTIFY_FAILOVER_AFTER_ATTEMPTS": "1",
        "NOTIFY_CIRCUIT_FAILURES": "3",
        "NOTIFY_CIRCUIT_OPEN_SECONDS": "600",
        "NOTIFY_CONNECT_TIMEOUT": "1",
        "NOTIFY_READ_TIMEOUT": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings.SENDGRID_API_KEY, settings.MAILGUN_API_KEY, settings.MAILGUN_DOMAIN = (
        primary.api_key,
        secondary.api_key,
        secondary.domain,
    )
    yield primary, secondary
    secondary.stop()


@pytest.fixture
def worker(fakes, request):
    # After the environment is set: the worker process reads it at start-up.
    return request.getfixturevalue("celery_worker_process")


def test_killing_the_primary_mid_run_loses_nothing_and_duplicates_only_what_it_accepted_unanswered(fakes, worker):
    primary, secondary = fakes
    order = make_order()
    rows = Notification.objects.bulk_create(
        Notification(
            idempotency_key=f"kill:{i}",
            order=order,
            customer=order.customer,
            event="delayed",
            audience="customer",
            channel="email",
            provider="sendgrid",
            recipient=f"customer{i}@example.com",
            subject=f"Your order is delayed ({i})",
            body_text="A storm is slowing your parcel down.",
        )
        for i in range(MESSAGES)
    )
    services.enqueue([n.pk for n in rows])
    wait_for(lambda: Notification.objects.filter(status=S.SENT).count() == MESSAGES, timeout=90, interval=0.2)

    ids = {str(n.public_id) for n in Notification.objects.all()}
    at_primary = [r.json["custom_args"]["notification"] for r in primary.requests]
    at_secondary = [r.field("v:notification") for r in secondary.requests]
    lost = ids - set(at_primary) - set(at_secondary)
    duplicates = set(at_primary) & set(at_secondary)
    via = {p: Notification.objects.filter(provider=p).count() for p in ("sendgrid", "mailgun")}
    skipped_primary = sum(
        1
        for n in Notification.objects.all()
        if not DeliveryAttempt.objects.filter(notification=n, provider="sendgrid").exists()
    )
    print(
        f"\nkill-primary: {MESSAGES} messages; primary took {len(at_primary)} requests and died at #{DIES_AT}; "
        f"carried by sendgrid {via['sendgrid']}, mailgun {via['mailgun']}; "
        f"{skipped_primary} never tried the dead primary (circuit open); "
        f"accepted-but-unanswered {len(primary.accepted_unanswered)}; duplicates {len(duplicates)}; lost {len(lost)}"
    )
    assert not lost
    assert duplicates == set(primary.accepted_unanswered) and len(duplicates) == 1
    assert len(at_primary) == len(set(at_primary)) and len(at_secondary) == len(set(at_secondary))
    assert via == {"sendgrid": DIES_AT - 1, "mailgun": MESSAGES - DIES_AT + 1}
    assert skipped_primary > 0  # the circuit opened: later messages went straight to the secondary
    for n in Notification.objects.all():
        carrier = DeliveryAttempt.objects.get(notification=n, outcome=DeliveryAttempt.Outcome.SUCCESS)
        assert carrier.provider == n.provider  # the attempt rows show who carried it
