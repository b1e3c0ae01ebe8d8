"""Field encryption for carrier secrets: the shared Fernet helpers (now in oms_notify.crypto)."""

from __future__ import annotations

from oms_notify.crypto import SecretDecryptionError, decrypt, encrypt

__all__ = ["SecretDecryptionError", "decrypt", "encrypt"]
