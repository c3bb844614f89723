"""The code policy's ranges: what a stream may be set to, and so what one request may
ask for (a request cannot go beyond what a stream may). Read by the stream model's
validators and constraint (and through them the console's forms), the API's per-request
overrides and the compatibility APIs."""

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
