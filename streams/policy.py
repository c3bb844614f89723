"""The code policy's ranges: what a stream may be set to, and so what one request may
ask for (a request cannot go beyond what a stream may). Read by the stream model's
validators and constraint (and through them the console's forms), the API's per-request
overrides and the compatibility APIs.

Also the code alphabets and the entropy floor: a platform code must be at least as hard
to guess as six decimal digits (NIST SP 800-63B's "20 bits", which it states as 6
digits) unless an admin chose weaker codes on purpose.
"""

import math
import string
from dataclasses import dataclass

from django.core.validators import MaxValueValidator, MinValueValidator


@dataclass(frozen=True)
class Range:
    minimum: int
    maximum: int

    def __contains__(self, value: int) -> bool:
        return self.minimum <= value <= self.maximum

    def validators(self) -> list:
        return [MinValueValidator(self.minimum), MaxValueValidator(self.maximum)]


CODE_LENGTH = Range(4, 32)
CODE_TTL_SECONDS = Range(30, 86400)
MAX_ATTEMPTS = Range(1, 20)
RESEND_GRACE_SECONDS = Range(0, 300)
FALLBACK_AFTER_SECONDS = Range(5, 3600)

DIGITS = string.digits
UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
# Characters that survive SMS (GSM-7 basic set) and most keyboards.
SPECIAL = "!#$%&()*+-.:;<=>?@_"

# Codes with fewer possible values than six decimal digits are "weak".
STRONG_CODE_SPACE = 10**6


def alphabet(*, digits: bool, upper: bool, lower: bool, special: bool) -> str:
    chars = (DIGITS if digits else "") + (UPPER if upper else "")
    chars += (LOWER if lower else "") + (SPECIAL if special else "")
    if not chars:
        raise ValueError("an empty alphabet")
    return chars


def code_entropy_bits(length: int, alphabet_size: int) -> float:
    return length * math.log2(alphabet_size) if alphabet_size else 0.0


def shortest_length(alphabet_size: int, at_least: int) -> int | None:
    """The shortest code length (within :data:`CODE_LENGTH`) that gives ``alphabet_size``
    characters ``at_least`` possible codes; None when even the longest does not."""
    return next(
        (
            n
            for n in range(CODE_LENGTH.minimum, CODE_LENGTH.maximum + 1)
            if alphabet_size**n >= at_least
        ),
        None,
    )


def is_weak_code(length: int, alphabet_size: int) -> bool:
    """Fewer possible codes than six decimal digits (about 20 bits)."""
    return alphabet_size**length < STRONG_CODE_SPACE
