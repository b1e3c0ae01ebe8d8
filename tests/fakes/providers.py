"""Fakes of the provider APIs, speaking the wire formats in ../shared/fixtures (and rejecting what they reject)."""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.server import FakeServer, Recorded, Reply

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@functools.cache
def _fixture_text(name: str) -> str:
    path = FIXTURES / name
    return path.read_text() if path.exists() else "{}"


def _fixture_json(name: str) -> dict:
    # Read from disk once: a benchmark's fake answers hundreds of requests a second on the same cores.
    return json.loads(_fixture_text(name))


class FakeTwilio(FakeServer):
    """POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth, form fields as the SDK sends them."""

    def __init__(self, account_sid: str = "AC" + "a" * 32, auth_token: str = "twilio-test-token") -> None:
        super().__init__()
        self.account_sid, self.auth_token = account_sid, auth_token
        self.unsubscribed: set[str] = set()  # numbers that texted STOP: error 21610

    def _error(self, status: int, code: int, message: str) -> Reply:
        more_info = f"https://www.twilio.com/docs/errors/{code}"
        return Reply.json(status, {"code": code, "message": message, "more_info": more_info, "status": status})

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._error(404, 20404, "The requested resource was not found")
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return self._error(401, 20003, "Authenticate")
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return self._error(400, 20001, "Expected form encoding")
        to, sender = request.field("To"), request.field("From")
        channel = "whatsapp" if to.startswith("whatsapp:") else "sms"
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not sender and not request.field("MessagingServiceSid"):
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not (request.field("Body") or request.field("ContentSid") or request.field("MediaUrl")):
            return self._error(400, 21602, "Message body is required.")
        number = to.removeprefix("whatsapp:")
        if not E164.match(number):
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if channel == "whatsapp" and not sender.startswith("whatsapp:"):
            return self._error(400, 63007, "Twilio could not find a Channel with the specified From address")
        if number in self.unsubscribed:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        answer = dict(_fixture_json("twilio_messages_create_response.json"))
        sid = "SM" + secrets.token_hex(16)
        answer.update(
            sid=sid,
            account_sid=self.account_sid,
            to=to,
            body=request.field("Body"),
            status="queued",
            uri=f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        )
        answer["from"] = sender
        return Reply.json(201, answer)


class FakeSendGrid(FakeServer):
    """POST /v3/mail/send with a Bearer key: 202 and X-Message-Id, or SendGrid's {"errors": [...]}."""

    def __init__(self, api_key: str = "SG.test-key") -> None:
        super().__init__()
        self.api_key = api_key
        self.bouncing: set[str] = set()

    @staticmethod
    def _errors(status: int, message: str, field: str | None = None) -> Reply:
        return Reply.json(status, {"errors": [{"message": message, "field": field, "help": None}]})

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/v3/mail/send":
            return self._errors(404, "Not found")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return self._errors(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            body = request.json
        except ValueError:
            return self._errors(400, "Bad Request")
        if not isinstance(body, dict):
            return self._errors(400, "Bad Request")
        if not (body.get("from") or {}).get("email"):
            return self._errors(400, "The from object must be provided for every email send.", "from")
        recipients = [to.get("email", "") for p in body.get("personalizations") or [] for to in p.get("to") or []]
        if not recipients:
            return self._errors(
                400,
                "The personalizations field is required and must have at least one personalization.",
                "personalizations",
            )
        if any("@" not in r for r in recipients):
            return self._errors(400, "Does not contain a valid address.", "personalizations.0.to.0.email")
        if not body.get("subject") and not body.get("template_id"):
            return self._errors(400, "The subject is required.", "subject")
        content = body.get("content") or []
        if not body.get("template_id") and not any(c.get("value") for c in content):
            return self._errors(
                400, "Unless a valid template_id is provided, the content parameter is required.", "content"
            )
        types = [c.get("type") for c in content]
        if "text/plain" in types and types.index("text/plain") != 0:
            return self._errors(400, "If present, text/plain content must be first.", "content")
        return Reply(202, b"", {"X-Message-Id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")})


class FakeFCM(FakeServer):
    """FCM HTTP v1 plus the OAuth2 token endpoint its service account talks to."""

    def __init__(self, project_id: str = "oms-test") -> None:
        super().__init__()
        self.project_id = project_id
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.client_email = "push@oms-test.iam.gserviceaccount.com"
        self.tokens: set[str] = set()
        self.unregistered: set[str] = set()

    def credentials(self) -> dict:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "k1",
            "private_key": pem,
            "client_email": self.client_email,
            "token_uri": f"{self.url}/token",
        }

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return Reply.json(status, {"error": {"code": status, "message": message, "status": code}})

    def _token(self, request: Recorded) -> Reply:
        form = request.form
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return Reply.json(400, {"error": "unsupported_grant_type"})
        assertion = (form.get("assertion") or [""])[0]
        try:
            head, claims, sig = assertion.split(".")
            pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
            self.key.public_key().verify(
                base64.urlsafe_b64decode(pad(sig)), f"{head}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            data = json.loads(base64.urlsafe_b64decode(pad(claims)))
        except Exception:  # noqa: BLE001 - anything wrong with the JWT is invalid_grant
            return Reply.json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if data.get("iss") != self.client_email or "firebase.messaging" not in data.get("scope", ""):
            return Reply.json(400, {"error": "invalid_scope"})
        if data.get("exp", 0) < time.time():
            return Reply.json(400, {"error": "invalid_grant", "error_description": "expired"})
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return Reply.json(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def respond(self, request: Recorded) -> Reply:
        if request.path == "/token" and request.method == "POST":
            return self._token(request)
        if request.method != "POST" or request.path != f"/v1/projects/{self.project_id}/messages:send":
            return self._error(404, "NOT_FOUND", "Requested entity was not found.")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        try:
            message = request.json["message"]
        except (ValueError, KeyError, TypeError):
            return self._error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        targets = [k for k in ("token", "topic", "condition") if message.get(k)]
        if len(targets) != 1:
            return self._error(400, "INVALID_ARGUMENT", "Exactly one of token, topic or condition is required.")
        if any(not isinstance(v, str) for v in (message.get("data") or {}).values()):
            return self._error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data': values must be strings.")
        if message.get("token") in self.unregistered:
            return self._error(404, "UNREGISTERED", "Requested entity was not found.")
        return Reply.json(200, {"name": f"projects/{self.project_id}/messages/0:{secrets.token_hex(8)}"})


class FakeOneSignal(FakeServer):
    """POST /notifications with "Authorization: Key <key>", targeting include_aliases.external_id."""

    def __init__(self, app_id: str = "00000000-0000-0000-0000-000000000000", api_key: str = "os-test-key") -> None:
        super().__init__()
        self.app_id, self.api_key = app_id, api_key
        self.known_external_ids: set[str] | None = None  # None: every alias is subscribed
        self.seen_keys: dict[str, str] = {}

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/notifications":
            return Reply.json(404, {"errors": ["Not found"]})
        if request.headers.get("authorization") != f"Key {self.api_key}":
            return Reply.json(403, {"errors": ["Access denied.  Please include an 'Authorization: ...' header."]})
        try:
            body = request.json
        except ValueError:
            return Reply.json(400, {"errors": ["Bad request"]})
        if body.get("app_id") != self.app_id:
            return Reply.json(
                400, {"errors": ["app_id not found. You may be missing a Content-Type: application/json header."]}
            )
        if not (body.get("contents") or {}).get("en"):
            return Reply.json(400, {"errors": ["Message Notifications must have English language content"]})
        ids = ((body.get("include_aliases") or {}).get("external_id")) or []
        if not ids or body.get("target_channel") != "push":
            missing = "You must include which players, segments, or tags you wish to send this notification to."
            return Reply.json(400, {"errors": [missing]})
        key = body.get("idempotency_key")
        if key and key in self.seen_keys:
            return Reply.json(200, {"id": self.seen_keys[key], "external_id": None})
        if self.known_external_ids is not None:
            unknown = [i for i in ids if i not in self.known_external_ids]
            if unknown:
                answer = _fixture_json("onesignal_create_notification_response_invalid_alias.json") or {"id": ""}
                answer = {**answer, "errors": {"invalid_aliases": {"external_id": unknown}}}
                return Reply.json(200, answer)
        notification_id = str(uuid.uuid4())
        if key:
            self.seen_keys[key] = notification_id
        return Reply.json(200, {"id": notification_id, "external_id": None})
