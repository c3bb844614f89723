"""The numbers of the console's overview and the analytics API, read from the hourly
rollups (``otp/rollups.py``), never from the raw rows: the funnel, its series over
time, conversion by country and by gateway, latencies and why codes were not used."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDay

from gateways.selectors import gateway_names
from streams.models import Account

from .models import LatencyRollup, VerificationRollup
from .rollups import OVERFLOW

PERIODS = {"today": "Today", "7d": "Last 7 days", "30d": "Last 30 days", "custom": "Custom"}
FUNNEL = ("requested", "sent", "delivered", "approved")
REASONS = {
    "expired": "Code expired before it was entered",
    "max_attempts_reached": "Too many wrong codes",
    "canceled": "Replaced by a newer code or canceled",
    "failed": "Message could not be delivered",
    "undelivered": "Delivery report: undelivered",
    "message_failed": "No gateway could send the message",
}
COUNTS = (*FUNNEL, *REASONS)


@dataclass(frozen=True)
class Filters:
    """What the numbers cover: ``start`` included, ``end`` excluded (whole hours, UTC)."""

    start: datetime
    end: datetime
    stream_ids: tuple[int, ...] = ()
    event_key: str = ""
    channel: str = ""
    country: str = ""
    gateway_id: int | None = None
    period: str = "7d"


def period_bounds(
    period: str, *, now: datetime, first: date | None = None, last: date | None = None
) -> tuple[datetime, datetime]:
    """``today``, ``7d``, ``30d`` end with the current hour; ``custom`` covers the days
    ``first`` to ``last`` (UTC), both included."""
    this_hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = this_hour + timedelta(hours=1)
    if period == "today":
        return this_hour.replace(hour=0), end
    if period == "30d":
        return end - timedelta(days=30), end
    if period == "custom" and first and last:
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return end - timedelta(days=7), end


def _scoped(model, account: Account, f: Filters) -> QuerySet:
    rows = model.objects.filter(account=account, hour__gte=f.start, hour__lt=f.end)
    if f.stream_ids:
        rows = rows.filter(stream_id__in=f.stream_ids)
    if f.event_key:
        rows = rows.filter(event_key=f.event_key)
    if f.channel:
        rows = rows.filter(channel=f.channel)
    if f.country:
        rows = rows.filter(country=f.country)
    if f.gateway_id is not None:
        rows = rows.filter(gateway_id=f.gateway_id)
    return rows


def _sums(rows: QuerySet, *group: str) -> QuerySet:
    return rows.values(*group).annotate(**{name: Sum(name) for name in COUNTS}).order_by()


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _with_rates(counts: dict) -> dict:
    counts = {name: counts.get(name) or 0 for name in COUNTS}
    return {
        **counts,
        "sent_rate": _rate(counts["sent"], counts["requested"]),
        "delivered_rate": _rate(counts["delivered"], counts["sent"]),
        "approved_rate": _rate(counts["approved"], counts["requested"]),
        "approved_of_delivered_rate": _rate(counts["approved"], counts["delivered"]),
    }


def _quantile(histogram: list[tuple[int, int]], q: float) -> int | None:
    """The bucket bound below which ``q`` of the values fall (None: no values; values
    past the last bound count as the last bound, marked as such by the caller)."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    seen = 0
    for bound, n in sorted(histogram):
        seen += n
        if seen >= q * total:
            return bound
    return histogram[-1][0]


def overview(account: Account, f: Filters) -> dict:
    """Everything the overview shows, JSON-ready (the API returns it as it is)."""
    rows = _scoped(VerificationRollup, account, f)
    totals = _with_rates(rows.aggregate(**{name: Sum(name) for name in COUNTS}))

    daily = f.end - f.start > timedelta(days=2)
    if daily:
        series_rows = _sums(rows.annotate(bucket=TruncDay("hour", tzinfo=UTC)), "bucket")
    else:
        series_rows = _sums(rows, "hour")
    by_bucket = {(r.get("bucket") or r.get("hour")): r for r in series_rows}
    step = timedelta(days=1) if daily else timedelta(hours=1)
    series = []
    moment = f.start.replace(hour=0) if daily else f.start
    while moment < f.end:
        r = by_bucket.get(moment, {})
        series.append(
            {
                "start": moment.isoformat(),
                "requested": r.get("requested") or 0,
                "sent": r.get("sent") or 0,
                "delivered": r.get("delivered") or 0,
                "approved": r.get("approved") or 0,
            }
        )
        moment += step

    by_country = [
        {"country": r["country"] or "unknown", **_with_rates(r)}
        for r in sorted(_sums(rows, "country"), key=lambda r: (-r["requested"], r["country"]))
    ]
    gateway_rows = sorted(_sums(rows, "gateway_id"), key=lambda r: -r["requested"])
    names = gateway_names(r["gateway_id"] for r in gateway_rows)
    by_gateway = [
        {
            "gateway_id": r["gateway_id"] or None,
            "gateway": names.get(r["gateway_id"])
            or ("No gateway yet" if not r["gateway_id"] else f"Gateway #{r['gateway_id']}"),
            **_with_rates(r),
        }
        for r in gateway_rows
    ]

    latency = {}
    histograms = (
        _scoped(LatencyRollup, account, f)
        .values("kind", "upper_seconds")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for kind in LatencyRollup.Kind:
        histogram = [(r["upper_seconds"], r["n"]) for r in histograms if r["kind"] == kind]
        median, p90 = _quantile(histogram, 0.5), _quantile(histogram, 0.9)
        latency[kind.value] = {
            "label": kind.label,
            "count": sum(n for _, n in histogram),
            "median_seconds": median,
            "p90_seconds": p90,
            "beyond_last_bound": OVERFLOW in (median, p90),
        }

    reasons = [
        {"reason": key, "label": label, "count": totals[key]}
        for key, label in REASONS.items()
        if totals[key]
    ]
    return {
        "period": {"name": f.period, "start": f.start.isoformat(), "end": f.end.isoformat()},
        "granularity": "day" if daily else "hour",
        "totals": totals,
        "series": series,
        "by_country": by_country,
        "by_gateway": by_gateway,
        "latency": latency,
        "reasons": reasons,
        # Gateways carry no prices yet: the spend appears when they do.
        "estimated_spend": None,
    }


def filter_choices(account: Account) -> dict[str, list]:
    """The values the overview's filters offer: those present in the rollups."""
    rows = VerificationRollup.objects.filter(account=account)
    gateways = sorted(set(rows.values_list("gateway_id", flat=True).distinct()) - {0})
    names = gateway_names(gateways)
    return {
        "events": sorted(set(rows.values_list("event_key", flat=True).distinct())),
        "countries": sorted(set(rows.values_list("country", flat=True).distinct()) - {""}),
        "gateways": [(g, names.get(g, f"Gateway #{g}")) for g in gateways],
    }
