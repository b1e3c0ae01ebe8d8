"""Webhook signature primitives shared by every edge (carriers, order sources, outbound webhooks).

Standard Webhooks (https://www.standardwebhooks.com): headers `webhook-id`, `webhook-timestamp`
(unix seconds) and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256(key,
id + "." + timestamp + "." + body)>` where the key is the base64 part of a `whsec_...` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets


def hmac_sha256(secret: bytes, message: bytes) -> bytes:
    return hmac.new(secret, message, hashlib.sha256).digest()


def equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def base64_hmac_matches(header_value: str | None, body: bytes, secrets: list[str]) -> bool:
    """header = base64(HMAC-SHA256(secret, raw body)) for any of the secrets (Shopify, WooCommerce, ...)."""
    if not header_value or not secrets:
        return False
    try:
        given = base64.b64decode(header_value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return any(equal(hmac_sha256(s.encode(), body), given) for s in secrets)


def standard_secret_key(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        # A plain (non-base64) secret is used as bytes: lenient for hand-made integrations.
        return secret.encode()


def standard_sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """One `v1,<base64>` signature for one secret."""
    digest = hmac_sha256(standard_secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode()


def standard_signature_matches(
    *, msg_id: str, timestamp: str, signature_header: str, body: bytes, secrets: list[str]
) -> bool:
    given = [part.split(",", 1)[1] for part in signature_header.split() if part.startswith("v1,")]
    for secret in secrets:
        expected = standard_sign(secret, msg_id, timestamp, body).split(",", 1)[1]
        if any(equal(expected, candidate) for candidate in given):
            return True
    return False


def new_standard_secret() -> str:
    """A fresh `whsec_` secret: 24 random bytes, base64 (what the reference libraries generate)."""
    return "whsec_" + base64.b64encode(_secrets.token_bytes(24)).decode()
