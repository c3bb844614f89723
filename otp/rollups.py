"""The analytics' hourly rollups, kept exact by recomputing whole hours.

Verifications are counted in the hour they were created (a cohort), per stream, event,
channel, country and the gateway of their latest message. A refresh finds every hour
holding a verification or message that changed since the previous refresh (less a
margin for transactions that were still open then), deletes those hours' rollup rows
and writes them again from the raw rows, in one transaction under a lock. Recomputing
instead of incrementing means a refresh that runs twice, late or concurrently never
counts anything twice or loses a count; pruned raw rows (older than the retention)
are never recomputed, so their hours keep their numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from gateways.models import OutboundMessage
from gateways.selectors import latest_message_value, verifications_with_messages_changed_since

from .models import LatencyRollup, RollupState, Verification, VerificationRollup

# A transaction open longer than this when a refresh starts may be missed by it.
OPEN_TRANSACTION_MARGIN = timedelta(minutes=5)
# Histogram bounds (seconds) of the latency rollups; the last catches the rest.
LATENCY_BOUNDS = (1, 2, 3, 5, 7, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600)
OVERFLOW = 86_400 * 365

MESSAGE_SENT = [
    OutboundMessage.Status.SENT,
    OutboundMessage.Status.DELIVERED,
    OutboundMessage.Status.UNDELIVERED,
]
V = Verification.Status


def refresh_rollups(*, full: bool = False) -> int:
    """Bring the rollups up to date; returns how many hours were recomputed."""
    with transaction.atomic():
        state, _ = RollupState.objects.select_for_update().get_or_create(pk=1)
        started = timezone.now()
        if full or state.refreshed_at is None:
            hours = None
        else:
            hours = _changed_hours(state.refreshed_at - OPEN_TRANSACTION_MARGIN)
            oldest = started - settings.OTP_RETENTION + timedelta(hours=1)
            hours = sorted(h for h in hours if h >= oldest)
        count = _recompute(hours)
        state.refreshed_at = started
        state.save(update_fields=["refreshed_at"])
    return count


def refresh_if_stale(max_age_seconds: int | None = None) -> bool:
    """Refresh when the last refresh is older than ``max_age_seconds`` (default the
    ``OTP_ANALYTICS_MAX_AGE_SECONDS`` setting); whether it refreshed."""
    if max_age_seconds is None:
        max_age_seconds = settings.OTP_ANALYTICS_MAX_AGE_SECONDS
    state = RollupState.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()
    if state is not None and timezone.now() - state < timedelta(seconds=max_age_seconds):
        return False
    refresh_rollups()
    return True


def _changed_hours(since: datetime) -> set[datetime]:
    changed = Verification.objects.filter(
        Q(changed_at__gte=since) | Q(id__in=verifications_with_messages_changed_since(since))
    )
    return set(
        changed.annotate(h=TruncHour("created_at", tzinfo=UTC))
        .values_list("h", flat=True)
        .distinct()
    )


def _hour_ranges(hours: Iterable[datetime]) -> Q:
    """The hours as few created_at ranges as they make (consecutive hours merge)."""
    query = Q()
    start = end = None
    for hour in sorted(hours):
        if end is not None and hour == end:
            end = hour + timedelta(hours=1)
            continue
        if start is not None:
            query |= Q(created_at__gte=start, created_at__lt=end)
        start, end = hour, hour + timedelta(hours=1)
    if start is not None:
        query |= Q(created_at__gte=start, created_at__lt=end)
    return query


def _recompute(hours: list[datetime] | None) -> int:
    rows = Verification.objects.all()
    if hours is not None:
        if not hours:
            return 0
        rows = rows.filter(_hour_ranges(hours))
    rows = rows.annotate(
        hour=TruncHour("created_at", tzinfo=UTC),
        account_id=F("stream__account_id"),
        gateway=Coalesce(latest_message_value("gateway_id"), Value(0), output_field=IntegerField()),
        message_status=latest_message_value("status"),
        message_sent_at=latest_message_value("sent_at"),
        message_delivered_at=latest_message_value("delivered_at"),
    )
    dimensions = ("hour", "account_id", "stream_id", "event_key", "channel", "country", "gateway")
    totals = rows.values(*dimensions).annotate(
        requested=Count("id"),
        sent=Count("id", filter=Q(message_status__in=MESSAGE_SENT)),
        delivered=Count("id", filter=Q(message_status=OutboundMessage.Status.DELIVERED)),
        undelivered=Count("id", filter=Q(message_status=OutboundMessage.Status.UNDELIVERED)),
        message_failed=Count("id", filter=Q(message_status=OutboundMessage.Status.FAILED)),
        approved=Count("id", filter=Q(status=V.APPROVED)),
        canceled=Count("id", filter=Q(status=V.CANCELED)),
        expired=Count("id", filter=Q(status=V.EXPIRED)),
        max_attempts_reached=Count("id", filter=Q(status=V.MAX_ATTEMPTS_REACHED)),
        failed=Count("id", filter=Q(status=V.FAILED)),
    )
    seen_hours: set[datetime] = set()
    fresh = {}
    for t in totals.order_by():
        seen_hours.add(t["hour"])
        key = _key(t["hour"], t["stream_id"], t["event_key"], t["channel"], t["country"])
        fresh[(*key, t["gateway"])] = {
            "account_id": t["account_id"],
            **{name: t[name] for name in COUNT_FIELDS},
        }
    _store(VerificationRollup, hours, fresh, COUNT_FIELDS)

    approval = ExpressionWrapper(F("decided_at") - F("created_at"), output_field=DurationField())
    delivery = ExpressionWrapper(
        F("message_delivered_at") - F("message_sent_at"), output_field=DurationField()
    )
    fresh = {}
    for kind, duration, condition in (
        (LatencyRollup.Kind.APPROVAL, approval, Q(status=V.APPROVED, decided_at__isnull=False)),
        (
            LatencyRollup.Kind.DELIVERY,
            delivery,
            Q(message_delivered_at__isnull=False, message_sent_at__isnull=False),
        ),
    ):
        bucket = Case(
            *[When(took__lte=timedelta(seconds=b), then=Value(b)) for b in LATENCY_BOUNDS],
            default=Value(OVERFLOW),
            output_field=IntegerField(),
        )
        histogram = (
            rows.filter(condition)
            .annotate(took=duration)
            .annotate(bucket=bucket)
            .values(*dimensions, "bucket")
            .annotate(n=Count("id"))
            .order_by()
        )
        for t in histogram:
            key = _key(t["hour"], t["stream_id"], t["event_key"], t["channel"], t["country"])
            fresh[(*key, t["gateway"], kind.value, t["bucket"])] = {
                "account_id": t["account_id"],
                "count": t["n"],
            }
    _store(LatencyRollup, hours, fresh, ("count",))
    return len(seen_hours) if hours is None else len(hours)


COUNT_FIELDS = (
    "requested",
    "sent",
    "delivered",
    "undelivered",
    "message_failed",
    "approved",
    "canceled",
    "expired",
    "max_attempts_reached",
    "failed",
)
KEY_FIELDS = {
    VerificationRollup: ("hour", "stream_id", "event_key", "channel", "country", "gateway_id"),
    LatencyRollup: (
        "hour",
        "stream_id",
        "event_key",
        "channel",
        "country",
        "gateway_id",
        "kind",
        "upper_seconds",
    ),
}


def _key(hour: datetime, *rest) -> tuple:
    return (hour.astimezone(UTC), *rest)


def _store(model, hours: list[datetime] | None, fresh: dict, values: tuple[str, ...]) -> None:
    """Make the stored rows of ``hours`` (all hours: None) equal ``fresh`` (key ->
    values): rows whose numbers did not change are left as they are, so a refresh
    that finds nothing new writes nothing."""
    stored = model.objects.all() if hours is None else model.objects.filter(hour__in=hours)
    key_fields = KEY_FIELDS[model]
    changed, gone = [], []
    for row in stored.iterator(chunk_size=5000):
        key = _key(*(getattr(row, f) for f in key_fields))
        new = fresh.pop(key, None)
        if new is None:
            gone.append(row.pk)
        elif any(getattr(row, f) != new[f] for f in values):
            for f in values:
                setattr(row, f, new[f])
            changed.append(row)
    for start in range(0, len(gone), 5000):
        model.objects.filter(pk__in=gone[start : start + 5000]).delete()
    model.objects.bulk_update(changed, values, batch_size=2000)
    model.objects.bulk_create(
        [model(**dict(zip(key_fields, key, strict=True)), **new) for key, new in fresh.items()],
        batch_size=2000,
    )
