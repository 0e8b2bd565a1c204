"""Encryption at rest for secrets (credential passwords, tokens, keys, secret env vars).

The key is derived from SECRET_KEY with HKDF, so the data dir's generated secret (or
DOCKHAND_SECRET_KEY) is the single root: a database copied without it reveals nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

_PREFIX = "enc1:"


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    raw = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dockhand-at-rest", info=b"fields-v1").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt(plain: str) -> str:
    """Encrypt a string for storage."""
    return _PREFIX + _fernet(settings.SECRET_KEY).encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    """Decrypt a stored string; a value that no longer decrypts is an error, not ''."""
    if not stored.startswith(_PREFIX):
        raise ValueError("stored secret is not in the expected format")
    return _decrypted(settings.SECRET_KEY, stored)


# Keyed by the stored token: every encryption makes a new one, so an entry can never
# answer for a changed value. Listing 1,000 stacks decrypted 1,000 webhook secrets per
# request (~40 µs each, benchmark #5); this process holds the key anyway.
@lru_cache(maxsize=8192)
def _decrypted(secret_key: str, stored: str) -> str:
    try:
        return _fernet(secret_key).decrypt(stored[len(_PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ValueError("stored secret cannot be decrypted: was DOCKHAND_SECRET_KEY changed?") from exc


@lru_cache(maxsize=4)
def _fingerprint_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dockhand-fingerprint", info=b"v1").derive(
        secret_key.encode()
    )


def fingerprint(value: str) -> str:
    """A keyed hash of a secret value: equal values compare equal (did the secret
    change between two deploys?), but without the server's key a short password
    cannot be guessed from it the way a plain SHA-256 could be."""
    digest = hmac.new(_fingerprint_key(settings.SECRET_KEY), value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest[:32]}"


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text column whose non-empty values are stored encrypted; '' stays ''."""

    def from_db_value(self, value: str | None, expression: object, connection: object) -> str | None:
        if not value:
            return value
        return decrypt(value)

    def get_prep_value(self, value: object) -> object:
        value = super().get_prep_value(value)
        if not value:
            return value
        return encrypt(str(value))
