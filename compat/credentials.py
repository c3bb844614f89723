"""Compatibility credentials: secrets we issue (shown once, kept as a keyed hash) and
VerifyNow's auth tokens.

The secrets have 192 random bits, so an HMAC under ``OTP_HASH_KEY`` is enough (as for
stream tokens) and every request can check one without a slow password hash. A
VerifyNow auth token is a JWT (HS256, by PyJWT) naming the customer id, as the peer's
tokens are: some clients read its ``exp`` to know when to ask for a new one. It is
signed with a key derived from the credential's secret hash, so rotating the secret
revokes every token issued under the old one.
"""

from __future__ import annotations

import hmac
import secrets
import time

import jwt
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
    if "\x00" in login:  # no credential has one, and PostgreSQL refuses it in a query
        login = ""
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

JWT_ALGORITHM = "HS256"  # as the peer's tokens; the only one accepted


def _token_key(credential: CompatCredential) -> bytes:
    return keyed_digest(Purpose.VERIFYNOW_TOKEN_KEY, credential.secret_hash)


def issue_token(credential: CompatCredential, *, ttl_seconds: int) -> tuple[str, int]:
    """A token for ``credential`` and its expiry (Unix seconds)."""
    now = int(time.time())
    expires = now + ttl_seconds
    claims = {"sub": credential.login, "iat": now, "exp": expires}
    return jwt.encode(claims, _token_key(credential), algorithm=JWT_ALGORITHM), expires


def credential_for_token(token: str) -> CompatCredential | None:
    """The enabled VerifyNow credential that issued ``token``, if it is unexpired and
    signed with the credential's current secret."""
    try:
        # The key depends on the credential the token names: read the name first,
        # trust nothing until the signature is checked below.
        login = jwt.decode(token, options={"verify_signature": False}).get("sub")
    except jwt.InvalidTokenError:
        return None
    if not isinstance(login, str):
        return None
    credential = (
        CompatCredential.objects.select_related("stream", "stream__default_sender", "account")
        .filter(peer=CompatCredential.Peer.VERIFYNOW, login=login, enabled=True)
        .first()
    )
    if credential is None:
        return None
    try:
        jwt.decode(
            token,
            _token_key(credential),
            algorithms=[JWT_ALGORITHM],
            subject=credential.login,
            # ``iat`` is informative: another node's clock a second ahead must not
            # make a fresh token "not yet valid".
            options={"require": ["sub", "exp"], "verify_iat": False},
        )
    except jwt.InvalidTokenError:
        return None
    return credential
