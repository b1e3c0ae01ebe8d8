"""A subscriber endpoint that verifies like a real one (the standardwebhooks library) and helpers."""

from __future__ import annotations

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifications import outbound
from tests.fakes.server import FakeServer, Recorded, Reply

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class FakeReceiver(FakeServer):
    """Answers 204 to a correctly signed message and 401 to anything else, as a receiver must."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        super().__init__()
        self.secrets = list(secrets or [SECRET])
        self.verified: list[dict] = []

    def respond(self, request: Recorded) -> Reply:
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(request.body, request.headers)
            except WebhookVerificationError:
                continue
            self.verified.append(payload)
            return Reply(204)
        return Reply.json(401, {"error": "bad signature"})


@pytest.fixture
def receiver():
    with FakeReceiver() as server:
        yield server


@pytest.fixture
def endpoint(db, receiver):
    created, _ = outbound.endpoint_create(url=f"{receiver.url}/hooks", event_types=[], secret=SECRET)
    return created
