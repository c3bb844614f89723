"""Encryption at rest: what must not be readable in a database dump (message texts
while their code counts, gateway credentials) is stored encrypted with a key held
outside the database.

``cryptography``'s Fernet (AES-128-CBC + HMAC-SHA256, authenticated) through
MultiFernet: ``OTP_ENCRYPTION_KEYS`` lists the keys, the first encrypts, every one
decrypts, so a key is rotated by putting the new one first and dropping the old one
once nothing it encrypted is left. A key that is not a Fernet key (e.g. a random
passphrase like the other keys) is stretched into one with HKDF.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models

# Every Fernet token starts with its version byte 0x80, base64: "gAAAAA".
CIPHERTEXT_PREFIX = "gAAAAA"


class UndecryptableError(ImproperlyConfigured):
    """Stored ciphertext no key of ``OTP_ENCRYPTION_KEYS`` opens: a key was dropped
    while data it encrypted remained, or the data was altered."""


def _fernet_key(key: str) -> bytes:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return key.encode()
    except (binascii.Error, ValueError):
        pass
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"otp-streams encryption at rest"
    ).derive(key.encode())
    return base64.urlsafe_b64encode(derived)


@lru_cache(maxsize=1)
def _keyring() -> MultiFernet:
    keys = [key.strip() for key in settings.OTP_ENCRYPTION_KEYS if key.strip()]
    if not keys:
        raise ImproperlyConfigured("OTP_ENCRYPTION_KEYS (or OTP_ENCRYPTION_KEY) is empty.")
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


def _forget_keyring(*, setting: str, **_) -> None:
    if setting in ("OTP_ENCRYPTION_KEYS", "OTP_ENCRYPTION_KEY"):
        _keyring.cache_clear()


setting_changed.connect(_forget_keyring, dispatch_uid="streams-crypto-keys")


def encrypt(text: str) -> str:
    return _keyring().encrypt(text.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _keyring().decrypt(token.encode()).decode()
    except InvalidToken:
        raise UndecryptableError(
            "Stored data does not decrypt with any key of OTP_ENCRYPTION_KEYS: keep every "
            "key that encrypted data still stored (see docs/configuration.md)."
        ) from None


def reencrypt(token: str) -> str:
    """The same plain text under the first key (rotation)."""
    return _keyring().rotate(token.encode()).decode()


def is_token(value: object) -> bool:
    return isinstance(value, str) and value.startswith(CIPHERTEXT_PREFIX)


class EncryptedTextField(models.TextField):
    """Text stored encrypted; the model attribute holds the plain text. Serialisations
    (``dumpdata``) carry the ciphertext, and lookups other than ``= ""`` cannot work:
    never filter on it. An empty value is stored empty."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return encrypt(value) if value else value

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value

    def to_python(self, value: Any) -> Any:
        # loaddata hands back what dumpdata wrote: the ciphertext.
        return decrypt(value) if is_token(value) else super().to_python(value)

    def value_from_object(self, obj) -> Any:
        value = super().value_from_object(obj)
        return encrypt(value) if value else value


class EncryptedJSONField(models.TextField):
    """A JSON object stored encrypted (credentials); the attribute holds the object."""

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return encrypt(json.dumps(value))

    def from_db_value(self, value, expression, connection):
        return json.loads(decrypt(value)) if value else None

    def to_python(self, value: Any) -> Any:
        if is_token(value):
            return json.loads(decrypt(value))
        if isinstance(value, str):
            return json.loads(value)
        return value

    def value_from_object(self, obj) -> Any:
        value = super().value_from_object(obj)
        return None if value is None else encrypt(json.dumps(value))

    def value_to_string(self, obj) -> str:
        return self.value_from_object(obj) or ""
