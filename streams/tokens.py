"""Stream API tokens: random, shown once, stored only as a keyed hash.

The hash is ``streams.hashing.keyed_hash`` (HMAC-SHA256 under ``OTP_HASH_KEY``), not
a slow password hash: the token has 256 bits of entropy, so it cannot be guessed, and
every API call looks the stream up by this hash through a unique index.
"""

import secrets
from dataclasses import dataclass

from .hashing import Purpose, keyed_hash

TOKEN_PREFIX = "ots_"  # noqa: S105 - not a secret: marks a string as our token
VISIBLE_PREFIX_LENGTH = 12  # "ots_" + 8 characters, shown in the console to tell tokens apart


@dataclass(frozen=True)
class IssuedToken:
    plaintext: str
    prefix: str
    hash: str


def hash_token(token: str) -> str:
    return keyed_hash(Purpose.API_TOKEN, token)


def issue_token() -> IssuedToken:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return IssuedToken(
        plaintext=plaintext,
        prefix=plaintext[:VISIBLE_PREFIX_LENGTH],
        hash=hash_token(plaintext),
    )
