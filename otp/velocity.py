"""The velocity and conversion guard: SMS pumping sends many codes to numbers that
never use them, so each group of recipients -- a country, and a number prefix (the
first 7 digits of the E.164 number) -- is judged by its own recent conversion
(approved ÷ attempted, over the last hour). A group that does not convert is first
throttled, then blocked; a prefix stays blocked while the unconverted attempts go on
(its refused attempts count), a country is judged by the codes it was sent.
An end user's IP (``end_user_ip``) is limited in sends per hour and in distinct
destination countries per hour. Numbers and prefixes on the stream's safe list are
never judged.

Counts live in the shared cache (``streams.ratelimit``: sliding hour at a 5-minute
grain, one read per send); a cache outage fails open. In shadow mode a finding is
recorded (``SendDecision``, outcome ``allowed_in_shadow``) and the send goes on; in
enforce mode the send is refused with ``send_blocked`` (403, or 429 with Retry-After
for a throttle) and the decision is recorded by ``send_otp``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from streams import phones, ratelimit
from streams.models import Stream

from .errors import ErrorCode
from .guard import GuardRefusal, Mode, Outcome, record_decision

PREFIX_DIGITS = 7
GRAIN = 300  # seconds per counting window
WINDOWS = 12  # the sliding hour


class VelocityRule(StrEnum):
    """The rules' stable names (``rule`` on the decision and the API refusal)."""

    PREFIX_CONVERSION = "prefix_conversion"
    PREFIX_VELOCITY = "prefix_velocity"
    COUNTRY_CONVERSION = "country_conversion"
    COUNTRY_VELOCITY = "country_velocity"
    IP_VELOCITY = "ip_velocity"
    IP_COUNTRIES = "ip_countries"


@dataclass(frozen=True)
class GroupLimits:
    """When a group of recipients is throttled, then blocked. With at least
    ``throttle_sample`` attempts in the hour and a conversion below
    ``throttle_below``, at most ``throttle_per_minute`` sends a minute go through;
    with ``block_sample`` and below ``block_below``, none do."""

    throttle_sample: int
    throttle_below: float
    throttle_per_minute: int
    block_sample: int
    block_below: float


PREFIX_LIMITS = GroupLimits(
    throttle_sample=6, throttle_below=0.3, throttle_per_minute=2, block_sample=10, block_below=0.1
)
COUNTRY_LIMITS = GroupLimits(
    throttle_sample=40,
    throttle_below=0.3,
    throttle_per_minute=20,
    block_sample=100,
    block_below=0.1,
)
IP_SENDS_PER_HOUR = 10
IP_COUNTRIES_PER_HOUR = 3


@dataclass(frozen=True)
class Finding:
    rule: VelocityRule
    reason: str
    measured: float
    threshold: float
    throttle: bool = False
    retry_after: int = 0


def prefix_of(e164: str) -> str:
    return e164.lstrip("+")[:PREFIX_DIGITS]


def is_safe(stream: Stream, e164: str) -> bool:
    """On the stream's safe list: the number itself, or one of its prefixes."""
    return any(e164.startswith(entry) for entry in stream.guard_safe_list or [] if entry)


def country_of(e164: str) -> str:
    try:
        return phones.parse_phone(e164).region or ""
    except phones.PhoneNumberError:
        return ""


def check_send(
    *, stream: Stream, recipient: str, event_key: str, end_user_ip: str | None, now: float
) -> None:
    """Judge one auth request (``recipient`` in E.164) before anything is written,
    counting it as an attempt. Enforce mode: raise :class:`GuardRefusal` on a finding.
    Shadow mode: record the finding and return."""
    if is_safe(stream, recipient):
        return
    country = country_of(recipient)
    finding = _judge(stream, recipient, country, end_user_ip, now)
    if finding is None:
        # Counted as enforce mode would count it, so shadow mode previews enforcing.
        _count_sent(stream, recipient, country, now)
        return
    decision = {
        "country": country,
        "prefix": prefix_of(recipient),
        "measured": finding.measured,
        "threshold": finding.threshold,
    }
    if stream.guard_mode == Stream.GuardMode.SHADOW:
        record_decision(
            stream=stream,
            recipient=recipient,
            event_key=event_key,
            rule=finding.rule,
            code=ErrorCode.SEND_BLOCKED,
            reason=finding.reason,
            end_user_ip=end_user_ip,
            mode=Mode.SHADOW,
            outcome=Outcome.ALLOWED_IN_SHADOW,
            **decision,
        )
        return
    throttled = {}
    if finding.throttle:
        throttled = {"status": 429, "headers": {"Retry-After": str(finding.retry_after)}}
    raise GuardRefusal(
        ErrorCode.SEND_BLOCKED,
        finding.reason,
        rule=finding.rule,
        decision={
            **decision,
            "mode": Mode.ENFORCE,
            "outcome": Outcome.THROTTLED if finding.throttle else Outcome.BLOCKED,
        },
        details={"reason": finding.reason}
        | ({"retry_after": finding.retry_after} if finding.throttle else {}),
        **throttled,
    )


def note_approved(*, stream: Stream, recipient: str, now: float) -> None:
    """A code was used: its groups converted once more (one cache round trip)."""
    ratelimit.hit_and_read(
        [
            ratelimit.Counter(f"{scope}-approved", identity, math.inf, GRAIN, WINDOWS)
            for scope, identity in _groups(stream, recipient, country_of(recipient))
        ],
        now=now,
    )


def _count_sent(stream: Stream, recipient: str, country: str, now: float) -> None:
    """A country's record counts the codes it was sent, not the refused attempts: a
    pump blocked on its prefixes does not drag its country's legitimate users down."""
    _, (scope, identity) = _groups(stream, recipient, country)
    ratelimit.hit(
        f"{scope}-attempts",
        identity,
        limit=math.inf,
        period=GRAIN,
        now=now,
        keep_windows=WINDOWS,
    )


def _groups(stream: Stream, recipient: str, country: str) -> list[tuple[str, str]]:
    key = stream.public_id.hex
    return [
        ("velocity-prefix", f"{key}:{prefix_of(recipient)}"),
        ("velocity-country", f"{key}:{country or '?'}"),
    ]


def _judge(
    stream: Stream, recipient: str, country: str, end_user_ip: str | None, now: float
) -> Finding | None:
    key = stream.public_id.hex
    (prefix_group, country_group) = _groups(stream, recipient, country)
    # This attempt counts, allowed or not, in the read's round trip: a blocked prefix
    # stays blocked while it is hit. (Its country counts what was sent: ``_count_sent``.)
    prefix_attempts, prefix_approved, country_attempts, country_approved = ratelimit.recent_totals(
        [
            (f"{prefix_group[0]}-attempts", prefix_group[1]),
            (f"{prefix_group[0]}-approved", prefix_group[1]),
            (f"{country_group[0]}-attempts", country_group[1]),
            (f"{country_group[0]}-approved", country_group[1]),
        ],
        period=GRAIN,
        windows=WINDOWS,
        now=now,
        hit_first=(f"{prefix_group[0]}-attempts", prefix_group[1]),
    )
    # Attempts before this one: the group's record when this request came.
    checks = [
        (
            "prefix",
            f"+{prefix_of(recipient)}…",
            prefix_group,
            prefix_attempts - 1,
            prefix_approved,
            PREFIX_LIMITS,
        ),
        (
            "country",
            country or "this country",
            country_group,
            country_attempts,
            country_approved,
            COUNTRY_LIMITS,
        ),
    ]
    for kind, label, group, attempts, approved, limits in checks:
        finding = _judge_group(kind, label, group, attempts, approved, limits, now)
        if finding is not None:
            return finding
    if end_user_ip:
        return _judge_ip(key, end_user_ip, country, now)
    return None


def _judge_group(
    kind: str,
    label: str,
    group: tuple[str, str],
    attempts: int,
    approved: int,
    limits: GroupLimits,
    now: float,
) -> Finding | None:
    if attempts < limits.throttle_sample:
        return None
    conversion = min(approved / attempts, 1.0)
    record = f"{approved} of {attempts} codes to {label} used in the last hour"
    if attempts >= limits.block_sample and conversion < limits.block_below:
        return Finding(
            rule=VelocityRule(f"{kind}_conversion"),
            reason=f"Blocked: {record} ({conversion:.0%}, under {limits.block_below:.0%}).",
            measured=round(conversion, 4),
            threshold=limits.block_below,
        )
    if conversion < limits.throttle_below:
        rate = ratelimit.hit(
            f"{group[0]}-rate", group[1], limit=limits.throttle_per_minute, period=60, now=now
        )
        if not rate.allowed:
            return Finding(
                rule=VelocityRule(f"{kind}_velocity"),
                reason=f"Throttled: {record} ({conversion:.0%}); at most "
                f"{limits.throttle_per_minute} a minute until they convert.",
                measured=rate.count,
                threshold=limits.throttle_per_minute,
                throttle=True,
                retry_after=rate.retry_after_seconds,
            )
    return None


def _judge_ip(key: str, ip: str, country: str, now: float) -> Finding | None:
    hour = {"period": 3600, "now": now}
    sends = ratelimit.hit("velocity-ip", f"{key}:{ip}", limit=IP_SENDS_PER_HOUR, **hour)
    first_to_country = (
        ratelimit.hit("velocity-ip-country", f"{key}:{ip}:{country}", limit=1, **hour).count == 1
    )
    countries = (
        ratelimit.hit("velocity-ip-countries", f"{key}:{ip}", limit=IP_COUNTRIES_PER_HOUR, **hour)
        if first_to_country
        else ratelimit.Decision(allowed=True, count=0)
    )
    if not sends.allowed:
        return Finding(
            rule=VelocityRule.IP_VELOCITY,
            reason=f"Blocked: {sends.count} codes requested from {ip} this hour "
            f"(at most {IP_SENDS_PER_HOUR}).",
            measured=sends.count,
            threshold=IP_SENDS_PER_HOUR,
        )
    if not countries.allowed:
        return Finding(
            rule=VelocityRule.IP_COUNTRIES,
            reason=f"Blocked: {ip} asked for codes to {countries.count} countries this hour "
            f"(at most {IP_COUNTRIES_PER_HOUR}).",
            measured=countries.count,
            threshold=IP_COUNTRIES_PER_HOUR,
        )
    return None
