"""Signed event webhooks to the customer: the outbox and its delivery — the mechanism,
shared by whatever reports events (otp reports verifications; budget alerts).

``write_event`` writes the event and one delivery per endpoint, in the caller's
transaction (the state change's), and enqueues each chain after commit. The worker
delivers a chain — one endpoint and one verification (or one event of its own) — one
delivery at a time in the order written: the head is claimed with a conditional UPDATE,
POSTed, and either marked delivered (the next follows) or put back with exponential
backoff, holding the rest of its chain behind it. A delivery is retried for
``WEBHOOK_RETRY_FOR_SECONDS`` (25 h by default), then given up. A beat sweep
re-enqueues chains whose task was lost (broker down at commit, worker killed).

Every request carries ``X-OTP-Signature: t=<unix seconds>,v1=<hex>``, the HMAC-SHA256
under the endpoint's secret of ``"<t>.<body>"``; receivers refuse a ``t`` outside their
replay window (we document 5 minutes). See docs/api.md#webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

import requests
from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from .models import Stream, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)
Type = WebhookEvent.Type
Status = WebhookDelivery.Status
DELIVER_TASK = "streams.deliver_webhooks"


def listening_endpoints(stream: Stream) -> list[WebhookEndpoint]:
    """The stream's enabled endpoints; none (and no query) when it has none."""
    if not stream.webhooks_enabled:
        return []
    return list(WebhookEndpoint.objects.filter(stream=stream, enabled=True))


def write_event(
    *,
    stream: Stream,
    type: str,
    data: dict,
    endpoints: Sequence[WebhookEndpoint],
    verification_id: UUID | None = None,
) -> WebhookEvent:
    """The outbox rows of one event. Call inside the transaction of what it reports."""
    now = timezone.now()
    clean = json.loads(json.dumps(data, cls=DjangoJSONEncoder, default=str))
    event = WebhookEvent.objects.create(
        stream=stream, type=type, verification_id=verification_id, data=clean, created_at=now
    )
    chain = str(verification_id or event.id)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=e, event=event, chain=chain, created_at=now) for e in endpoints
    )
    for endpoint in endpoints:
        transaction.on_commit(lambda e=endpoint.id: publish(e, chain), robust=True)
    return event


def publish(endpoint_id: int, chain: str, countdown: float | None = None) -> bool:
    if countdown is not None and current_app.conf.task_always_eager:
        return False  # in-process tasks cannot wait: the beat sweep retries it
    try:
        current_app.signature(DELIVER_TASK, args=(endpoint_id, chain)).apply_async(
            countdown=countdown
        )
    except Exception as exc:  # kombu raises several types; the beat sweep sends it later
        log.warning("webhook chain %s not enqueued (%s)", chain, exc)
        return False
    return True


# --- Signing ---------------------------------------------------------------------------

REPLAY_WINDOW_SECONDS = 300


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-OTP-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
    ``"<t>.<body>"`` under the endpoint's secret."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: str, body: bytes, header: str, *, tolerance: int = REPLAY_WINDOW_SECONDS
) -> bool:
    """The receiver's check, as docs/api.md describes it."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


def body_of(event: WebhookEvent) -> bytes:
    payload = {
        "id": str(event.id),
        "type": event.type,
        "created_at": event.created_at,
        "stream": str(event.stream.public_id),
        "data": event.data,
    }
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


# --- Delivering (the worker) --------------------------------------------------------------


def deliver_chain(endpoint_id: int, chain: str) -> int:
    """Deliver the chain's deliveries in order until one fails or none is left; returns
    how many were delivered. Idempotent: a duplicate task finds the head claimed."""
    delivered = 0
    while True:
        now = timezone.now()
        head = (
            WebhookDelivery.objects.filter(
                endpoint_id=endpoint_id, chain=chain, status__in=[Status.PENDING, Status.SENDING]
            )
            .order_by("id")
            .select_related("endpoint", "event__stream")
            .first()
        )
        if head is None or head.status == Status.SENDING:
            return delivered  # done, or another worker holds the head
        if head.next_attempt_at and head.next_attempt_at > now:
            publish(endpoint_id, chain, countdown=(head.next_attempt_at - now).total_seconds())
            return delivered
        claimed = WebhookDelivery.objects.filter(id=head.id, status=Status.PENDING).update(
            status=Status.SENDING, claimed_at=now
        )
        if not claimed or not _post(head):
            return delivered
        delivered += 1


def _post(delivery: WebhookDelivery) -> bool:
    """One attempt; records its outcome. True when the receiver took it (2xx)."""
    body = body_of(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "otp-streams-webhooks/1",
        "X-OTP-Event-Id": str(delivery.event_id),
        "X-OTP-Event-Type": delivery.event.type,
        "X-OTP-Signature": sign(delivery.endpoint.secret, body),
    }
    code, error = None, ""
    try:
        answer = requests.post(
            delivery.endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        code = answer.status_code
        if 200 <= code < 300:
            WebhookDelivery.objects.filter(id=delivery.id).update(
                status=Status.DELIVERED,
                attempts=delivery.attempts + 1,
                last_status_code=code,
                last_error="",
                delivered_at=timezone.now(),
                claimed_at=None,
            )
            return True
        error = f"HTTP {code}"
    except requests.RequestException as exc:
        error = f"{exc.__class__.__name__}: {exc}"[:500]
    _retry_later(delivery, code, error)
    return False


def _retry_later(delivery: WebhookDelivery, code: int | None, error: str) -> None:
    attempts = delivery.attempts + 1
    now = timezone.now()
    give_up = now - delivery.created_at > timedelta(seconds=settings.WEBHOOK_RETRY_FOR_SECONDS)
    delay = backoff(attempts)
    WebhookDelivery.objects.filter(id=delivery.id).update(
        status=Status.FAILED if give_up else Status.PENDING,
        attempts=attempts,
        last_status_code=code,
        last_error=error,
        next_attempt_at=None if give_up else now + timedelta(seconds=delay),
        claimed_at=None,
    )
    if give_up:
        log.warning("webhook delivery %s given up after %d attempts", delivery.id, attempts)
        publish(delivery.endpoint_id, delivery.chain)  # the rest of the chain goes on
    else:
        publish(delivery.endpoint_id, delivery.chain, countdown=delay)


def backoff(attempt: int) -> float:
    """Exponential with jitter: base * 2^(attempt-1), capped, between half and all."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    ceiling = min(settings.WEBHOOK_RETRY_MAX_SECONDS, base * 2 ** (attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def sweep() -> int:
    """Beat: release the claims of dead workers and re-enqueue chains whose head is due
    but whose task was lost. Returns how many chains it enqueued."""
    now = timezone.now()
    lease = now - timedelta(seconds=settings.WEBHOOK_CLAIM_LEASE_SECONDS)
    WebhookDelivery.objects.filter(status=Status.SENDING, claimed_at__lt=lease).update(
        status=Status.PENDING, claimed_at=None
    )
    quiet = now - timedelta(seconds=settings.WEBHOOK_SWEEP_GRACE_SECONDS)
    heads = (
        WebhookDelivery.objects.filter(status=Status.PENDING, created_at__lt=quiet)
        .exclude(next_attempt_at__gt=quiet)
        .values("endpoint_id", "chain")
        .annotate(first=Min("id"))[:5000]
    )
    return sum(publish(h["endpoint_id"], h["chain"]) for h in heads)


def prune_events(*, before) -> int:
    """Delete events (and their deliveries) written before ``before`` (retention)."""
    _, by_model = WebhookEvent.objects.filter(created_at__lt=before).delete()
    return by_model.get(WebhookEvent._meta.label, 0)
