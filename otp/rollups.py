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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from gateways.models import OutboundMessage
from gateways.selectors import verifications_with_messages_changed_since
from streams import phones

from .models import (
    COUNT_FIELDS,
    LATENCY_BOUNDS,
    LATENCY_FIELDS,
    LATENCY_KINDS,
    OVERFLOW,
    DailyRollup,
    RollupState,
    Verification,
    VerificationRollup,
)

# A transaction open longer than this when a refresh starts may be missed by it.
OPEN_TRANSACTION_MARGIN = timedelta(minutes=5)

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
    """The creation hours of verifications changed since ``since``, or whose messages
    did: two indexed lookups (an OR of the two would scan every verification)."""
    hour = TruncHour("created_at", tzinfo=UTC)
    changed = Verification.objects.filter(changed_at__gte=since)
    by_message = Verification.objects.filter(
        id__in=verifications_with_messages_changed_since(since)
    )
    return {
        _as_utc(h)
        for rows in (changed, by_message)
        for h in rows.annotate(h=hour).values_list("h", flat=True).distinct()
    }


def _hour_ranges(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """The hours as few ``[start, end)`` ranges as they make (consecutive hours merge)."""
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(hours):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + timedelta(hours=1))
        else:
            ranges.append((hour, hour + timedelta(hours=1)))
    return ranges


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def _as_utc(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _source(hours: list[datetime] | None) -> tuple[str, list]:
    """FROM ... WHERE of the raw rows: each verification of ``hours`` (all: None) with
    its latest message, one row per verification (a window function, one pass over
    the messages instead of a lookup per verification)."""
    ops = connection.ops
    where, params = "", []
    if hours is not None:
        clauses = []
        for start, end in _hour_ranges(hours):
            clauses.append("(v.created_at >= %s AND v.created_at < %s)")
            params += [ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)]
        where = " AND (" + " OR ".join(clauses) + ")"
    verifications = Verification._meta.db_table
    messages = OutboundMessage._meta.db_table
    streams = Verification._meta.get_field("stream").related_model._meta.db_table
    message_filter = ""
    message_params: list = []
    if hours is not None:
        subquery = f"SELECT v.id FROM {verifications} v WHERE 1=1{where}"  # noqa: S608
        message_filter = f" AND verification_id IN ({subquery})"
        message_params = list(params)
    # Table names from the models; every value is a bound parameter.
    sql = f"""
        FROM {verifications} v
        JOIN {streams} s ON s.id = v.stream_id
        LEFT JOIN (
            SELECT verification_id, gateway_id, status, sent_at, delivered_at, estimated_cost,
                   ROW_NUMBER() OVER (
                       PARTITION BY verification_id ORDER BY created_at DESC, id DESC
                   ) AS newest
            FROM {messages}
            WHERE verification_id IS NOT NULL{message_filter}
        ) m ON m.verification_id = v.id AND m.newest = 1
        WHERE 1=1{where}
    """  # noqa: S608
    return sql, message_params + params


def _recompute(hours: list[datetime] | None) -> int:
    if hours is not None and not hours:
        return 0
    hour_sql, hour_params = connection.ops.datetime_trunc_sql("hour", "v.created_at", (), "UTC")
    source, source_params = _source(hours)

    def bucket(took: str) -> str:
        cases = " ".join(f"WHEN {took} <= {b} THEN {b}" for b in LATENCY_BOUNDS)
        return f"CASE {cases} ELSE {OVERFLOW} END"

    approval = bucket(_seconds_between("v.decided_at", "v.created_at"))
    delivery = bucket(_seconds_between("m.delivered_at", "m.sent_at"))
    # Built from constants and the models' table names; every value is a bound parameter.
    rows = f"""
        SELECT {hour_sql} AS hour, s.account_id AS account_id, v.stream_id AS stream_id,
               v.event_key AS event_key, v.channel AS channel, v.country AS country,
               COALESCE(m.gateway_id, 0) AS gateway, v.status AS v_status,
               m.status AS m_status, m.estimated_cost AS cost,
               CASE WHEN v.status = 'approved' AND v.decided_at IS NOT NULL
                    THEN {approval} END AS approval,
               CASE WHEN m.delivered_at IS NOT NULL AND m.sent_at IS NOT NULL
                    THEN {delivery} END AS delivery
        {source}
    """
    sent = ", ".join(f"'{status}'" for status in MESSAGE_SENT)

    def count_when(condition: str) -> str:
        return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"

    sums = [
        "COUNT(*)",
        count_when(f"m_status IN ({sent})"),
        count_when("m_status = 'delivered'"),
        count_when("m_status = 'undelivered'"),
        count_when("m_status = 'failed'"),
        *(count_when(f"v_status = '{status}'") for status in VERIFICATION_COUNTS),
        *(
            count_when(f"{kind} = {b}")
            for kind in LATENCY_KINDS
            for b in (*LATENCY_BOUNDS, OVERFLOW)
        ),
        f"SUM(CASE WHEN m_status IN ({sent}) THEN COALESCE(cost, 0) ELSE 0 END)",
    ]
    fields = (*COUNT_FIELDS, *LATENCY_FIELDS)
    fresh: dict = {}
    with connection.cursor() as cursor:
        columns = "hour, account_id, stream_id, event_key, channel, country, gateway"
        summed = ", ".join(sums)
        query = f"SELECT {columns}, {summed} FROM ({rows}) x GROUP BY 1, 2, 3, 4, 5, 6, 7"  # noqa: S608
        cursor.execute(query, [*hour_params, *source_params])
        for hour, account, stream, event, channel, country, gateway, *numbers in cursor:
            *counts, spend = numbers
            fresh[(_as_utc(hour), stream, event, channel, country, gateway)] = {
                "account_id": account,
                **dict(zip(fields, (int(n or 0) for n in counts), strict=True)),
                "spend": _money(spend),
            }
    seen_hours = {key[0] for key in fresh}
    _store(VerificationRollup, hours, fresh)
    days = None if hours is None else sorted({h.date() for h in hours})
    _store(DailyRollup, days, _daily(days))
    return len(seen_hours) if hours is None else len(hours)


def _daily(days: list[date] | None) -> dict:
    """The hourly rows of ``days`` (all: None) summed per day."""
    hourly = VerificationRollup.objects.all()
    if days is not None:
        ranges = Q()
        for day in days:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            ranges |= Q(hour__gte=start, hour__lt=start + timedelta(days=1))
        hourly = hourly.filter(ranges)
    fields = (*COUNT_FIELDS, *LATENCY_FIELDS)
    summed = (
        hourly.annotate(day=TruncDate("hour", tzinfo=UTC))
        .values("day", "account_id", "stream_id", "event_key", "channel", "country", "gateway_id")
        .annotate(**{f"sum_{f}": Sum(f) for f in (*fields, "spend")})
        .order_by()
    )
    return {
        (r["day"], r["stream_id"], r["event_key"], r["channel"], r["country"], r["gateway_id"]): {
            "account_id": r["account_id"],
            **{f: r[f"sum_{f}"] or 0 for f in fields},
            "spend": _money(r["sum_spend"]),
        }
        for r in summed
    }


VERIFICATION_COUNTS = (
    V.APPROVED,
    V.CANCELED,
    V.EXPIRED,
    V.MAX_ATTEMPTS_REACHED,
    V.FAILED,
)
DIMENSIONS = ("stream_id", "event_key", "channel", "country", "gateway_id")


def _money(value) -> Decimal:
    """A sum of prices as stored (5 places): SQLite sums decimals as floats."""
    return Decimal(str(value or 0)).quantize(Decimal("0.00001"))


def _key(moment, *rest) -> tuple:
    if isinstance(moment, datetime):
        moment = moment.astimezone(UTC)
    return (moment, *rest)


def _store(model, moments: list | None, fresh: dict) -> None:
    """Make the stored rows of ``moments`` (hours or days; all: None) equal ``fresh``
    (key -> values): rows whose numbers did not change are left as they are, so a
    refresh that finds nothing new writes nothing."""
    time_field = "hour" if model is VerificationRollup else "day"
    stored = model.objects.all()
    if moments is not None:
        stored = stored.filter(**{f"{time_field}__in": moments})
    key_fields = (time_field, *DIMENSIONS)
    values = (*COUNT_FIELDS, *LATENCY_FIELDS, "spend")
    changed, gone = [], []
    width = len(key_fields)
    rows = stored.values_list(*key_fields, *values, "pk").iterator(chunk_size=20_000)
    for row in rows:
        key = _key(*row[:width])
        new = fresh.pop(key, None)
        if new is None:
            gone.append(row[-1])
        elif any(new[f] != v for f, v in zip(values, row[width:-1], strict=True)):
            changed.append(model(pk=row[-1], **{f: new[f] for f in values}))
    for start in range(0, len(gone), 5000):
        model.objects.filter(pk__in=gone[start : start + 5000]).delete()
    model.objects.bulk_update(changed, values, batch_size=1000)
    model.objects.bulk_create(
        [model(**dict(zip(key_fields, key, strict=True)), **new) for key, new in fresh.items()],
        batch_size=2000,
    )


def backfill_countries(*, batch: int = 5000) -> int:
    """Give verifications written before the analytics (no ``country``) their
    recipient's region; returns how many changed. Their hours are recomputed by the
    next refresh (``changed_at`` is stamped)."""
    done = 0
    now = timezone.now()
    while True:
        rows = list(
            Verification.objects.filter(country="")
            .exclude(recipient="")
            .values_list("id", "recipient")[:batch]
        )
        if not rows:
            return done
        by_region: dict[str, list] = {}
        for verification_id, recipient in rows:
            try:
                region = phones.parse_phone(recipient).region
            except phones.PhoneNumberError:
                region = "ZZ"  # unknown, and not looked at again
            by_region.setdefault(region or "ZZ", []).append(verification_id)
        for region, ids in by_region.items():
            done += Verification.objects.filter(id__in=ids).update(country=region, changed_at=now)
