"""The events of verifications, for the stream's webhooks (delivered by
``streams.webhooks``): which event each state change reports and what it says. Each is
recorded in the transaction of the change it reports."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from streams import webhooks
from streams.models import Stream, WebhookEvent

from .models import Verification

Type = WebhookEvent.Type

# The event a verification's final reason is reported as.
TYPE_OF_REASON = {
    Verification.Reason.APPROVED: Type.APPROVED,
    Verification.Reason.EXPIRED: Type.EXPIRED,
    Verification.Reason.MAX_ATTEMPTS_REACHED: Type.FAILED,
    Verification.Reason.UNDELIVERABLE: Type.FAILED,
    Verification.Reason.CANCELED_BY_CLIENT: Type.CANCELED,
    Verification.Reason.REPLACED: Type.CANCELED,
    Verification.Reason.BLOCKED: Type.BLOCKED,
}


def verification_data(verification: Verification, **extra) -> dict:
    status, reason = verification.current()
    data = {
        "id": str(verification.id),
        "status": status,
        "reason": reason,
        "recipient": verification.recipient,
        "event": verification.event_key,
        "channel": verification.channel,
        "replaced_by": str(verification.replaced_by_id) if verification.replaced_by_id else None,
        "decided_at": verification.decided_at,
    }
    data.update(extra)
    return data


def record(
    *,
    stream: Stream,
    type: str,
    verification: Verification | None = None,
    data: dict | None = None,
) -> WebhookEvent | None:
    """The event for the stream's enabled endpoints (nothing, and no query, when it has
    none). Call inside the transaction of the change it reports."""
    endpoints = webhooks.listening_endpoints(stream)
    if not endpoints:
        return None
    if data is None and verification is not None:
        data = verification_data(verification)
    return webhooks.write_event(
        stream=stream,
        type=type,
        data=data or {},
        endpoints=endpoints,
        verification_id=verification.id if verification else None,
    )


def record_ending(verification: Verification) -> None:
    """The event of a verification that has just left pending, by its reason."""
    event_type = TYPE_OF_REASON.get(verification.current_reason)
    if event_type:
        record(stream=verification.stream, type=event_type, verification=verification)


def record_endings(verification_ids) -> None:
    """The events of verifications a bulk state change just decided."""
    ids = list(verification_ids)
    if not ids:
        return
    decided = Verification.objects.filter(id__in=ids, stream__webhooks_enabled=True)
    for verification in decided.select_related("stream"):
        record_ending(verification)


def message_delivered_received(*, verification_id, message_id, **_) -> None:
    """gateways' ``message_delivered``: a ``verification.delivered`` event."""
    verification = (
        Verification.objects.select_related("stream")
        .filter(id=verification_id, stream__webhooks_enabled=True)
        .first()
    )
    if verification is None:
        return
    with transaction.atomic():
        data = verification_data(verification, message_id=str(message_id))
        record(
            stream=verification.stream, type=Type.DELIVERED, verification=verification, data=data
        )


def budget_alert_received(sender=None, *, budget, percent: int, spent, period_start, **_) -> None:
    """Receiver of ``otp.budgets.budget_alert`` (sent with the budget, the percent
    reached, the amount spent and the period's start): a ``budget.alert`` event to the
    webhook endpoints of the budget's stream, or of every stream of the account for an
    account-wide budget. Connected in ``OtpConfig.ready``."""
    streams = Stream.objects.filter(account_id=budget.account_id, webhooks_enabled=True)
    if budget.stream_id:
        streams = streams.filter(pk=budget.stream_id)
    data = {
        "budget": budget.pk,
        "stream": str(budget.stream.public_id) if budget.stream_id else None,
        "period": budget.period,
        "unit": budget.unit,
        "percent": percent,
        "spent": format(Decimal(spent).normalize(), "f"),  # "4", "0.12": no padding
        "period_start": period_start,
        "limit": budget.describe_limit(),
    }
    with transaction.atomic():
        for stream in streams:
            record(stream=stream, type=Type.BUDGET_ALERT, data=data)
