"""OTP codes: drawn from ``secrets``, stored only as a keyed hash.

The hash is ``streams.hashing.keyed_hash`` (HMAC-SHA256 under ``OTP_HASH_KEY``) over
the verification's id and the code, so equal codes of two verifications hash
differently and a database dump alone does not reveal them (the key lives outside the
database). Comparison is constant time.
"""

import json
import secrets
import uuid
from dataclasses import asdict, dataclass

from streams import crypto
from streams.hashing import Purpose, keyed_hash, matches
from streams.policy import DIGITS, LOWER, SPECIAL, UPPER, alphabet

__all__ = ["DIGITS", "LOWER", "SPECIAL", "UPPER", "alphabet", "generate_code"]


def generate_code(length: int, chars: str = DIGITS) -> str:
    return "".join(secrets.choice(chars) for _ in range(length))


def hash_code(verification_id: uuid.UUID, code: str) -> str:
    return keyed_hash(Purpose.VERIFICATION_CODE, str(verification_id), code)


def code_matches(verification_id: uuid.UUID, code: str, code_hash: str) -> bool:
    return matches(Purpose.VERIFICATION_CODE, (str(verification_id), code), code_hash)


@dataclass(frozen=True)
class Sealed:
    """What a later send of the same code needs — the code, the template's variables
    and the sender — kept encrypted (``streams.crypto``) on the verification only while
    it is pending."""

    code: str
    variables: dict[str, str]
    sender: str


def seal(sealed: Sealed) -> str:
    return crypto.encrypt(json.dumps(asdict(sealed)))


def unseal(text: str) -> Sealed | None:
    """``None`` once the verification has left pending (its sealed code is gone)."""
    if not text:
        return None
    return Sealed(**json.loads(crypto.decrypt(text)))
