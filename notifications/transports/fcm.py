"""Push through Firebase Cloud Messaging HTTP v1, over plain HTTP with requests.

Auth is a service-account OAuth2 access token: a JWT signed with the account's private key is
exchanged at the credentials file's `token_uri` and cached until shortly before it expires.
"""

from __future__ import annotations

import base64
import json
import threading
import time

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from django.conf import settings

from notifications.models import DeviceToken, Notification
from notifications.transports.base import SendResult, Transport, TransportError, parse_retry_after, transient_http

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM error statuses that mean the token is dead: stop using the device.
DEAD_TOKEN = {"UNREGISTERED", "NOT_FOUND"}
PERMANENT = {"INVALID_ARGUMENT", "SENDER_ID_MISMATCH", "PERMISSION_DENIED", "UNREGISTERED", "NOT_FOUND"}

_lock = threading.Lock()
_token: dict = {}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _access_token(session: requests.Session) -> str:
    with _lock:
        if _token.get("value") and _token.get("expires", 0) > time.time() + 60:
            return _token["value"]
        with open(settings.FCM_CREDENTIALS_FILE) as fh:
            creds = json.load(fh)
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": creds.get("private_key_id", "")}
        claims = {
            "iss": creds["client_email"],
            "scope": SCOPE,
            "aud": creds["token_uri"],
            "iat": now,
            "exp": now + 3600,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        key = serialization.load_pem_private_key(creds["private_key"].encode(), password=None)
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        response = session.post(
            creds["token_uri"],
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": f"{signing_input}.{_b64(signature)}",
            },
            timeout=Transport.timeouts(),
        )
        if response.status_code != 200:
            raise TransportError(
                f"FCM token exchange failed ({response.status_code})",
                permanent=not transient_http(response.status_code),
                code="oauth",
                http_status=response.status_code,
            )
        body = response.json()
        _token.update(value=body["access_token"], expires=time.time() + int(body.get("expires_in", 3600)))
        return _token["value"]


def forget_access_token() -> None:
    with _lock:
        _token.clear()


class FCMTransport(Transport):
    provider = "fcm"

    def payload(self, notification: Notification, token: str) -> dict:
        return {
            "message": {
                "token": token,
                "notification": {"title": notification.subject, "body": notification.body_text},
                # FCM data values must be strings.
                "data": {k: str(v) for k, v in (notification.data or {}).items() if not isinstance(v, dict)},
                "android": {"priority": "high" if notification.urgent else "normal"},
            }
        }

    def send(self, notification: Notification) -> SendResult:
        device = DeviceToken.objects.get(pk=int(notification.recipient.split(":", 1)[1]))
        session = requests.Session()
        url = f"{settings.FCM_API_BASE_URL.rstrip('/')}/v1/projects/{settings.FCM_PROJECT_ID}/messages:send"
        try:
            token = _access_token(session)
            response = session.post(
                url,
                json=self.payload(notification, device.token),
                headers={"Authorization": f"Bearer {token}"},
                timeout=self.timeouts(),
            )
        except requests.Timeout as exc:
            raise TransportError("timeout talking to FCM", code="timeout") from exc
        except requests.ConnectionError as exc:
            raise TransportError("connection error talking to FCM", code="connection") from exc
        if response.status_code == 200:
            return SendResult(message_id=response.json().get("name", ""), http_status=200)
        if response.status_code == 401:
            forget_access_token()
        try:
            error = response.json().get("error", {})
        except ValueError:
            error = {}
        status = str(error.get("status", ""))
        if status in DEAD_TOKEN:
            DeviceToken.objects.filter(pk=device.pk).update(active=False, last_error=status)
        raise TransportError(
            str(error.get("message") or f"FCM answered {response.status_code}"),
            permanent=status in PERMANENT or not transient_http(response.status_code) and response.status_code != 401,
            code=status or f"http_{response.status_code}",
            http_status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
