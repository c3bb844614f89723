"""The one keyed hash: HMAC-SHA256 under ``OTP_HASH_KEY``, with a purpose label per use.

What it protects (API tokens, OTP codes, compatibility secrets) has enough entropy
that a fast keyed hash is right, and the key lives outside the database, so a dump
alone reveals nothing. The message is the purpose label and the parts joined by
``:``, so a hash made for one purpose never verifies for another.

Two purposes predate the label and keep their construction, because their hashes are
stored and cannot be recomputed: an API token's hash is over the token alone (tokens
start with ``ots_``) and a code's over ``<verification id>:<code>`` (a UUID first).
Neither message can take the shape of a labelled one.
"""

import hmac
from enum import StrEnum
from hashlib import sha256

from django.conf import settings


class Purpose(StrEnum):
    API_TOKEN = "api-token"  # noqa: S105 - a label, not a secret
    VERIFICATION_CODE = "verification-code"
    COMPAT_SECRET = "compat-secret"  # noqa: S105
    VERIFYNOW_TOKEN_KEY = "verifynow-token"  # noqa: S105


# Stored before purposes were labelled: hashed without the label (see the docstring).
_UNLABELLED = frozenset({Purpose.API_TOKEN, Purpose.VERIFICATION_CODE})


def keyed_digest(purpose: Purpose, *parts: str) -> bytes:
    labelled = parts if purpose in _UNLABELLED else (purpose.value, *parts)
    message = ":".join(labelled).encode()
    return hmac.new(settings.OTP_HASH_KEY.encode(), message, sha256).digest()


def keyed_hash(purpose: Purpose, *parts: str) -> str:
    """The hex HMAC of ``parts`` for ``purpose``: what gets stored and compared."""
    return keyed_digest(purpose, *parts).hex()


def matches(purpose: Purpose, parts: tuple[str, ...], stored_hash: str) -> bool:
    """Whether ``parts`` hash to ``stored_hash``, compared in constant time."""
    return hmac.compare_digest(keyed_hash(purpose, *parts), stored_hash)
