"""Compatibility credentials: secrets we issue (shown once, kept as a keyed hash) and
VerifyNow's auth tokens.

The secrets have 192 random bits, so an HMAC under ``OTP_HASH_KEY`` is enough (as for
stream tokens) and every request can check one without a slow password hash. A
VerifyNow auth token is a JWT (HS256) naming the customer id, as the peer's tokens
are: some clients read its ``exp`` to know when to ask for a new one. It is signed
with a key derived from the credential's secret hash, so rotating the secret revokes
every token issued under the old one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time

from django.db import transaction
from django.utils import timezone

from streams.hashing import Purpose, keyed_digest, keyed_hash

from .models import CompatCredential

SECRET_BYTES = 24
VISIBLE_PREFIX_LENGTH = 6


def hash_secret(secret: str) -> str:
    return keyed_hash(Purpose.COMPAT_SECRET, secret)


@transaction.atomic
def rotate_secret(*, credential: CompatCredential) -> str:
    """Issue a new secret for ``credential`` and return it: the only time it is seen.
    The old secret, and every VerifyNow token issued with it, stop working."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    credential.secret_hash = hash_secret(secret)
    credential.secret_prefix = secret[:VISIBLE_PREFIX_LENGTH]
    credential.secret_rotated_at = timezone.now()
    if credential.pk:
        credential.save(update_fields=["secret_hash", "secret_prefix", "secret_rotated_at"])
    else:
        credential.save()
    return secret


def find_credential(*, peer: str, login: str, secret: str) -> CompatCredential | None:
    """The enabled credential of ``peer`` with this login and secret, or ``None`` (also
    when only one of them is right: a caller learns nothing from the difference)."""
    credential = (
        CompatCredential.objects.select_related("stream", "stream__default_sender", "account")
        .filter(peer=peer, login=login, enabled=True)
        .first()
    )
    expected = credential.secret_hash if credential else hash_secret("-")
    if not hmac.compare_digest(expected, hash_secret(secret)) or credential is None:
        return None
    return credential


# --- VerifyNow auth tokens ----------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_key(credential: CompatCredential) -> bytes:
    return keyed_digest(Purpose.VERIFYNOW_TOKEN_KEY, credential.secret_hash)


def issue_token(credential: CompatCredential, *, ttl_seconds: int) -> tuple[str, int]:
    """A token for ``credential`` and its expiry (Unix seconds)."""
    now = int(time.time())
    expires = now + ttl_seconds
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(
        json.dumps(
            {"sub": credential.login, "iat": now, "exp": expires}, separators=(",", ":")
        ).encode()
    )
    signing_input = f"{header}.{payload}".encode()
    signature = _b64(hmac.new(_token_key(credential), signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}", expires


def credential_for_token(token: str) -> CompatCredential | None:
    """The enabled VerifyNow credential that issued ``token``, if it is unexpired and
    signed with the credential's current secret."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not (isinstance(header, dict) and header.get("alg") == "HS256"):
        return None
    if not isinstance(payload, dict):
        return None
    login, expires = payload.get("sub"), payload.get("exp")
    if not isinstance(login, str) or not isinstance(expires, int) or expires <= time.time():
        return None
    credential = (
        CompatCredential.objects.select_related("stream", "stream__default_sender", "account")
        .filter(peer=CompatCredential.Peer.VERIFYNOW, login=login, enabled=True)
        .first()
    )
    if credential is None:
        return None
    try:
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error):
        return None
    expected = hmac.new(
        _token_key(credential), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
    ).digest()
    return credential if hmac.compare_digest(signature, expected) else None
