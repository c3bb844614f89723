"""Channel fallback: the same code again on another channel when the stream's trigger
fires — a delivery report that says undelivered/failed (told by gateways' signal), no
delivered report within N seconds, or no successful check within N seconds (both
checked by a beat task).

A step fires at most once: its ``Fallback`` row is unique per (verification, step) and
written in the transaction that queues the message, the verification's row locked and
still pending, so two schedulers, a duplicate report or an approval racing the trigger
cannot make a second call or a call after the end. Without a fallback (or once it was
used), a final undelivered/failed report ends the verification ``failed`` with the
reason ``undeliverable``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from gateways.selectors import messages_for_verification, verifications_with_delivered_message
from gateways.services import forget_codes
from streams.models import Stream

from . import codes, services, webhooks
from .errors import OtpError
from .models import Fallback, Verification

log = logging.getLogger(__name__)
Trigger = Stream.FallbackTrigger
# A message that can still reach the recipient.
IN_FLIGHT = ("queued", "sending", "sent", "delivered")


def message_not_delivered(*, verification_id: UUID, message_id: UUID | None = None, **_) -> None:
    """gateways' ``message_failed``: fall back if the stream says so, or end the
    verification as undeliverable when no other message of it can still arrive."""
    now = timezone.now()
    with transaction.atomic():
        verification = _locked_pending(verification_id, now)
        if verification is None:
            return
        stream = verification.stream
        falls_back = stream.fallback_channel and stream.fallback_trigger == Trigger.UNDELIVERED
        if falls_back and fire(verification, trigger=Trigger.UNDELIVERED, now=now):
            return
        others = messages_for_verification(verification.id).exclude(id=message_id)
        if others.filter(status__in=IN_FLIGHT).exists():
            return  # a resend or the fallback may still arrive
        if verification.fail(now=now, reason=Verification.Reason.UNDELIVERABLE):
            forget_codes([verification.id])
            webhooks.record_ending(verification)


def fire(verification: Verification, *, trigger: str, now: datetime, step: int = 1) -> bool:
    """Send the code on the stream's fallback channel as ``step`` of the path, unless
    that step already fired. Call inside a transaction holding the verification's
    row lock (see ``_locked_pending``)."""
    sealed = codes.unseal(verification.sealed)
    if sealed is None:
        return False
    stream = verification.stream
    latest = messages_for_verification(verification.id).first()
    try:
        with transaction.atomic():
            fallback = Fallback.objects.create(
                verification=verification,
                step=step,
                trigger=trigger,
                from_channel=latest.channel if latest else verification.channel,
                to_channel=stream.fallback_channel,
                fired_at=now,
            )
    except IntegrityError:
        return False  # this step fired already
    try:
        message = services.send_code_again(
            verification,
            channel=stream.fallback_channel,
            variables=sealed.variables,
        )
    except OtpError as exc:  # the event template is gone: nothing to say on the call
        log.warning("fallback of %s not sent: %s", verification.id, exc.message)
        return False
    Fallback.objects.filter(pk=fallback.pk).update(message_id=message.id)
    data = webhooks.verification_data(
        verification,
        fallback={"step": step, "trigger": trigger, "channel": stream.fallback_channel},
    )
    webhooks.record(
        stream=stream, type=webhooks.Type.FALLBACK, verification=verification, data=data
    )
    return True


def fire_due_fallbacks() -> int:
    """Beat: fire the timed triggers that are due. Safe to run on several schedulers at
    once; returns how many fallbacks this run fired."""
    now = timezone.now()
    fired = 0
    streams = Stream.objects.exclude(fallback_channel="").filter(
        fallback_trigger__in=[Trigger.NO_DELIVERY_REPORT, Trigger.NO_CHECK]
    )
    for stream in streams:
        due = (
            Verification.objects.pending()
            .filter(
                stream=stream,
                expires_at__gt=now,
                created_at__lte=now - timedelta(seconds=stream.fallback_after_seconds),
            )
            .exclude(fallbacks__step=1)
            .values_list("id", flat=True)[:1000]
        )
        due = list(due)
        if stream.fallback_trigger == Trigger.NO_DELIVERY_REPORT:
            delivered = verifications_with_delivered_message(due)
            due = [vid for vid in due if vid not in delivered]
        for verification_id in due:
            with transaction.atomic():
                verification = _locked_pending(verification_id, now)
                if verification is not None:
                    fired += fire(verification, trigger=stream.fallback_trigger, now=now)
    return fired


def _locked_pending(verification_id: UUID, now: datetime) -> Verification | None:
    """The verification, its row locked until the transaction ends, if it is still
    pending and unexpired: nothing falls back after approval, cancel or expiry."""
    verification = (
        Verification.objects.select_for_update()
        .select_related("stream")
        .filter(id=verification_id)
        .first()
    )
    if verification is None or verification.current_status != Verification.Status.PENDING:
        return None
    return verification
