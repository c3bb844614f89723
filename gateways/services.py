"""Queueing, delivering and tracking outbound messages.

``queue_message`` is the one function other apps call: it writes the message in the
caller's transaction and enqueues its delivery after commit. ``deliver_message`` is
what the worker runs: it claims the message with a conditional update (a task that runs
twice sends once), walks the account's route — retrying a hop with exponential backoff
and jitter on retryable errors, failing over to the next hop on permanent errors or
when the retries are spent — and records every attempt. ``apply_receipt`` moves a
message forward on a provider's delivery report, never backward.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from celery import current_app
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models.expressions import RawSQL
from django.dispatch import Signal
from django.utils import timezone

from streams import crypto, phones, ratelimit, statements

from . import prices, routes
from .adapters import UNKNOWN, Adapter, PermanentError, Receipt, RetryableError, adapter_for
from .models import Gateway, MessageAttempt, OutboundMessage
from .prices import Estimate

log = logging.getLogger(__name__)
Status = OutboundMessage.Status

# Sent with ``verification_id``, ``message_id`` and ``status`` when a message ends
# failed (no gateway took it) or a delivery report says undelivered/failed: otp falls
# back to another channel or ends the verification. Sent once per message: only by the
# change that moved it.
message_failed = Signal()
# Sent with ``verification_id`` and ``message_id`` when a delivery report says delivered.
message_delivered = Signal()

# The delivery task, named rather than imported: tasks.py imports this module, and the
# app registers the task at start-up (GatewaysConfig.ready), so eager mode still runs
# it in-process.
DELIVER_TASK = "gateways.deliver_message"
DELIVER_BATCH_TASK = "gateways.deliver_batch"


# --- Queueing ---------------------------------------------------------------------------


def estimate_message(
    *, account_id: int, stream_id: int | None, channel: str, recipient: str, text: str
) -> Estimate:
    """:func:`gateways.prices.estimate` of ``text`` through the route the message would
    take (its rule's hops in order, before a weighted pick; no query once the routes
    are cached)."""
    country = phones.region_of(recipient)
    route = routes.plan(
        account_id=account_id,
        stream_id=stream_id,
        channel=channel,
        recipient=recipient,
        country=country,
    )
    return prices.estimate(
        channel=channel,
        country=country,
        text=text,
        gateway_ids=tuple(gateway.pk for gateway in route.gateways),
    )


def queue_message(**fields) -> OutboundMessage:
    """Write the message in the caller's transaction and enqueue its delivery after
    commit (the fields are :func:`new_message`'s)."""
    message = new_message(**fields)
    message.save(force_insert=True)
    return queued(message)


def new_message(
    *,
    account_id: int,
    stream_id: int | None = None,
    channel: str,
    recipient: str,
    sender: str,
    text: str,
    masked_text: str = "",
    expires_at: datetime | None = None,
    verification_id=None,
    voice_language: str = "",
    voice_gender: str = "",
    voice: dict | None = None,
    test_outcome: str = "",
    estimate: Estimate | None = None,
) -> OutboundMessage:
    """The message to queue, not yet written (a caller that writes it within a larger
    statement calls :func:`queued` once it is). ``masked_text`` is ``text`` with its
    code masked (empty: there is no code), kept to replace ``text`` once ``expires_at``
    passes or :func:`forget_codes` says the code no longer counts; the segments are
    those of the real text. A ``test_outcome`` (test mode) is played by the worker
    instead of handing the message to a gateway. ``estimate`` is
    :func:`estimate_message` of this text, when the caller made one already (to check a
    budget); otherwise it is made here. ``stream_id``: the stream it is sent for, whose
    routing rules come first."""
    if estimate is None:
        estimate = estimate_message(
            account_id=account_id,
            stream_id=stream_id,
            channel=channel,
            recipient=recipient,
            text=text,
        )
    return OutboundMessage(
        account_id=account_id,
        stream_id=stream_id,
        country=estimate.country,
        verification_id=verification_id,
        channel=channel,
        recipient=recipient,
        sender=sender,
        text=text,
        masked_text=masked_text,
        expires_at=expires_at,
        encoding=estimate.encoding,
        segments=estimate.segments,
        estimated_cost=estimate.cost_expression(),  # priced in the INSERT itself
        voice_language=voice_language,
        voice_gender=voice_gender,
        voice=voice or {},
        test_outcome=test_outcome,
    )


def queued(message: OutboundMessage) -> OutboundMessage:
    """A message just written: its delivery enqueued after the transaction commits."""
    del message.estimated_cost  # the expression, not its value: read again when asked
    enqueue_delivery(message)
    return message


def enqueue_delivery(message: OutboundMessage) -> None:
    """Trigger a batch delivery after the surrounding transaction commits. A broker that
    is down must not fail the request that wrote the message: it stays queued and the
    periodic re-queue sends it once the broker is back."""
    channel = message.channel
    transaction.on_commit(lambda: trigger_batch(channel), robust=True)


# At most one batch trigger per channel waits at a time: a login storm of thousands of
# sends publishes a handful of tasks, not one per message. The batch task clears the
# mark before it claims, so a message committed after its claim triggers anew: none
# waits for the periodic re-queue.
TRIGGER_SCOPE = "dispatch-trigger"


def trigger_batch(channel: str) -> bool:
    if not ratelimit.hit(TRIGGER_SCOPE, channel, limit=1, period=TRIGGER_PERIOD).allowed:
        return True  # a batch task is on its way and will claim this message
    return publish_batch(channel)


# Seconds: the mark is a fixed-window count, so a lost task delays the next trigger by
# at most this (and a batch task running longer lets one more trigger through).
TRIGGER_PERIOD = 1


def publish_batch(channel: str) -> bool:
    try:
        current_app.signature(DELIVER_BATCH_TASK, args=(channel,)).apply_async(queue=channel)
    except Exception as exc:  # kombu raises several types; none may reach the caller
        log.warning("%s batch not enqueued (%s); the re-queue will send it", channel, exc)
        ratelimit.reset(TRIGGER_SCOPE, channel, period=TRIGGER_PERIOD)
        return False
    return True


def publish(message_id: str, channel: str, countdown: float | None = None) -> bool:
    try:
        current_app.signature(DELIVER_TASK, args=(message_id,)).apply_async(
            queue=channel, countdown=countdown
        )
    except Exception as exc:  # kombu raises several types; none may reach the caller
        log.warning("message %s not enqueued (%s); the re-queue will send it", message_id, exc)
        return False
    return True


# --- Delivering ---------------------------------------------------------------------------


def claim(message_id) -> OutboundMessage | None:
    """Move a queued message to ``sending``; ``None`` when another worker has it, it
    is already past queued (a duplicate task), or its code stopped counting."""
    if not OutboundMessage.objects.filter(id=message_id).claim():
        return None
    return OutboundMessage.objects.get(id=message_id)


def cancel_if_expired(message_id) -> bool:
    """Cancel a queued message whose code stopped counting (its verification was
    decided, canceled, replaced or expired): it is never handed to a provider."""
    now = timezone.now()
    expired = OutboundMessage.objects.filter(
        id=message_id, status=Status.QUEUED, expires_at__lte=now
    )
    return bool(expired.forget_codes(now=now))


def route_for(message: OutboundMessage) -> list[Gateway]:
    """The gateways the message walks, primary first (``gateways.routes``)."""
    return routes.plan_for(message).gateways


def deliver_message(message_id) -> str | None:
    """Hand one message to its route. Returns the status it is left in, or ``None``
    when there was nothing to do."""
    message = claim(message_id)
    if message is None:
        if cancel_if_expired(message_id):
            log.info("message %s canceled: its code no longer counts", message_id)
            return Status.CANCELED
        log.info("message %s not queued (claimed already, or done)", message_id)
        return None
    if message.test_outcome:
        return _play_test_outcome(message)
    return _walk(message, route_for(message))


@dataclass
class _Try:
    """One call to a gateway: the provider's id, or the error it raised."""

    provider_id: str = ""
    error: Exception | None = None
    started: float = 0.0


def _try(gateway: Gateway, message: OutboundMessage) -> _Try:
    started = time.monotonic()
    try:
        return _Try(adapter_for(gateway).send(message), None, started)
    except Exception as exc:
        return _Try("", exc, started)


def _walk(message: OutboundMessage, hops: list[Gateway], first: _Try | None = None) -> str:
    """Walk the route of a claimed message from its current hop; ``first`` is the
    outcome of a call to that hop already made (by a batch)."""
    while message.route_position < len(hops):
        gateway = hops[message.route_position]
        if first is None:
            wait = _rate_wait(gateway)
            if wait:
                return _later(message, wait, reason="")
            outcome = _try(gateway, message)
        else:
            outcome, first = first, None
        exc, started = outcome.error, outcome.started
        if exc is None:
            return record_sent(message, gateway, outcome.provider_id, started)
        if isinstance(exc, RetryableError):
            _record(message, gateway, MessageAttempt.Outcome.RETRYABLE, started, exc.reason)
            message.hop_attempts += 1
            if message.hop_attempts <= _max_retries(gateway):
                delay = exc.retry_after or backoff(message.hop_attempts)
                return _later(message, delay, reason=f"{gateway.name}: {exc.reason}")
            message.last_error = f"{gateway.name}: {exc.reason}"
        elif isinstance(exc, PermanentError):
            _record(message, gateway, MessageAttempt.Outcome.PERMANENT, started, exc.reason)
            message.last_error = f"{gateway.name}: {exc.reason}"
        else:
            # A bug or a bad setting in the adapter: recorded like a permanent error, so
            # the message fails over or fails instead of staying claimed forever.
            log.error("gateway %s raised on message %s", gateway.name, message.id, exc_info=exc)
            reason = f"adapter error: {exc.__class__.__name__}: {exc}"
            _record(message, gateway, MessageAttempt.Outcome.PERMANENT, started, reason)
            message.last_error = f"{gateway.name}: {reason}"
        # Fail over to the next hop of the route, at once.
        message.route_position += 1
        message.hop_attempts = 0
    return _failed(message)


def _play_test_outcome(message: OutboundMessage) -> str:
    """Test mode: what a gateway and its delivery report would have done, through the
    same state changes and signals, with no provider called."""
    if message.test_outcome == "submit_failure":
        message.last_error = "test mode: submit failure"
        return _failed(message)
    messages = OutboundMessage.objects.filter(id=message.id)
    messages.mark_sent(gateway=None, provider_message_id=f"test-{message.id}")
    report = {"delivered": Status.DELIVERED, "undelivered": Status.UNDELIVERED}.get(
        message.test_outcome
    )
    if report is None:  # never_delivered: sent, and no report ever comes
        return Status.SENT
    messages.apply_receipt_status(report, provider_status=f"test:{message.test_outcome}")
    message.refresh_from_db()
    _tell_outcome(message)
    return message.status


def record_sent(message: OutboundMessage, gateway: Gateway, provider_id: str, started) -> str:
    """The provider took the message: record it, whatever the database does meanwhile.
    The attempt and the status land together (one transaction); a write lost to a
    dropped connection is retried with backoff on a fresh connection for as long as
    the claim's lease lasts, since a claim left to expire would be settled (and
    possibly resent) by the re-queue."""
    message.attempts += 1
    duration_ms = int((time.monotonic() - started) * 1000)

    def write() -> str:
        with transaction.atomic():
            MessageAttempt.objects.create(
                message=message,
                gateway=gateway,
                outcome=MessageAttempt.Outcome.SENT,
                provider_message_id=provider_id,
                duration_ms=duration_ms,
            )
            return _sent(message, gateway, provider_id)

    give_up_at = claim_expiry(message) - timedelta(seconds=1)
    landed = lambda: _recorded_sent(message, provider_id)  # noqa: E731
    return _through_blips(write, give_up_at, what=f"message {message.id}", landed=landed) or (
        Status.SENT
    )


def _through_blips(write: Callable, give_up_at: datetime, *, what: str, landed: Callable[[], bool]):
    """Run ``write`` (a transaction recording what a provider took), retrying with
    backoff on a fresh connection when the database drops it, until ``give_up_at``;
    before a retry, ``landed()`` says whether the lost try committed after all."""
    tries = 0
    while True:
        try:
            if tries and landed():
                return None  # the connection died after the commit landed
            return write()
        except (OperationalError, InterfaceError) as exc:
            tries += 1
            delay = min(0.05 * 2**tries, 2.0)
            if timezone.now() + timedelta(seconds=delay) >= give_up_at:
                log.error("%s sent but not recorded (%s): left to the re-queue", what, exc)
                raise
            log.warning("%s sent; recording it failed (%s), retrying", what, exc)
            _reconnect()
            time.sleep(delay)


def _recorded_sent(message: OutboundMessage, provider_id: str) -> bool:
    return MessageAttempt.objects.filter(
        message_id=message.id,
        outcome=MessageAttempt.Outcome.SENT,
        provider_message_id=provider_id,
    ).exists()


def claim_expiry(message: OutboundMessage) -> datetime:
    """When the re-queue will consider the worker of this claim dead."""
    claimed_at = message.claimed_at or timezone.now()
    return claimed_at + timedelta(seconds=settings.GATEWAY_CLAIM_LEASE_SECONDS)


def _reconnect() -> None:
    """Drop a broken database connection so the next query opens a new one (not inside
    a transaction: there the caller's transaction is what failed)."""
    if not connection.in_atomic_block:
        connection.close()


# --- Delivering in batches ----------------------------------------------------------------


def deliver_batch(*, channel: str, limit: int | None = None) -> int:
    """Claim up to ``limit`` queued messages of ``channel`` at once, send each to the
    first hop it is due at — concurrently, up to ``GATEWAY_BATCH_CONCURRENCY`` calls in
    flight — and record the sent ones in bulk; a message that meets an error walks its
    route alone as ``deliver_message`` would. Returns how many messages it claimed. A
    full batch triggers the next one at once, so several workers drain a backlog
    together.

    Only gateways that deduplicate or can be asked about a message (see
    :func:`settle_dead_claim`) get many calls in flight: for the others, a worker lost
    mid-batch would resend (marked possibly duplicated) every message it held, so a
    batch keeps one such message and gives the rest back at once, unmarked, to the
    next batch — the one-call-per-process behaviour of ``deliver_message``."""
    limit = limit or settings.GATEWAY_BATCH_SIZE
    ratelimit.reset(TRIGGER_SCOPE, channel, period=TRIGGER_PERIOD)  # before the claim
    # The claim and the give-back commit together: a worker lost between them holds no
    # claim it was never going to use.
    with transaction.atomic():
        messages = OutboundMessage.objects.claim_batch(channel=channel, limit=limit)
        hops_of = {m.id: route_for(m) for m in messages}
        concurrent, alone, give_back, test_mode = [], [], [], []
        for message in messages:
            hops = hops_of[message.id]
            if message.test_outcome:
                test_mode.append(message)  # played here, never handed to a gateway
                continue
            if message.route_position < len(hops) and _wide(hops[message.route_position]):
                concurrent.append(message)
            elif message.route_position >= len(hops) or not any(
                m.route_position < len(hops_of[m.id]) for m in alone
            ):
                alone.append(message)  # no hop left (fails at once), or the one narrow call
            else:
                give_back.append(message)
        if give_back:
            given = OutboundMessage.objects.filter(id__in=[m.id for m in give_back])
            given.release(retry_at=None)
    if len(messages) == limit or give_back:
        publish_batch(channel)
    outcomes = _send_concurrently([(m, hops_of[m.id][m.route_position]) for m in concurrent])
    sent_by_gateway: dict[Gateway, list[tuple[OutboundMessage, _Try]]] = {}
    failed = []
    for message, outcome in zip(concurrent, outcomes, strict=True):
        if outcome.error is None:
            gateway = hops_of[message.id][message.route_position]
            sent_by_gateway.setdefault(gateway, []).append((message, outcome))
        else:
            failed.append((message, outcome))
    # What the providers took is recorded first: a failover below that dies with its
    # connection must not leave them unrecorded, to be sent again after the lease.
    for gateway, sent in sent_by_gateway.items():
        _record_sent(gateway, sent)
    for message, outcome in failed:
        _walk(message, hops_of[message.id], first=outcome)
    for message in alone:
        _walk(message, hops_of[message.id])
    for message in test_mode:
        _play_test_outcome(message)
    return len(messages)


def _wide(gateway: Gateway) -> bool:
    """Whether many calls to ``gateway`` may be in flight at once: no rate to keep, and
    a lost call can be settled without a blind resend."""
    if gateway.rate_per_second:
        return False
    try:
        adapter = adapter_for(gateway)
    except PermanentError:
        return False
    return adapter.idempotent or type(adapter).lookup is not Adapter.lookup


def _send_concurrently(calls: list[tuple[OutboundMessage, Gateway]]) -> list[_Try]:
    """The gateway calls of a batch on a thread pool (the adapters are blocking HTTP
    clients; the calls wait on the network, not the CPU)."""
    if len(calls) <= 1:
        return [_try(gateway, message) for message, gateway in calls]
    return list(_pool().map(lambda call: _try(call[1], call[0]), calls))


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=settings.GATEWAY_BATCH_CONCURRENCY, thread_name_prefix="gateway-call"
    )


def _record_sent(gateway: Gateway, sent: list[tuple[OutboundMessage, _Try]]) -> None:
    """``record_sent`` for the messages of a batch one gateway accepted: their attempts
    and statuses in one transaction, retried through a database blip as long as the
    earliest of their claims lasts."""
    if len(sent) == 1:
        [(message, outcome)] = sent
        record_sent(message, gateway, outcome.provider_id, outcome.started)
        return
    finished = time.monotonic()
    attempts, statuses = [], {}
    for message, outcome in sent:
        message.attempts += 1
        attempts.append(
            MessageAttempt(
                message=message,
                gateway=gateway,
                outcome=MessageAttempt.Outcome.SENT,
                provider_message_id=outcome.provider_id,
                duration_ms=int((finished - outcome.started) * 1000),
            )
        )
        statuses[message.id] = (outcome.provider_id, _progress(message))

    def write() -> None:
        with transaction.atomic():
            MessageAttempt.objects.bulk_create(attempts)
            OutboundMessage.objects.mark_sent_many(statuses, gateway=gateway)

    give_up_at = min(claim_expiry(m) for m, _ in sent) - timedelta(seconds=1)
    first, outcome = sent[0]  # all or none of the batch's rows commit
    landed = lambda: _recorded_sent(first, outcome.provider_id)  # noqa: E731
    _through_blips(write, give_up_at, what=f"{len(sent)} message(s) of a batch", landed=landed)


def backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: up to base * 2^(attempt-1), capped."""
    base = settings.GATEWAY_RETRY_BASE_SECONDS
    ceiling = min(settings.GATEWAY_RETRY_MAX_SECONDS, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def _max_retries(gateway: Gateway) -> int:
    try:
        return int(gateway.settings.get("max_retries", settings.GATEWAY_MAX_RETRIES))
    except (TypeError, ValueError):  # saved before settings were checked: the default
        return settings.GATEWAY_MAX_RETRIES


def _rate_wait(gateway: Gateway) -> float:
    """Seconds to wait before this gateway may take another message (0: go). A counter
    per gateway and second in the shared cache keeps all workers under the provider's
    throughput limit."""
    if not gateway.rate_per_second:
        return 0.0
    decision = ratelimit.hit(
        "gateway-rate", str(gateway.pk), limit=gateway.rate_per_second, period=1
    )
    if decision.allowed:
        return 0.0
    return decision.retry_after + random.uniform(0, 0.2)


def _record(message, gateway, outcome, started, error="", provider_id="") -> None:
    message.attempts += 1
    MessageAttempt.objects.create(
        message=message,
        gateway=gateway,
        outcome=outcome,
        error=error[:2000],
        provider_message_id=provider_id,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _progress(message: OutboundMessage) -> dict:
    """How far the route walk got, written with every status change."""
    return {
        "attempts": message.attempts,
        "hop_attempts": message.hop_attempts,
        "route_position": message.route_position,
    }


def _later(message: OutboundMessage, delay: float, *, reason: str) -> str:
    """Give the claim back and try again in ``delay`` seconds."""
    OutboundMessage.objects.filter(id=message.id).release(
        retry_at=timezone.now() + timedelta(seconds=delay),
        last_error=reason or message.last_error,
        **_progress(message),
    )
    publish(str(message.id), message.channel, countdown=delay)
    return Status.QUEUED


def _sent(message: OutboundMessage, gateway: Gateway, provider_id: str) -> str:
    OutboundMessage.objects.filter(id=message.id).mark_sent(
        gateway=gateway, provider_message_id=provider_id, **_progress(message)
    )
    return Status.SENT


def _failed(message: OutboundMessage) -> str:
    progress = _progress(message)
    del progress["hop_attempts"]  # a failed message starts no hop
    OutboundMessage.objects.filter(id=message.id).mark_failed(
        error=message.last_error or "no gateway could send it", **progress
    )
    log.warning("message %s failed: %s", message.id, message.last_error)
    if message.verification_id:
        message_failed.send(
            sender=OutboundMessage,
            verification_id=message.verification_id,
            message_id=message.id,
            status=Status.FAILED,
        )
    return Status.FAILED


# --- Delivery reports ---------------------------------------------------------------------


def apply_receipt(gateway: Gateway, receipt: Receipt) -> OutboundMessage | None:
    """Move the message forward to the receipt's status. Idempotent and out-of-order
    safe: a late "sent" never overwrites "delivered". ``None`` for a message unknown to
    this gateway: a receipt only ever touches a message sent, or being sent, through the
    gateway whose URL and secret it came with."""
    message = message_of_receipt(gateway, receipt.provider_message_id)
    if message is None:
        log.warning(
            "delivery report for unknown message %r from %s",
            receipt.provider_message_id,
            gateway.name,
        )
        return None
    moved = OutboundMessage.objects.filter(id=message.id).apply_receipt_status(
        receipt.status, provider_status=receipt.raw_status, error=receipt.error
    )
    message.refresh_from_db()
    if moved and message.verification_id:
        _tell_outcome(message)
    return message


def apply_bound_receipt(gateway_id: int, account: tuple, receipt: Receipt) -> str | None:
    """A receipt read from a connection of gateway ``gateway_id`` (an SMPP bind)
    rather than posted to its URL: the same flow, bound to the ``account`` at the
    provider that the connection authenticated as (``Adapter.bind_account``). The SMSC
    hands a receipt to any bind of that account — another worker process's, another
    gateway's with the same account, one of a gateway since deleted — so it may move a
    message of any gateway bound to the account, and of no other. The status the
    message is left in; ``None`` when no such gateway knows the message (yet)."""
    for candidate in _bound_to(tuple(account), first=gateway_id):
        if message_of_receipt(candidate, receipt.provider_message_id) is not None:
            return apply_receipt(candidate, receipt).status
    log.info("receipt for unknown message %r on %s", receipt.provider_message_id, account)
    return None


def _bound_to(account: tuple, *, first: int) -> list[Gateway]:
    """The gateways bound to ``account``, gateway ``first`` first."""
    gateways = sorted(Gateway.objects.filter(kind=account[0]), key=lambda g: g.pk != first)
    bound = []
    for gateway in gateways:
        try:
            if adapter_for(gateway).bind_account() == account:
                bound.append(gateway)
        except PermanentError:
            continue
    return bound


def _tell_outcome(message: OutboundMessage) -> None:
    """Tell otp what a delivery report said, once: a duplicate report moves nothing."""
    facts = {"verification_id": message.verification_id, "message_id": message.id}
    if message.status == Status.DELIVERED:
        message_delivered.send(sender=OutboundMessage, **facts)
    elif message.status in (Status.UNDELIVERED, Status.FAILED):
        message_failed.send(sender=OutboundMessage, status=message.status, **facts)


def message_of_receipt(gateway: Gateway, provider_message_id: str) -> OutboundMessage | None:
    """The message a receipt of ``gateway`` names: by the provider's id, or by our own
    id (Kannel and the webhook report with it, possibly before the worker recorded the
    send) when the message went through this gateway or is being sent through it."""
    messages = OutboundMessage.objects.filter(gateway=gateway)
    message = messages.filter(provider_message_id=provider_message_id).first()
    if message is not None:
        return message
    try:
        own_id = uuid.UUID(provider_message_id)
    except ValueError:
        return None
    message = OutboundMessage.objects.filter(id=own_id).first()
    if message is None:
        return None
    if message.gateway_id is not None:
        return message if message.gateway_id == gateway.pk else None
    return message if sending_through(message) == gateway else None


def sending_through(message: OutboundMessage) -> Gateway | None:
    """The gateway a message not yet recorded as sent is being handed to: its route's
    current hop. (A receipt may move it to ``sent`` before its worker records the
    gateway: a second receipt must still find it.)"""
    hops = route_for(message)
    return hops[message.route_position] if message.route_position < len(hops) else None


# --- Housekeeping (celery beat) ----------------------------------------------------------


def requeue_stale_messages() -> int:
    """Re-enqueue what would otherwise be lost: messages queued longer than
    ``GATEWAY_REQUEUE_AFTER_SECONDS`` past their due time (the broker was down at
    enqueue, or the task vanished), and claims older than the task time limit (the
    worker died mid-task: by then Celery has killed any task still running)."""
    now = timezone.now()
    grace = timedelta(seconds=settings.GATEWAY_REQUEUE_AFTER_SECONDS)
    lease = timedelta(seconds=settings.GATEWAY_CLAIM_LEASE_SECONDS)
    dead = settle_dead_claims(claimed_before=now - lease)
    stale = OutboundMessage.objects.due_for_requeue(now=now, grace=grace)
    stale = dead + list(stale.values_list("id", "channel")[:5000])
    count = 0
    for message_id, channel in stale:
        count += publish(str(message_id), channel)
    if count:
        log.info("re-queued %d message(s)", count)
    return count


def settle_dead_claims(*, claimed_before) -> list[tuple]:
    """Claims older than the lease: their worker died, perhaps during the provider
    call. Each is settled by :func:`settle_dead_claim`; returns the ``(id, channel)`` of
    those to send (again)."""
    dead = OutboundMessage.objects.filter(status=Status.SENDING, claimed_at__lt=claimed_before)
    return [
        (message.id, message.channel)
        for message in dead.defer("text", "masked_text")
        if settle_dead_claim(message)
    ]


def settle_dead_claim(message: OutboundMessage) -> bool:
    """Decide a dead claim without blindly sending twice: the provider is asked where
    it can be (``lookup``); a provider that deduplicates (``idempotent``) gets it again
    under the same key; otherwise the gateway's delivery guarantee decides: at least
    once resends it marked ``possibly_duplicated``, at most once ends it failed with the
    outcome unknown. True when it is to be sent (again)."""
    gateway = sending_through(message)
    adapter = adapter_for(gateway) if gateway is not None else None
    try:
        found = adapter.lookup(message) if adapter is not None else UNKNOWN
    except Exception:  # a lookup that breaks is a lookup that could not tell
        log.exception("lookup of message %s on %s failed", message.id, gateway)
        found = UNKNOWN
    # Only this claim, as read: a worker that recorded meanwhile wins.
    this_claim = OutboundMessage.objects.filter(
        id=message.id, status=Status.SENDING, claimed_at=message.claimed_at
    )
    if found.taken:
        if this_claim.mark_sent(gateway=gateway, provider_message_id=found.provider_message_id):
            log.warning("message %s: the provider took it before its worker died", message.id)
        return False
    if found.taken is False or adapter is None or adapter.idempotent:
        return bool(this_claim.release(retry_at=None))
    if gateway.delivery_guarantee == Gateway.DeliveryGuarantee.AT_MOST_ONCE:
        this_claim.mark_failed(
            error=f"{gateway.name}: outcome unknown (the worker was lost during the "
            "provider call); not sent again: the gateway delivers at most once"
        )
        return False
    if not this_claim.release(retry_at=None, possibly_duplicated=True):
        return False  # settled meanwhile by another re-queue run
    log.warning("message %s sent again: it may reach its recipient twice", message.id)
    return True


def forget_codes(verification_ids, *, approved: bool = False) -> int:
    """The codes of these verifications (ids, or a query of ids) no longer count: otp
    calls this in the transaction that decides, cancels or replaces them. Their
    messages still queued are canceled, the others masked (see
    ``OutboundMessageQuerySet.forget_codes``); ``approved``: the code was approved, a
    conversion of the gateways that took them (``gateways.learning``)."""
    messages = OutboundMessage.objects.filter(verification_id__in=verification_ids)
    return messages.forget_codes(now=timezone.now(), approved=approved)


def forget_codes_statement(
    verification_ids: str, *, now: datetime, approved: bool = False
) -> statements.Statement:
    """:func:`forget_codes` as SQL to send within a larger statement; ``verification_ids``
    is SQL without parameters naming them (an earlier part of that statement)."""
    key = (verification_ids, approved)
    shape = _FORGETTING.get(key)
    if shape is None:

        def build(now: datetime) -> statements.Statement:
            messages = OutboundMessage.objects.filter(
                verification_id__in=RawSQL(verification_ids, ())  # noqa: S611 - our SQL
            )
            return statements.update(*messages.forgetting_codes(now=now, approved=approved))

        shape = _FORGETTING[key] = statements.Shape(build, now="datetime")
    return shape(now=now)


_FORGETTING: dict[tuple[str, bool], statements.Shape] = {}


def forget_expired_codes() -> int:
    """Mask the codes past their expiry (beat): no verification tells us it expired."""
    now = timezone.now()
    expired = OutboundMessage.objects.exclude(masked_text="").filter(expires_at__lte=now)
    return expired.forget_codes(now=now)


def forget_messages_of(verification_ids) -> int:
    """Delete the messages of these verifications (ids, or a query of ids): otp prunes
    a verification and its messages together."""
    _, by_model = OutboundMessage.objects.filter(verification_id__in=verification_ids).delete()
    return by_model.get(OutboundMessage._meta.label, 0)


def reencrypt_secrets() -> int:
    """Rotation: every stored ciphertext re-encrypted under the first key. Each value is
    rewritten only if unchanged since it was read, so a code masked meanwhile stays
    masked."""
    columns = [
        (OutboundMessage, "text"),
        (OutboundMessage, "masked_text"),
        (Gateway, "credentials"),
    ]
    count = 0
    with connection.cursor() as cursor:
        for model, field in columns:
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(model._meta.get_field(field).column)
            cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
            for pk, token in cursor.fetchall():
                cursor.execute(
                    f"UPDATE {table} SET {column} = %s WHERE id = %s AND {column} = %s",  # noqa: S608
                    [crypto.reencrypt(token), pk, token],
                )
                count += cursor.rowcount
    return count


def prune_messages() -> int:
    """Delete messages (and their attempts) older than the retention period."""
    cutoff = timezone.now() - settings.OTP_RETENTION
    _, by_model = OutboundMessage.objects.filter(created_at__lt=cutoff).delete()
    return by_model.get(OutboundMessage._meta.label, 0)
