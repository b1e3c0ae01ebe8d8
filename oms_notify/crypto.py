"""Field encryption for stored secrets (carrier, source and outbound-webhook secrets): Fernet.

FIELD_ENCRYPTION_KEY holds one or more comma-separated Fernet keys; the first encrypts, all
decrypt (MultiFernet), so the key itself can be rotated. Without it (the demo only) a key is
derived from DJANGO_SECRET_KEY, which also lives in the environment.

Moved here from carriers/crypto.py so that orders.sources and notifications use the same keys
without importing the carrier edge; the derivation is unchanged (its "carriers:" salt included),
so secrets stored before the move still decrypt.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretDecryptionError(Exception):
    """A stored secret cannot be decrypted with the configured keys."""


@cache
def _fernet(keys: tuple[str, ...], fallback: str) -> MultiFernet:
    if not keys:
        derived = base64.urlsafe_b64encode(hashlib.sha256(f"carriers:{fallback}".encode()).digest())
        return MultiFernet([Fernet(derived)])
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    keys = tuple(k.strip() for k in settings.FIELD_ENCRYPTION_KEY.split(",") if k.strip())
    return _fernet(keys, settings.SECRET_KEY)


def encrypt(plain: str) -> str:
    if not plain:
        return ""
    return _current().encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionError("stored secret does not decrypt with FIELD_ENCRYPTION_KEY") from exc
