"""Queueing and delivering outbound messages.

``queue_message`` is the one function other apps call: it writes the message in the
caller's transaction and enqueues its delivery after commit. ``deliver_message`` is
what the worker runs: it claims the message with a conditional update so a task that
runs twice sends once.
"""

import logging
import time

from django.db import transaction
from django.utils import timezone

from .models import Gateway, MessageAttempt, OutboundMessage
from .sms import sms_parts

log = logging.getLogger(__name__)


def queue_message(
    *,
    account_id: int,
    channel: str,
    recipient: str,
    sender: str,
    text: str,
    verification_id=None,
    voice_language: str = "",
    voice_gender: str = "",
) -> OutboundMessage:
    parts = sms_parts(text)
    message = OutboundMessage.objects.create(
        account_id=account_id,
        verification_id=verification_id,
        channel=channel,
        recipient=recipient,
        sender=sender,
        text=text,
        encoding=parts.encoding,
        segments=parts.segments if channel == OutboundMessage.Channel.SMS else 0,
        voice_language=voice_language,
        voice_gender=voice_gender,
    )
    enqueue_delivery(message)
    return message


def enqueue_delivery(message: OutboundMessage) -> None:
    from .tasks import deliver_message_task

    message_id = str(message.id)
    transaction.on_commit(lambda: deliver_message_task.delay(message_id))


def claim(message_id) -> OutboundMessage | None:
    """Move a queued message to ``sending``; ``None`` when another worker has it or it
    is already past queued (a duplicate task)."""
    claimed = OutboundMessage.objects.filter(
        id=message_id, status=OutboundMessage.Status.QUEUED
    ).update(status=OutboundMessage.Status.SENDING, updated_at=timezone.now())
    if not claimed:
        return None
    return OutboundMessage.objects.get(id=message_id)


def deliver_message(message_id) -> str | None:
    """Hand one message to its gateway. Returns the status it ended in, or ``None``
    when there was nothing to do."""
    message = claim(message_id)
    if message is None:
        log.info("message %s already claimed", message_id)
        return None
    started = time.monotonic()
    # The console outbox: the message row is the outbox entry, so sending is recording.
    gateway = console_gateway()
    now = timezone.now()
    message.gateway = gateway
    message.status = OutboundMessage.Status.SENT
    message.attempts += 1
    message.sent_at = now
    message.provider_message_id = f"console-{message.id.hex[:12]}"
    message.save(
        update_fields=[
            "gateway",
            "status",
            "attempts",
            "sent_at",
            "provider_message_id",
            "updated_at",
        ]
    )
    MessageAttempt.objects.create(
        message=message,
        gateway=gateway,
        outcome=MessageAttempt.Outcome.SENT,
        provider_message_id=message.provider_message_id,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    return message.status


def console_gateway() -> Gateway:
    """The development outbox gateway, created on first use."""
    gateway, _ = Gateway.objects.get_or_create(
        name="console", defaults={"kind": Gateway.Kind.CONSOLE}
    )
    return gateway
