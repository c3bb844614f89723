"""The auth request and the verification request, each read top to bottom here.

``send_otp`` checks the request against the stream's rules, draws (or takes) the code,
renders the event template and, in one transaction, counts the send against the
recipient's limit, cancels the earlier pending code, writes the verification and
queues its outbound message (delivered by a worker after commit).

``check_code`` locks the verification row, so concurrent guesses are counted one by one
and a code is approved at most once.
"""

from __future__ import annotations

import re
import uuid
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from gateways import prices
from gateways.models import OutboundMessage
from gateways.selectors import messages_for_verification, voice_language_refusal
from gateways.services import (
    estimate_message,
    forget_codes,
    forget_codes_statement,
    new_message,
    queue_message,
    queued,
)
from gateways.sms import smart_encode
from gateways.voice import VoiceScript
from streams import locales, phones, placeholders, policy, statements, wording
from streams.messages import MessageFormat, compose_sms
from streams.models import Contact, EventTemplate, SenderID, Stream

from . import budgets, codes, destinations, guard, limits, velocity, webhooks
from .errors import ErrorCode, OtpError
from .models import Check, Verification, VerificationQuerySet
from .selectors import timelines

Status = Verification.Status
Channel = Verification.Channel
# What stands for each character of the code in a message kept after the code stopped
# counting (a GSM-7 character: the masked text is no longer than the real one).
MASK = "*"

# A code the client generated: what our own alphabets can produce, as many as a stream's.
CLIENT_CODE_RE = re.compile(
    r"^[0-9A-Za-z"
    + re.escape(codes.SPECIAL)
    + rf"]{{{policy.CODE_LENGTH.minimum},{policy.CODE_LENGTH.maximum}}}$",
)


@dataclass(frozen=True)
class CodeOverrides:
    """Per-request settings that replace the stream's, for the compatibility APIs whose
    clients choose them per request. ``None`` keeps the stream's value."""

    length: int | None = None
    digits: bool | None = None
    upper: bool | None = None
    lower: bool | None = None
    special: bool | None = None
    ttl_seconds: int | None = None
    max_attempts: int | None = None
    text: str | None = None  # a template text used instead of the event template's
    sender_value: str | None = None  # a sender name taken as is (already validated)


@dataclass(frozen=True)
class SendResult:
    verification: Verification
    message: OutboundMessage | None
    replayed: bool = False  # an idempotent retry answered with the original send
    resent: bool = False  # the same code sent again on an existing verification


# --- The auth request ---------------------------------------------------------------


# Error reports (AdminEmailHandler, Sentry-style reporters) show no local variable of the
# send and check paths or anything they call: those hold the code, the rendered text
# and SQL parameters with both.
@sensitive_variables()
def send_otp(
    *,
    stream: Stream,
    recipient: str,
    event_key: str,
    channel: str = Channel.SMS,
    country: str = "",
    sender: str = "",
    code: str = "",
    variables: dict[str, str] | None = None,
    locale: str = "",
    voice_language: str = "",
    voice_gender: str = "",
    end_user_ip: str | None = None,
    caller_ip: str | None = None,
    idempotency_key: str = "",
    overrides: CodeOverrides | None = None,
) -> SendResult:
    """Send a code for ``event_key`` to ``recipient``; raise :class:`OtpError` on any
    refusal, having changed nothing but, for the guard's refusals, its decision record."""
    try:
        return _send(
            stream=stream,
            recipient=recipient,
            event_key=event_key,
            channel=channel,
            country=country,
            sender=sender,
            code=code,
            variables=variables,
            locale=locale,
            voice_language=voice_language,
            voice_gender=voice_gender,
            end_user_ip=end_user_ip,
            caller_ip=caller_ip,
            idempotency_key=idempotency_key,
            overrides=overrides,
        )
    except guard.GuardRefusal as refusal:
        _settle_refusal(refusal, stream, recipient, event_key, channel, end_user_ip)
        raise


def _settle_refusal(
    refusal: guard.GuardRefusal,
    stream: Stream,
    recipient: str,
    event_key: str,
    channel: str,
    end_user_ip: str | None,
) -> None:
    record = partial(_keep_decision, refusal, stream, recipient, event_key, channel, end_user_ip)
    # The send's transaction is rolled back by now: the decision outlives it. A
    # caller's transaction would roll it back too: then its handler settles it.
    if transaction.get_connection().in_atomic_block:
        refusal.unsettled = record
    else:
        record()


def _keep_decision(
    refusal: guard.GuardRefusal,
    stream: Stream,
    recipient: str,
    event_key: str,
    channel: str,
    end_user_ip: str | None,
) -> None:
    guard.record_refusal(
        refusal,
        stream=stream,
        recipient=refusal.decision.pop("recipient", recipient),
        event_key=event_key,
        channel=channel,
        end_user_ip=end_user_ip,
    )
    if refusal.followup is not None:
        refusal.followup()


@sensitive_variables()
def _send(
    *,
    stream: Stream,
    recipient: str,
    event_key: str,
    channel: str,
    country: str,
    sender: str,
    code: str,
    variables: dict[str, str] | None,
    locale: str,
    voice_language: str,
    voice_gender: str,
    end_user_ip: str | None,
    caller_ip: str | None,
    idempotency_key: str,
    overrides: CodeOverrides | None,
) -> SendResult:
    o = overrides or CodeOverrides()
    _check_overrides(o, stream)
    recipient = normalize_recipient(recipient, country=country, channel=channel, stream=stream)

    if idempotency_key:
        earlier = _idempotent_replay(stream, idempotency_key, recipient, event_key, channel)
        if earlier is not None:
            return earlier

    test_number = _test_number(stream, recipient)
    template, text = _template_text(stream, event_key, o)
    contact = _ContactLookup(stream.account_id, recipient)
    text, locale_used = _localized_text(stream, template, text, _locale(locale), contact, o)
    sender_value = _sender(stream, sender, o)
    code = _code(stream, code, o)
    length = o.length or stream.code_length
    if test_number is not None:
        code = test_number["code"]  # the test number's fixed code
    elif stream.platform_generates_code:
        try:
            chars = codes.alphabet(
                digits=_pick(o.digits, stream.code_digits),
                upper=_pick(o.upper, stream.code_upper),
                lower=_pick(o.lower, stream.code_lower),
                special=_pick(o.special, stream.code_special),
            )
        except ValueError:
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                "The code alphabet is empty: allow at least one kind of character.",
                fields={"alphabet": "Choose digits, upper case, lower case or special."},
            ) from None
        code = codes.generate_code(length, chars)
    if channel != Channel.VOICE and (voice_language or voice_gender):
        raise OtpError(
            ErrorCode.INVALID_REQUEST,
            "voice_language and voice_gender apply to the voice channel only.",
            fields={
                name: "Only for channel voice."
                for name, value in (
                    ("voice_language", voice_language),
                    ("voice_gender", voice_gender),
                )
                if value
            },
        )
    ttl = o.ttl_seconds or stream.code_ttl_seconds
    values = _values(stream, text, contact, variables or {}, ttl, locale_used)
    if channel == Channel.VOICE:
        voice_language = voice_language or locale_used
        refusal = voice_language_refusal(
            account_id=stream.account_id,
            stream_id=stream.pk,
            recipient=recipient,
            language=voice_language,
        )
        if refusal:
            raise OtpError(
                ErrorCode.VOICE_LANGUAGE_UNSUPPORTED,
                refusal,
                fields={"voice_language": "Not spoken by the account's voice gateways."},
            )
    rendered, masked, voice = _compose(
        stream,
        template if o.text is None else None,
        text,
        values,
        code=code,
        channel=channel,
        locale_used=locale_used,
    )
    if not rendered:
        raise OtpError(ErrorCode.EMPTY_MESSAGE, "The message would be empty: nothing to send.")
    estimate = estimate_message(
        account_id=stream.account_id,
        stream_id=stream.pk,
        channel=channel,
        recipient=recipient,
        text=rendered,
    )

    now = timezone.now()
    # Last of the checks: only a request that would otherwise be sent is judged.
    velocity.check_send(
        stream=stream,
        recipient=recipient,
        event_key=event_key,
        end_user_ip=end_user_ip,
        now=now.timestamp(),
    )
    verification = Verification(
        id=uuid.uuid4(),
        stream=stream,
        event_template=template,
        event_key=event_key,
        recipient=recipient,
        country=phones.parse_phone(recipient).region,
        channel=channel,
        max_attempts=o.max_attempts or stream.max_attempts,
        changed_at=now,
        expires_at=now + timedelta(seconds=ttl),
        locale=locale_used,
        caller_ip=caller_ip or None,
        end_user_ip=end_user_ip or None,
        idempotency_key=idempotency_key,
        is_test=test_number is not None,
    )
    verification.code_hash = codes.hash_code(verification.id, code)
    verification.sealed = codes.seal(
        codes.Sealed(code=code, variables=variables or {}, sender=sender_value)
    )
    message_fields = {
        "account_id": stream.account_id,
        "stream_id": stream.pk,
        "channel": channel,
        "recipient": recipient,
        "sender": sender_value,
        "text": rendered,
        "masked_text": masked,
        "expires_at": verification.expires_at,
        "verification_id": verification.id,
        "voice_language": voice_language,
        "voice_gender": voice_gender,
        "voice": voice,
        "test_outcome": test_number["outcome"] if test_number else "",
        "estimate": estimate,
    }
    # The stream's resend policy is the product API's; the compatibility APIs keep their
    # peers' rule (every send a new code, the previous one canceled at once).
    policy = _Resend(
        follows=overrides is None, variables=variables or {}, voice_gender=voice_gender
    )
    retries = SEND_RACE_RETRIES
    while True:
        try:
            return _store_send(stream, verification, message_fields, now, policy)
        except IntegrityError:
            # Two requests raced with one idempotency key: the other one won; answer as it did.
            if idempotency_key:
                earlier = _idempotent_replay(stream, idempotency_key, recipient, event_key, channel)
                if earlier is not None:
                    return earlier
            # Another send to this recipient and event committed its pending code between
            # our cancel and our insert (the one-pending constraint refused ours): start
            # over, cancelling it, so the newest code works. Racing sends settle one per
            # retry; a send that still loses answers with the winner's verification.
            if not retries:
                winner = _pending_verification(stream, recipient, event_key)
                if winner is None:
                    raise
                return SendResult(
                    verification=winner, message=messages_for_verification(winner.id).first()
                )
            retries -= 1
            now = timezone.now()


_V = connection.ops.quote_name(Verification._meta.db_table)
_V_ID = connection.ops.quote_name(Verification._meta.pk.column)

# The hot paths' statements, compiled once per process (``streams.statements.Shape``).
_CANCELING = statements.Shape(
    lambda now, by, stream_id, recipient, event_key: statements.update(
        *Verification.objects.filter(
            stream_id=stream_id, recipient=recipient, event_key=event_key
        ).replacing(now=now, by=by)
    ),
    now="datetime",
    by="uuid",
    stream_id="int",
    recipient="str",
    event_key="str",
)
_APPROVING = statements.Shape(
    lambda now, pk: statements.update(*Verification.objects.filter(pk=pk).approving(now=now)),
    now="datetime",
    pk="uuid",
)

# How many times a send that lost the race for "one pending code per recipient and event"
# starts over before it answers with the winner's verification.
SEND_RACE_RETRIES = 3


@dataclass(frozen=True)
class _Resend:
    """What a send needs to follow the stream's resend policy."""

    follows: bool
    variables: dict
    voice_gender: str


@sensitive_variables()
def _store_send(
    stream: Stream, verification: Verification, message_fields: dict, now, policy: _Resend
) -> SendResult:
    """Count the send, then (policy *same code*) send the pending code again, or replace
    the earlier pending code and write the verification and its message: all or
    nothing. On PostgreSQL the replacement and both rows are one statement
    (:func:`_write_at_once`), and a send that counts nothing else needs no transaction
    around it: one round trip."""
    recipient, event_key = verification.recipient, verification.event_key
    spends = not verification.is_test and getattr(stream, "has_budgets", True)  # test mode: no
    resends = policy.follows and stream.resend_policy == Stream.ResendPolicy.SAME_CODE
    at_once = connection.vendor == "postgresql" and not stream.webhooks_enabled
    alone = at_once and not (stream.send_limit_enabled or spends or resends)
    with nullcontext() if alone else transaction.atomic():
        limits.reserve_send(stream=stream, recipient=recipient, now=now)
        if spends:
            budgets.reserve(stream=stream, estimate=message_fields["estimate"], now=now)
        if resends:
            current = _pending_to_resend(stream, recipient, event_key, now)
            if current is not None:
                current.stream = stream
                channel = message_fields["channel"]
                message = send_code_again(
                    current,
                    channel=channel,
                    variables=policy.variables,
                    voice_language=message_fields["voice_language"],
                    voice_gender=policy.voice_gender,
                    estimate=message_fields["estimate"] if channel == current.channel else None,
                )
                return SendResult(verification=current, message=message, resent=True)
        # Only the newest code of (stream, recipient, event) works — after the stream's
        # grace period, during which the previous one still does. Without one, the
        # earlier code is canceled at once, and its message too if queued.
        grace = stream.resend_grace_seconds if policy.follows else 0
        earlier = Verification.objects.filter(
            stream=stream, recipient=recipient, event_key=event_key
        )
        message = new_message(**message_fields)
        if at_once:
            _write_at_once(earlier, verification, message, now=now, grace=grace)
            return SendResult(verification=verification, message=queued(message))
        replaced = (
            list(earlier.pending().values_list("id", flat=True))
            if stream.webhooks_enabled and not grace
            else []
        )
        if earlier.replace(now=now, by=verification.id, grace_seconds=grace) and not grace:
            forget_codes(earlier.values("id"))
            webhooks.record_endings(replaced)
        verification.save(force_insert=True)
        webhooks.record(stream=stream, type=webhooks.Type.PENDING, verification=verification)
        message.save(force_insert=True)
        return SendResult(verification=verification, message=queued(message))


@sensitive_variables()
def _write_at_once(
    earlier: VerificationQuerySet,
    verification: Verification,
    message: OutboundMessage,
    *,
    now,
    grace: int,
) -> None:
    """Replace the earlier pending code (cancel it and forget its message's code, or,
    with a grace period, mark it replaced), then insert the verification and then its
    message, in one statement (PostgreSQL; no webhook events to record). The insert
    reads the replacement's count, so the earlier code is no longer pending when the
    new one meets the one-pending-code index; a concurrent send that committed its
    code first still makes it fail with IntegrityError, as the separate writes do."""
    if grace:
        replace_sql, replace_params = statements.update(
            *earlier.replacing(now=now, by=verification.id, grace_seconds=grace)
        )
    else:
        replace_sql, replace_params = _CANCELING(
            now=now,
            by=verification.id,
            stream_id=verification.stream_id,
            recipient=verification.recipient,
            event_key=verification.event_key,
        )
    parts = [f"replaced AS ({replace_sql} RETURNING {_V}.{_V_ID} AS id)"]
    params = [*replace_params]
    if not grace:
        # The codes canceled here stop counting: their messages' too. (Every part of
        # the statement reads the rows as they were before it: the canceled ones are
        # known by what the cancel returned.)
        forget_sql, forget_params = forget_codes_statement("SELECT id FROM replaced", now=now)
        parts.append(f"forgotten AS ({forget_sql})")
        params += forget_params
    insert_sql, insert_params = statements.insert_select(
        verification, source="(SELECT count(*) FROM replaced) AS after_replacing"
    )
    parts.append(f"inserted AS ({insert_sql} RETURNING 1 AS one)")
    params += insert_params
    message_sql, message_params = statements.insert_select(message, source="inserted")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} {message_sql}", [*params, *message_params])
    statements.saved(verification)
    statements.saved(message)


def _pending_verification(stream: Stream, recipient: str, event_key: str) -> Verification | None:
    return (
        Verification.objects.pending()
        .filter(
            stream=stream, recipient=recipient, event_key=event_key, replaced_by_id__isnull=True
        )
        .first()
    )


@sensitive_variables()
def _compose(
    stream: Stream,
    template: EventTemplate | None,
    text: str,
    values: dict[str, str],
    *,
    code: str,
    channel: str,
    locale_used: str,
) -> tuple[str, str, dict | None]:
    """The message of ``code``: its text, the same text with the code masked, and for
    a voice call its script (without the code; see gateways.voice)."""
    if channel == Channel.VOICE:
        # The text around each occurrence of the code, for the call's script (split on
        # a marker no variable can hold).
        marker = f"\x00{uuid.uuid4().hex}\x00"
        pieces = _render(text, {**values, placeholders.CODE: marker}).split(marker)
        script = VoiceScript(
            intro=wording.voice_intro(locale_used),
            pieces=tuple(pieces),
            code=code,
            repeat=stream.voice_repeat,
            rate=stream.voice_rate,
        )
        masked = replace(script, code=MASK * len(code)).plain_text()
        return script.plain_text(), masked, script.as_dict()
    fmt = MessageFormat.of(stream, template)
    rendered, masked = (
        compose_sms(
            _render(text, {**values, placeholders.CODE: shown}),
            code=shown,
            locale=locale_used,
            fmt=fmt,
        )
        for shown in (code, MASK * len(code))
    )
    if stream.smart_encoding:
        rendered, masked = smart_encode(rendered), smart_encode(masked)
    return rendered, masked, None


def _pending_to_resend(stream: Stream, recipient: str, event_key: str, now) -> Verification | None:
    """The pending verification whose code a new send repeats (policy *same code*),
    locked until the send commits: a check that approves it meanwhile waits, and then
    the code it repeated is the one approved."""
    return (
        Verification.objects.select_for_update()
        .pending()
        .filter(stream=stream, recipient=recipient, event_key=event_key, expires_at__gt=now)
        .exclude(sealed="")
        .order_by("-created_at")
        .first()
    )


@sensitive_variables()
def send_code_again(
    verification: Verification,
    *,
    channel: str,
    variables: dict[str, str],
    voice_language: str = "",
    voice_gender: str = "",
    estimate: prices.Estimate | None = None,
) -> OutboundMessage:
    """Queue the verification's own code once more (on ``channel``), in the language it
    was first sent in: its lifetime and attempts stay as they are. Runs in the caller's
    transaction, the row locked (a resend of the same code, a fallback). ``estimate``:
    the one a budget was checked with, if any (else the message is priced here)."""
    sealed = codes.unseal(verification.sealed)
    stream = verification.stream
    template = _enabled_template(stream, verification.event_key)
    locale_used = verification.locale or stream.default_locale
    text = template.text_for(locale_used)[0] if template.variants else template.text
    contact = _ContactLookup(stream.account_id, verification.recipient)
    ttl = max(int((verification.expires_at - timezone.now()).total_seconds()), 1)
    values = _values(stream, text, contact, variables, ttl, locale_used)
    rendered, masked, voice = _compose(
        stream, template, text, values, code=sealed.code, channel=channel, locale_used=locale_used
    )
    return queue_message(
        account_id=stream.account_id,
        stream_id=stream.pk,
        channel=channel,
        recipient=verification.recipient,
        sender=sealed.sender,
        text=rendered,
        masked_text=masked,
        expires_at=verification.expires_at,
        verification_id=verification.id,
        voice_language=(voice_language or locale_used) if channel == Channel.VOICE else "",
        voice_gender=voice_gender,
        voice=voice,
        # Test mode scripts the first message; what follows it (a resend, a fallback)
        # is delivered, so a fallback can be tried end to end.
        test_outcome="delivered" if verification.is_test else "",
        estimate=estimate,
    )


def _enabled_template(stream: Stream, event_key: str) -> EventTemplate:
    """The stream's enabled event template ``event_key`` (refused if there is none)."""
    return _template_text(stream, event_key, CodeOverrides())[0]


def _test_number(stream: Stream, recipient: str) -> dict | None:
    """With the stream's test token: the recipient's test-number entry, or the refusal
    (a test token reaches no live number). With the live token: None — a test number
    is then an ordinary number, with a real code and a real gateway."""
    if not getattr(stream, "test_mode", False):
        return None
    entry = stream.test_number(recipient)
    if entry is None:
        raise OtpError(
            ErrorCode.TEST_NUMBERS_ONLY,
            "This is the stream's test token: it sends only to the stream's test numbers.",
            fields={"recipient": "Not a test number of this stream."},
        )
    return entry


@sensitive_variables()
def resend_verification(
    *,
    stream: Stream,
    verification_id: uuid.UUID | str,
    channel: str = "",
    caller_ip: str | None = None,
) -> SendResult:
    """Send a pending verification's code again, the stream's resend policy deciding
    which: *same code* — the same code on the same verification (counted against the
    send limit; its lifetime not extended); *new code* — a new verification for the
    same recipient and event, the previous code valid for the grace period. ``channel``
    switches between SMS and voice (default: the verification's)."""
    now = timezone.now()
    verification = _find_verification(stream, verification_id, "", "", "")
    refusal = _not_pending(verification, now)
    if refusal is not None:
        raise refusal
    channel = channel or verification.channel
    sealed = codes.unseal(verification.sealed)
    if stream.resend_policy == Stream.ResendPolicy.SAME_CODE and sealed is not None:
        end_user_ip = verification.end_user_ip
        try:
            normalize_recipient(verification.recipient, channel=channel, stream=stream)
            _enabled_template(stream, verification.event_key)  # refused if it is gone
            # Another message to the same range: judged and counted like a new send
            # (pumping through resends of one unused code is pumping all the same).
            velocity.check_send(
                stream=stream,
                recipient=verification.recipient,
                event_key=verification.event_key,
                end_user_ip=end_user_ip,
                now=now.timestamp(),
            )
            return _resend_same_code(stream, verification, channel, sealed, now)
        except guard.GuardRefusal as refusal:  # destinations, the velocity guard, a budget
            _settle_refusal(
                refusal,
                stream,
                verification.recipient,
                verification.event_key,
                channel,
                end_user_ip,
            )
            raise
    return send_otp(
        stream=stream,
        recipient=verification.recipient,
        event_key=verification.event_key,
        channel=channel,
        sender=sealed.sender if sealed and stream.is_customized_sender else "",
        code=sealed.code if sealed and not stream.platform_generates_code else "",
        variables=sealed.variables if sealed else None,
        caller_ip=caller_ip,
        end_user_ip=verification.end_user_ip,
    )


@sensitive_variables()
def _resend_same_code(
    stream: Stream, verification: Verification, channel: str, sealed: codes.Sealed, now
) -> SendResult:
    """The same code once more on the same verification: counted against the send limit
    and (but in test mode) the budgets, like any send."""
    with transaction.atomic():
        limits.reserve_send(stream=stream, recipient=verification.recipient, now=now)
        locked = _pending_to_resend(stream, verification.recipient, verification.event_key, now)
        if locked is not None:
            locked.stream = stream
        if locked is None or locked.id != verification.id:
            # Decided (or replaced) since it was read: say what it became.
            verification.refresh_from_db()
            raise _not_pending(verification, now) or OtpError(
                ErrorCode.VERIFICATION_CANCELED,
                "This verification was replaced by a newer code.",
                details={"status": "canceled", "reason": "replaced"},
            )
        message = send_code_again(locked, channel=channel, variables=sealed.variables)
        if not locked.is_test:  # test mode spends nothing
            budgets.reserve(stream=stream, estimate=_estimate_of(message), now=now)
    return SendResult(verification=locked, message=message, resent=True)


def _estimate_of(message: OutboundMessage) -> prices.Estimate:
    return estimate_message(
        account_id=message.account_id,
        stream_id=message.stream_id,
        channel=message.channel,
        recipient=message.recipient,
        text=message.text,
    )


# Per-request overrides stay within what a stream itself may be set to.
OVERRIDE_RANGES = {
    "length": policy.CODE_LENGTH,
    "ttl_seconds": policy.CODE_TTL_SECONDS,
    "max_attempts": policy.MAX_ATTEMPTS,
}


def _check_overrides(o: CodeOverrides, stream: Stream) -> None:
    """A request may only tighten the stream's policy: a longer code, a shorter life,
    fewer attempts, and never fewer possible codes than the stream's (a narrower
    alphabet needs a longer code). (Octopush clamps before calling here:
    compat/octopush.py.)"""
    for name, allowed in OVERRIDE_RANGES.items():
        value = getattr(o, name)
        low, high = allowed.minimum, allowed.maximum
        if value is not None and value not in allowed:
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                f"{name} must be between {low} and {high}.",
                fields={name: f"Between {low} and {high}."},
            )
    looser = {
        "length": (o.length is not None and o.length < stream.code_length, "at least"),
        "ttl_seconds": (
            o.ttl_seconds is not None and o.ttl_seconds > stream.code_ttl_seconds,
            "at most",
        ),
        "max_attempts": (
            o.max_attempts is not None and o.max_attempts > stream.max_attempts,
            "at most",
        ),
    }
    for name, (loosens, bound) in looser.items():
        if loosens:
            limit = getattr(stream, STREAM_SETTING[name])
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                f"{name} may only tighten the stream's policy: {bound} {limit}.",
                fields={name: f"{bound.capitalize()} {limit} (the stream's)."},
            )
    if stream.platform_generates_code:
        switches = {
            kind: _pick(getattr(o, kind), getattr(stream, f"code_{kind}"))
            for kind in ("digits", "upper", "lower", "special")
        }
        if any(switches.values()):
            size = len(policy.alphabet(**switches))
            if size ** (o.length or stream.code_length) < stream.code_space:
                needed = policy.shortest_length(size, stream.code_space)
                raise OtpError(
                    ErrorCode.INVALID_REQUEST,
                    "These code settings make codes easier to guess than the stream's "
                    f"({stream.code_length} characters of its alphabet): a request may "
                    "only tighten the stream's policy.",
                    fields={
                        "length": f"At least {needed} with these characters."
                        if needed
                        else "Too short for these characters."
                    },
                )


STREAM_SETTING = {
    "length": "code_length",
    "ttl_seconds": "code_ttl_seconds",
    "max_attempts": "max_attempts",
}


def normalize_recipient(
    value: str, *, country: str = "", channel: str = Channel.SMS, stream: Stream | None = None
) -> str:
    """The recipient in E.164 form, refusing numbers that cannot receive the channel or,
    given a stream, that its destination policy refuses (``otp.destinations``)."""
    try:
        phone = phones.parse_phone(value, country or None)
    except phones.NotAPhoneNumber:
        raise OtpError(
            ErrorCode.INVALID_PHONE,
            "The recipient is not a phone number: give it in E.164 form (+14155552671) "
            "or national form with `country`.",
            fields={"recipient": "Not a phone number."},
        ) from None
    except phones.InvalidPhoneNumber:
        raise OtpError(
            ErrorCode.INVALID_PHONE,
            "The recipient is not a valid phone number.",
            fields={"recipient": "Not a valid (possible and assigned) phone number."},
        ) from None
    if stream is not None:
        destinations.check_destination(stream=stream, phone=phone, channel=channel)
    elif channel == Channel.SMS and not phone.can_receive_sms:
        raise OtpError(
            ErrorCode.NOT_MOBILE,
            "SMS can only be sent to mobile numbers; use the voice channel for this one.",
            fields={"recipient": "Not a mobile number."},
        )
    return phone.e164


def _pick(override: bool | None, default: bool) -> bool:
    return default if override is None else override


def _idempotent_replay(
    stream: Stream, key: str, recipient: str, event_key: str, channel: str
) -> SendResult | None:
    earlier = Verification.objects.filter(stream=stream, idempotency_key=key).first()
    if earlier is None:
        return None
    if (earlier.recipient, earlier.event_key, earlier.channel) != (recipient, event_key, channel):
        raise OtpError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "This idempotency key was used for a different auth request.",
            fields={"idempotency_key": "Already used for another recipient, event or channel."},
        )
    return SendResult(
        verification=earlier,
        message=messages_for_verification(earlier.id).first(),
        replayed=True,
    )


def _template_text(
    stream: Stream, event_key: str, o: CodeOverrides
) -> tuple[EventTemplate | None, str]:
    template = None
    if event_key:
        cached = getattr(stream, "enabled_templates", None)  # see otp/stream_cache.py
        if cached is not None:
            template = cached.get(event_key)
        else:
            template = stream.templates.filter(key=event_key, enabled=True).first()
    if o.text is not None:
        return template, o.text
    if template is None:
        raise OtpError(
            ErrorCode.UNKNOWN_EVENT,
            f"The stream has no enabled event template with the key {event_key!r}.",
            fields={"event": "Unknown or disabled event key."},
        )
    return template, template.text


def _sender(stream: Stream, sender: str, o: CodeOverrides) -> str:
    if o.sender_value is not None:
        return o.sender_value
    if not stream.is_customized_sender:
        if sender:
            raise OtpError(
                ErrorCode.SENDER_NOT_ALLOWED,
                "The stream sends from its default sender; leave `sender` out.",
                fields={"sender": "Not allowed: the stream has a default sender."},
            )
        return stream.default_sender.value
    if not sender:
        raise OtpError(
            ErrorCode.SENDER_REQUIRED,
            "The stream's sender is Customized: give `sender`, one of the account's sender IDs.",
            fields={"sender": "Required by this stream."},
        )
    if not SenderID.objects.filter(account_id=stream.account_id, value=sender).exists():
        raise OtpError(
            ErrorCode.UNKNOWN_SENDER,
            f"{sender!r} is not one of the account's sender IDs.",
            fields={"sender": "Unknown sender ID."},
        )
    return sender


def _code(stream: Stream, code: str, o: CodeOverrides) -> str:
    if stream.platform_generates_code:
        if code:
            raise OtpError(
                ErrorCode.CODE_NOT_ALLOWED,
                "The platform generates this stream's codes; leave `code` out.",
                fields={"code": "Not allowed: the platform generates codes."},
            )
        return ""
    if not code:
        raise OtpError(
            ErrorCode.CODE_REQUIRED,
            "This stream expects the code from the client: give `code`.",
            fields={"code": "Required by this stream."},
        )
    if not CLIENT_CODE_RE.match(code):
        low, high = policy.CODE_LENGTH.minimum, policy.CODE_LENGTH.maximum
        raise OtpError(
            ErrorCode.INVALID_CODE_FORMAT,
            f"A code has {low} to {high} characters: digits, letters or " + codes.SPECIAL,
            fields={"code": f"{low} to {high} allowed characters."},
        )
    return code


def _locale(value: str) -> str:
    if not value:
        return ""
    try:
        return locales.normalize_locale(value)
    except locales.InvalidLocale:
        raise OtpError(
            ErrorCode.INVALID_REQUEST,
            f"locale must be a BCP 47 language tag (fr, fr-CA), not {value!r}.",
            fields={"locale": locales.LOCALE_HELP},
        ) from None


class _ContactLookup:
    """The recipient's contact, read at most once and only when something needs it."""

    def __init__(self, account_id: int, phone: str):
        self.account_id, self.phone = account_id, phone
        self._contact: Contact | bool | None = False

    def get(self) -> Contact | None:
        if self._contact is False:
            self._contact = Contact.objects.filter(
                account_id=self.account_id, phone=self.phone
            ).first()
        return self._contact  # type: ignore[return-value]


def _localized_text(
    stream: Stream,
    template: EventTemplate | None,
    text: str,
    requested: str,
    contact: _ContactLookup,
    o: CodeOverrides,
) -> tuple[str, str]:
    """The text in the send's locale, and the locale it is in (``locale_used``).

    A template without variants is its default text, in the stream's default locale:
    nothing to look up. Otherwise the locale is the request's, else the contact's, else
    the recipient's country's, resolved through ``fr-CA → fr → default``."""
    if o.text is not None:  # a text given with the request (the compatibility APIs)
        return text, requested or stream.default_locale
    if template is None or not template.variants:
        return text, stream.default_locale
    wanted = requested
    if not wanted:
        found = contact.get()
        wanted = found.locale if found is not None else ""
    if not wanted:
        wanted = locales.locale_for_country(phones.parse_phone(contact.phone).region)
    variant, tag = template.text_for(wanted or stream.default_locale)
    return variant, tag or stream.default_locale


def _values(
    stream: Stream,
    text: str,
    contact: _ContactLookup,
    variables: dict[str, str],
    ttl_seconds: int,
    locale_used: str,
) -> dict[str, str]:
    """The placeholders' values but the code: the platform's, the contact's, the
    request's variables (which win over the contact's)."""
    names = placeholders.placeholders_in(text)
    unknown = sorted(set(variables) - set(names) | (set(placeholders.PLATFORM) & set(variables)))
    if unknown:
        raise OtpError(
            ErrorCode.INVALID_REQUEST,
            "Variables must be placeholders of the event template (other than the code, "
            "brand and expires_in).",
            fields={f"variables.{n}": "Not a placeholder of this template." for n in unknown},
        )
    values: dict[str, str] = {}
    if any(n not in placeholders.PLATFORM and n not in variables for n in names):
        found = contact.get()
        if found is not None:
            values.update(found.placeholder_values())
    values.update(variables)
    if placeholders.BRAND in names:
        values[placeholders.BRAND] = stream.brand_name
    if placeholders.EXPIRES_IN in names:
        values[placeholders.EXPIRES_IN] = wording.expires_in(ttl_seconds, locale_used)
    return values


def _render(text: str, values: dict[str, str]) -> str:
    try:
        return placeholders.render(text, values)
    except placeholders.MissingVariable as exc:
        raise OtpError(
            ErrorCode.MISSING_VARIABLE,
            "The template needs "
            + ", ".join(placeholders.placeholder(n) for n in exc.names)
            + ": give it in `variables` or on the recipient's contact.",
            fields={f"variables.{n}": "Required by the template." for n in exc.names},
        ) from None


# --- The verification request ------------------------------------------------------


@sensitive_variables()
def check_code(
    *,
    stream: Stream,
    code: str,
    verification_id: uuid.UUID | str | None = None,
    recipient: str = "",
    event_key: str = "",
    country: str = "",
) -> Verification:
    """Approve the verification if ``code`` is right; otherwise count the wrong attempt
    and raise the refusal.

    Each outcome is one conditional UPDATE on a still-pending row (a named state change
    of ``VerificationQuerySet``; no row is locked), so the database decides races: of
    concurrent right codes one approves, of concurrent wrong codes exactly
    ``max_attempts`` are counted; the losers re-read the row and are told why.
    """
    now = timezone.now()
    verification = _find_verification(stream, verification_id, recipient, event_key, country)
    if not verification_id and stream.resend_grace_seconds:
        verification = _in_grace_matching(verification, code.strip(), now) or verification
    refusal = _not_pending(verification, now)
    if refusal is not None:
        _record_check(verification, now, Check.Result.REFUSED)
        raise refusal
    if codes.code_matches(verification.id, code.strip(), verification.code_hash):
        # The approving check is the verification's decision (``decided_at``): no row of
        # its own, so the right code costs one UPDATE (and, for a stream with webhooks,
        # its event in the same transaction).
        with transaction.atomic() if stream.webhooks_enabled else nullcontext():
            if _approve_forgetting_code(verification, now):
                velocity.note_approved(
                    stream=stream, recipient=verification.recipient, now=now.timestamp()
                )
                webhooks.record_ending(verification)
                return verification
    else:
        # Short of the last attempt, the count and its check are one statement; the last
        # one also forgets the code and ends the verification: one transaction.
        counted = verification.count_wrong_attempt_checked(now=now)
        if not counted:
            with transaction.atomic():
                counted = verification.count_wrong_attempt(now=now)
                if counted:
                    _record_check(verification, now, Check.Result.WRONG_CODE)
                    if verification.status != Status.PENDING:  # that was the last attempt
                        forget_codes([verification.id])
                        webhooks.record_ending(verification)
        if counted:
            left = verification.attempts_left
            raise OtpError(
                ErrorCode.WRONG_CODE,
                "The code is wrong. "
                + (f"{left} attempt(s) left." if left else "No attempts left: the code is locked."),
                fields={"code": "Wrong code."},
                details={"attempts_left": left, "status": verification.status},
            )
    # Another request decided the row first: say what it became.
    verification.refresh_from_db()
    _record_check(verification, now, Check.Result.REFUSED)
    raise _not_pending(verification, now) or OtpError(
        ErrorCode.SERVICE_UNAVAILABLE, "The verification changed meanwhile; retry."
    )


def _approve_forgetting_code(verification: Verification, now) -> bool:
    """Approve the verification and forget its code in its messages: one statement on
    PostgreSQL (atomic without a transaction); elsewhere two, where a lost second write
    leaves the code to the expiry sweep, which masks it."""
    if connection.vendor != "postgresql":
        if not verification.approve(now=now):
            return False
        forget_codes([verification.id], approved=True)
        return True
    approve_sql, approve_params = _APPROVING(now=now, pk=verification.pk)
    forget_sql, forget_params = forget_codes_statement(
        "SELECT id FROM approved", now=now, approved=True
    )
    approved = f"approved AS ({approve_sql} RETURNING {_V}.{_V_ID} AS id)"
    statement = f"WITH {approved}, forgotten AS ({forget_sql}) SELECT count(*) FROM approved"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, [*approve_params, *forget_params])
        [(moved,)] = cursor.fetchall()
    if moved:
        verification.approved(now=now)
    return bool(moved)


def _in_grace_matching(newest: Verification, code: str, now) -> Verification | None:
    """Found by recipient and event: when the code is not the newest verification's, the
    replaced one whose grace period is running and whose code it is."""
    if codes.code_matches(newest.id, code, newest.code_hash):
        return None
    graced = Verification.objects.pending().filter(
        stream_id=newest.stream_id,
        recipient=newest.recipient,
        event_key=newest.event_key,
        replaced_by_id__isnull=False,
        expires_at__gt=now,
    )
    for candidate in graced.order_by("-created_at")[:5]:
        if codes.code_matches(candidate.id, code, candidate.code_hash):
            return candidate
    return None


def _record_check(verification: Verification, now, result: str) -> None:
    """The timeline's entry for one verification request."""
    Check.objects.create(verification=verification, checked_at=now, result=result)


def _find_verification(
    stream: Stream,
    verification_id: uuid.UUID | str | None,
    recipient: str,
    event_key: str,
    country: str,
) -> Verification:
    # The test token finds only test verifications, the live token only live ones.
    found = Verification.objects.filter(stream=stream, is_test=getattr(stream, "test_mode", False))
    if verification_id:
        found = found.filter(id=verification_id)
    else:
        try:
            phone = normalize_recipient(recipient, country=country, channel=Channel.VOICE)
        except OtpError:
            phone = None
        found = found.filter(recipient=phone, event_key=event_key).order_by("-created_at")
    verification = found.first()
    if verification is None:
        raise OtpError(
            ErrorCode.VERIFICATION_NOT_FOUND,
            "No verification of this stream matches.",
            fields={"id": "Not found."} if verification_id else {"recipient": "Not found."},
        )
    verification.stream = stream  # the caller's (cached) stream: no query to read it
    return verification


def _not_pending(verification: Verification, now) -> OtpError | None:
    """The refusal for a verification that can no longer be approved, if it is one.
    A pending verification past its expiry is marked expired here."""
    expired_now = verification.status == Status.PENDING and now >= verification.expires_at
    if expired_now:
        with transaction.atomic():
            if verification.expire_if_due(now=now):
                webhooks.record_ending(verification)
            else:
                verification.refresh_from_db()  # another request decided it first
    refusals = {
        Status.EXPIRED: (ErrorCode.VERIFICATION_EXPIRED, "The code has expired."),
        Status.MAX_ATTEMPTS_REACHED: (
            ErrorCode.MAX_ATTEMPTS_REACHED,
            "Too many wrong codes: this verification is locked. Send a new code.",
        ),
        Status.APPROVED: (
            ErrorCode.ALREADY_APPROVED,
            "This code was already used: codes are single use.",
        ),
        Status.CANCELED: (
            ErrorCode.VERIFICATION_CANCELED,
            "This verification was replaced by a newer code."
            if verification.reason == Verification.Reason.REPLACED
            else "This verification was canceled.",
        ),
        Status.FAILED: (
            ErrorCode.VERIFICATION_FAILED,
            "The message with this code could not be delivered.",
        ),
    }
    if verification.status in refusals:
        code, message = refusals[verification.status]
        details = {
            "status": verification.status,
            "reason": verification.reason,
            "attempts_left": verification.attempts_left,
        }
        if verification.replaced_by_id:
            details["replaced_by"] = str(verification.replaced_by_id)
        return OtpError(code, message, details=details)
    return None


def cancel_verification(*, stream: Stream, verification_id: uuid.UUID | str) -> Verification:
    """Cancel a pending verification: its code stops working at once."""
    now = timezone.now()
    verification = _find_verification(stream, verification_id, "", "", "")
    refusal = _not_pending(verification, now)
    if refusal is None:
        with transaction.atomic():
            if verification.cancel(now=now):
                forget_codes([verification.id])
                webhooks.record_ending(verification)
                return verification
        verification.refresh_from_db()
        refusal = _not_pending(verification, now)
    if refusal is not None:
        raise refusal
    return verification


# --- Reads --------------------------------------------------------------------------


def get_verification(*, stream: Stream, verification_id: uuid.UUID | str) -> Verification:
    """A verification of ``stream`` — whatever its status, for as long as it is retained
    — with its latest message (``latest_message``) and its timeline (``timeline``)."""
    test_mode = getattr(stream, "test_mode", False)
    found = Verification.objects.filter(stream=stream, id=verification_id, is_test=test_mode)
    verification = found.first()
    if verification is None:
        raise OtpError(
            ErrorCode.VERIFICATION_NOT_FOUND,
            "No verification of this stream has this id.",
            fields={"id": "Not found."},
        )
    verification.timeline = timelines([verification])[verification.id]
    sends = verification.timeline.sends
    verification.latest_message = sends[-1] if sends else None
    return verification
