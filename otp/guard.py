"""The fraud and cost guard's shared vocabulary: the rules it applies, the refusal it
raises, and the decision record each refusal (or shadow-mode finding) leaves.

A rule that stops a send raises :class:`GuardRefusal`; ``send_otp`` records its
decision once the send's transaction has rolled back (so the record survives and
nothing else does) and re-raises it. When ``send_otp`` itself ran inside a caller's
transaction (a compatibility view writing its own rows with the send), that one rolls
back too: the record waits on the refusal until the API's exception handler, outside
every transaction, calls :func:`settle`. A rule in shadow mode calls
:func:`record_decision` itself with ``outcome=ALLOWED_IN_SHADOW`` and lets the send go.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum

from streams.models import Stream

from .errors import OtpError
from .models import SendDecision

Mode = SendDecision.Mode
Outcome = SendDecision.Outcome


class Rule(StrEnum):
    """The stable names of the guard's rules: stored on decisions, and the ``rule`` of
    an API refusal."""

    NUMBER_TYPE = "number_type"  # premium rate, satellite, ... (destination policy)
    COUNTRY_NOT_ALLOWED = "country_not_allowed"  # outside the stream's allowlist
    COUNTRY_BLOCKED = "country_blocked"  # in the stream's blocklist
    PREFIX_BLOCKED = "prefix_blocked"  # starts with a blocked number prefix
    BUDGET = "budget"  # a money or message budget of the stream or account


class GuardRefusal(OtpError):
    """An :class:`OtpError` the guard raised: the API answer plus the decision to keep.
    ``decision`` holds :func:`record_decision`'s keyword arguments but ``stream``,
    ``recipient``, ``channel``, ``code`` and ``reason`` (send_otp fills those in)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        rule: str,
        decision: Mapping[str, object] | None = None,
        details: Mapping[str, object] | None = None,
        followup: Callable[[], None] | None = None,
        **kwargs,
    ):
        super().__init__(code, message, details={"rule": str(rule), **(details or {})}, **kwargs)
        self.rule = str(rule)
        self.decision = dict(decision or {})
        # Run once the decision is recorded, outside the rolled-back transaction.
        self.followup = followup
        # The recording itself, when it had to wait for the caller's rollback.
        self.unsettled: Callable[[], None] | None = None


def record_decision(
    *,
    stream: Stream,
    recipient: str,
    rule: str,
    code: str,
    reason: str,
    event_key: str = "",
    channel: str = SendDecision.Channel.SMS,
    country: str = "",
    prefix: str = "",
    end_user_ip: str | None = None,
    measured: float | None = None,
    threshold: float | None = None,
    mode: str = Mode.ENFORCE,
    outcome: str = Outcome.BLOCKED,
) -> SendDecision:
    """Keep one guard decision. Call it outside a transaction that will roll back."""
    return SendDecision.objects.create(
        stream=stream,
        recipient=recipient[:16],
        event_key=event_key[:64],
        channel=channel,
        country=country[:3],
        prefix=prefix[:16],
        end_user_ip=end_user_ip or None,
        rule=str(rule),
        code=str(code),
        reason=reason[:300],
        measured=measured,
        threshold=threshold,
        mode=mode,
        outcome=outcome,
    )


def record_refusal(
    refusal: GuardRefusal,
    *,
    stream: Stream,
    recipient: str,
    event_key: str,
    channel: str,
    end_user_ip: str | None = None,
) -> SendDecision:
    """The decision of a refused send (enforce mode: blocked)."""
    fields = {
        "country": "",
        "prefix": "",
        "end_user_ip": end_user_ip,
        "outcome": Outcome.BLOCKED,
        **refusal.decision,
    }
    return record_decision(
        stream=stream,
        recipient=recipient,
        event_key=event_key,
        channel=channel,
        rule=refusal.rule,
        code=refusal.code,
        reason=refusal.message,
        **fields,
    )


def settle(exc: BaseException) -> None:
    """Record the decision of a refusal that waited for its caller's transaction to
    roll back (the exception handlers call this; a no-op for anything else)."""
    if isinstance(exc, GuardRefusal) and exc.unsettled is not None:
        record, exc.unsettled = exc.unsettled, None
        record()
