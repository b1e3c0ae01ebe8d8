"""Fakes of the issue-6 platforms: each checks auth and required fields as the vendor does and answers like it.

Shapes follow ../shared/fixtures (slack_*, teams_*, google_chat_*, whatsapp_cloud_*, mailgun_*);
MessageBird and Mailgun sending follow the vendors' documented formats (see each class).
"""

from __future__ import annotations

import base64
import secrets
import time

from tests.fakes.providers import _fixture_json
from tests.fakes.server import FakeServer, Recorded, Reply


def _text(status: int, body: str) -> Reply:
    return Reply(status, body.encode(), {"Content-Type": "text/plain"})


class FakeSlackAPI(FakeServer):
    """Web API chat.postMessage: Bearer bot token, JSON body; errors are HTTP 200 {"ok": false, "error": ...}."""

    def __init__(self, token: str = "xoxb-test-token") -> None:
        super().__init__()
        self.tokens = {token}
        self.revoked: set[str] = set()
        self.channels = {"C0OPS", "C0ALERTS"}
        self.archived: set[str] = set()

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != "/api/chat.postMessage":
            return Reply.json(404, {"ok": False, "error": "unknown_method"})
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if token in self.revoked:
            return Reply.json(200, {"ok": False, "error": "token_revoked"})
        if token not in self.tokens:
            return Reply.json(200, {"ok": False, "error": "invalid_auth"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return Reply.json(200, {"ok": False, "error": "invalid_form_data"})
        body = request.json or {}
        channel = body.get("channel")
        if not channel or channel not in self.channels:
            return Reply.json(200, {"ok": False, "error": "channel_not_found"})
        if channel in self.archived:
            return Reply.json(200, {"ok": False, "error": "is_archived"})
        if not body.get("text") and not body.get("blocks"):
            return Reply.json(200, {"ok": False, "error": "no_text"})
        if "blocks" in body and not isinstance(body["blocks"], list):
            return Reply.json(200, {"ok": False, "error": "invalid_blocks"})
        ts = f"{time.time():.6f}"
        return Reply.json(200, {"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text")}})


class FakeSlackWebhook(FakeServer):
    """Incoming webhooks at /services/T…/B…/secret: 200 "ok", else a plain-text error code."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks = {"/services/T000/B000/XXXXXXXX"}
        self.archived: set[str] = set()

    def hook_url(self, path: str = "/services/T000/B000/XXXXXXXX") -> str:
        return f"{self.url}{path}"

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path not in self.hooks:
            return _text(404, "no_service")
        if request.path in self.archived:
            return _text(410, "channel_is_archived")
        try:
            body = request.json
        except ValueError:
            return _text(400, "invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks")):
            return _text(400, "no_text")
        return _text(200, "ok")


class FakeTeamsWorkflow(FakeServer):
    """A Workflows trigger URL (…/workflows/<id>/triggers/manual/paths/invoke?…&sig=…): 202, no body."""

    def __init__(self) -> None:
        super().__init__()
        self.workflows = {"wf1": "sig-wf1"}

    def hook_url(self, workflow: str = "wf1", sig: str | None = None) -> str:
        sig = sig or self.workflows.get(workflow, "nope")
        path = f"/workflows/{workflow}/triggers/manual/paths/invoke"
        return f"{self.url}{path}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}"

    def respond(self, request: Recorded) -> Reply:
        parts = request.path.split("/")
        workflow = parts[2] if len(parts) > 2 and parts[1] == "workflows" else ""
        if request.method != "POST" or workflow not in self.workflows:
            return Reply.json(404, {"error": {"code": "WorkflowTriggerNotFound", "message": "Not found."}})
        if (request.query.get("sig") or [""])[0] != self.workflows[workflow]:
            return Reply.json(401, {"error": {"code": "DirectApiAuthorizationRequired", "message": "Bad sig."}})
        body = request.json or {}
        attachments = body.get("attachments") or []
        card = (attachments[0] or {}).get("content") if attachments else None
        if (
            body.get("type") != "message"
            or not attachments
            or attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive"
            or not isinstance(card, dict)
            or card.get("type") != "AdaptiveCard"
            or not card.get("version")
            or not card.get("body")
        ):
            return Reply.json(400, {"error": {"code": "InvalidRequestContent", "message": "Not an Adaptive Card."}})
        return Reply(202, b"")


class FakeGoogleChat(FakeServer):
    """spaces.messages.create through a space webhook: ?key=…&token=…, answers the Message resource."""

    def __init__(self) -> None:
        super().__init__()
        self.spaces = {"AAAA1234": ("key-1", "token-1")}

    def hook_url(self, space: str = "AAAA1234", token: str | None = None) -> str:
        key, good = self.spaces.get(space, ("key-x", "token-x"))
        return f"{self.url}/v1/spaces/{space}/messages?key={key}&token={token or good}"

    @staticmethod
    def _error(status: int, code: str, message: str) -> Reply:
        return Reply.json(status, {"error": {"code": status, "message": message, "status": code}})

    def respond(self, request: Recorded) -> Reply:
        parts = request.path.split("/")  # ["", "v1", "spaces", SPACE, "messages"]
        space = parts[3] if len(parts) == 5 and parts[2] == "spaces" and parts[4] == "messages" else ""
        if request.method != "POST" or space not in self.spaces:
            return self._error(404, "NOT_FOUND", "Requested entity was not found.")
        key, token = self.spaces[space]
        if (request.query.get("key") or [""])[0] != key or (request.query.get("token") or [""])[0] != token:
            return self._error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        body = request.json or {}
        if not body.get("text") and not body.get("cardsV2"):
            return self._error(400, "INVALID_ARGUMENT", "Message cannot be empty.")
        name = f"spaces/{space}/messages/{secrets.token_hex(6)}.{secrets.token_hex(6)}"
        return Reply.json(200, {"name": name, "text": body.get("text", ""), "space": {"name": f"spaces/{space}"}})


class FakeWhatsAppCloud(FakeServer):
    """Graph API POST /<version>/<phone number id>/messages, Bearer token; Graph-style errors."""

    version = "v21.0"

    def __init__(self, token: str = "EAAG-test-token", phone_number_id: str = "106540352242922") -> None:
        super().__init__()
        self.token, self.phone_number_id = token, phone_number_id
        self.templates = {("order_delayed", "en_US"), ("order_delayed", "es"), ("hello_world", "en_US")}

    @property
    def base_url(self) -> str:
        return f"{self.url}/{self.version}"

    @staticmethod
    def _error(status: int, code: int, message: str, kind: str = "OAuthException") -> Reply:
        error = {"message": message, "type": kind, "code": code, "fbtrace_id": secrets.token_urlsafe(8)}
        return Reply.json(status, {"error": error})

    def respond(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path != f"/{self.version}/{self.phone_number_id}/messages":
            return self._error(400, 100, "Unsupported post request.", "GraphMethodException")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self._error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        try:
            body = request.json
        except ValueError:
            return self._error(400, 100, "Invalid parameter")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return self._error(400, 100, "The parameter messaging_product is required.")
        to = str(body.get("to", ""))
        if not to.lstrip("+").isdigit():
            return self._error(400, 100, "Invalid parameter: to")
        if body.get("type") != "template":
            return self._error(400, 131047, "Re-engagement message", "OAuthException")
        template = body.get("template") or {}
        key = (template.get("name"), (template.get("language") or {}).get("code"))
        if key not in self.templates:
            return self._error(404, 132001, "Template name does not exist in the translation")
        answer = dict(_fixture_json("whatsapp_cloud_send_response.json"))
        answer["contacts"] = [{"input": to, "wa_id": to.lstrip("+")}]
        answer["messages"] = [{"id": "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()}]
        return Reply.json(200, answer)


class FakeMailgun(FakeServer):
    """POST /v3/<domain>/messages, Basic auth api:<key>, form fields (Mailgun's sending API reference)."""

    def __init__(self, api_key: str = "key-test-mailgun", domain: str = "mg.brand.example") -> None:
        super().__init__()
        self.api_key, self.domain = api_key, domain

    def respond(self, request: Recorded) -> Reply:
        expected = "Basic " + base64.b64encode(f"api:{self.api_key}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return _text(401, "Forbidden")
        parts = request.path.split("/")  # ["", "v3", domain, "messages"]
        if request.method != "POST" or len(parts) != 4 or parts[1] != "v3" or parts[3] != "messages":
            return Reply.json(404, {"message": "Not Found"})
        if parts[2] != self.domain:
            return Reply.json(404, {"message": f"Domain not found: {parts[2]}"})
        if "form" not in request.headers.get("content-type", ""):
            return Reply.json(400, {"message": "'from' parameter is missing"})
        for name in ("from", "to", "subject"):
            if not request.field(name):
                return Reply.json(400, {"message": f"'{name}' parameter is missing"})
        if not (request.field("text") or request.field("html") or request.field("template")):
            return Reply.json(
                400, {"message": "Need at least one of 'text', 'html' or 'template' parameters specified"}
            )
        message_id = f"<{time.strftime('%Y%m%d%H%M%S')}.{secrets.token_hex(8).upper()}@{self.domain}>"
        return Reply.json(200, {"id": message_id, "message": "Queued. Thank you."})


class FakeMessageBird(FakeServer):
    """REST API POST /messages with "Authorization: AccessKey <key>" (MessageBird SMS API reference)."""

    def __init__(self, access_key: str = "live_testaccesskey") -> None:
        super().__init__()
        self.access_key = access_key

    @staticmethod
    def _error(status: int, code: int, description: str, parameter: str | None = None) -> Reply:
        return Reply.json(status, {"errors": [{"code": code, "description": description, "parameter": parameter}]})

    def respond(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"AccessKey {self.access_key}":
            return self._error(401, 2, "Request not allowed (incorrect access_key)")
        if request.method != "POST" or request.path != "/messages":
            return self._error(404, 20, "message not found")
        try:
            body = request.json if "json" in request.headers.get("content-type", "") else {}
        except ValueError:
            body = {}
        if not body.get("originator"):
            return self._error(422, 9, "originator is required", "originator")
        recipients = body.get("recipients") or []
        if not recipients or not all(str(r).lstrip("+").isdigit() for r in recipients):
            return self._error(422, 9, "no (correct) recipients found", "recipients")
        if not body.get("body"):
            return self._error(422, 9, "body is required", "body")
        message_id = secrets.token_hex(16)
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        items = [{"recipient": int(str(r).lstrip("+")), "status": "sent", "statusDatetime": now} for r in recipients]
        answer = {
            "id": message_id,
            "href": f"https://rest.messagebird.com/messages/{message_id}",
            "direction": "mt",
            "type": "sms",
            "originator": body["originator"],
            "body": body["body"],
            "reference": body.get("reference"),
            "createdDatetime": now,
            "recipients": {"totalCount": len(items), "totalSentCount": len(items), "items": items},
        }
        return Reply.json(201, answer)


class FakeMessageBirdConversations(FakeServer):
    """Conversations API POST /v1/send, "Authorization: AccessKey <key>", WhatsApp template ("hsm") messages.

    Checks what MessageBird checks: the access key (401, code 1001 as in its error example), a
    known WhatsApp channel as `from`, a recipient number, type "hsm" with namespace, templateName,
    language {policy, code} and params [{default}] of an approved template; answers 202 with
    {"id", "status": "accepted"} (the shape of the Go SDK's messageSendResponse.json fixture).
    """

    def __init__(self, access_key: str = "live_testaccesskey", channel_id: str = "619747f69cf940a98fb443140ce9aed2"):
        super().__init__()
        self.access_key, self.channel_id = access_key, channel_id
        self.namespace = "fa7dc6ea_f838_47e1_884c_965e50f358b6"
        # (namespace, template, language) -> number of parameters the approved template takes.
        self.templates = {(self.namespace, "order_delayed", "en_US"): 3, (self.namespace, "order_delayed", "es"): 3}

    @staticmethod
    def _error(status: int, code: int, description: str, parameter: str | None = None) -> Reply:
        return Reply.json(status, {"errors": [{"code": code, "description": description, "parameter": parameter}]})

    def respond(self, request: Recorded) -> Reply:
        if request.headers.get("authorization") != f"AccessKey {self.access_key}":
            return self._error(401, 1001, "You are requesting with an invalid credential.")
        if request.method != "POST" or request.path != "/v1/send":
            return self._error(404, 1003, "Not found")
        try:
            body = request.json if "json" in request.headers.get("content-type", "") else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._error(400, 21, "Request body is not valid JSON")
        if body.get("from") != self.channel_id:
            return self._error(404, 1003, "channel not found", "from")
        if not str(body.get("to", "")).lstrip("+").isdigit():
            return self._error(400, 21, "to is invalid", "to")
        if body.get("type") != "hsm":
            # Outside the 24 h window WhatsApp only takes templates.
            return self._error(400, 21, "type must be hsm for business-initiated messages", "type")
        hsm = (body.get("content") or {}).get("hsm") or {}
        language = hsm.get("language") or {}
        if language.get("policy") not in ("deterministic", "fallback") or not language.get("code"):
            return self._error(400, 21, "content.hsm.language is invalid", "content.hsm.language")
        params = hsm.get("params")
        if not isinstance(params, list) or not all(isinstance(p, dict) and "default" in p for p in params):
            return self._error(400, 21, "content.hsm.params is invalid", "content.hsm.params")
        key = (hsm.get("namespace"), hsm.get("templateName"), language["code"])
        if key not in self.templates:
            return self._error(400, 21, "template not found", "content.hsm.templateName")
        if len(params) != self.templates[key]:
            return self._error(400, 21, "wrong number of template parameters", "content.hsm.params")
        return Reply.json(202, {"id": secrets.token_hex(16), "status": "accepted"})
