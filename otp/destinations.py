"""The destination policy: which numbers a stream's codes may go to, on both channels.

Refused unless the stream allows the type: numbers that cannot receive a code for a
person or that pay whoever owns them — premium rate, shared cost, UAN, personal
numbers, pagers, satellite and international networks (+870, +881, +882, +883, +979)
(``streams.phones.NumberKind``). SMS goes to mobile numbers; a voice call may also
reach a fixed line. Then the stream's country allowlist (empty: every country), its
country blocklist and its blocked number prefixes. Each refusal names its rule and
leaves a decision record (``otp.guard``).
"""

from __future__ import annotations

from streams import phones
from streams.channels import Channel
from streams.models import Stream

from .errors import ErrorCode, OtpError
from .guard import GuardRefusal, Rule

# The prefix a decision records: + and the first digits, enough to see a range.
PREFIX_DIGITS = 6


def check_destination(*, stream: Stream, phone: phones.PhoneNumber, channel: str) -> None:
    """Raise the refusal of the first rule ``phone`` breaks; return if it may be sent to."""
    region = phone.region or ""
    decision = {
        "recipient": phone.e164,
        "country": region,
        "prefix": phone.e164[: 1 + PREFIX_DIGITS],
    }
    kind = phone.risky_kind
    allowed_kind = kind is not None and kind in stream.allowed_number_types
    if kind is not None and not allowed_kind:
        raise GuardRefusal(
            ErrorCode.DESTINATION_NOT_ALLOWED,
            f"The stream does not send to {kind.label.split(' (')[0].lower()} numbers "
            "(an admin can allow this number type for the stream).",
            rule=Rule.NUMBER_TYPE,
            fields={"recipient": f"Number type {kind.value} is not allowed."},
            details={"number_type": kind.value},
            decision=decision,
        )
    if channel == Channel.SMS and not phone.can_receive_sms and not allowed_kind:
        raise OtpError(
            ErrorCode.NOT_MOBILE,
            "SMS can only be sent to mobile numbers; use the voice channel for this one.",
            fields={"recipient": "Not a mobile number."},
        )
    if stream.allowed_countries and region not in stream.allowed_countries:
        raise GuardRefusal(
            ErrorCode.COUNTRY_NOT_ALLOWED,
            f"The stream does not send to {_country(region)}.",
            rule=Rule.COUNTRY_NOT_ALLOWED,
            fields={"recipient": f"Country {region} is not allowed."},
            details={"country": region},
            decision=decision,
        )
    if region in stream.blocked_countries:
        raise GuardRefusal(
            ErrorCode.DESTINATION_NOT_ALLOWED,
            f"The stream blocks {_country(region)}.",
            rule=Rule.COUNTRY_BLOCKED,
            fields={"recipient": f"Country {region} is blocked."},
            details={"country": region},
            decision=decision,
        )
    blocked = next((p for p in stream.blocked_prefixes if phone.e164.startswith(p)), None)
    if blocked is not None:
        raise GuardRefusal(
            ErrorCode.DESTINATION_NOT_ALLOWED,
            f"The stream blocks numbers starting with {blocked}.",
            rule=Rule.PREFIX_BLOCKED,
            fields={"recipient": f"Numbers starting with {blocked} are blocked."},
            details={"prefix": blocked},
            decision={**decision, "prefix": blocked},
        )


def _country(region: str) -> str:
    if not region or region == phones.NON_GEOGRAPHIC:
        return "this destination"
    return f"{phones.country_name(region)} ({region})"
