"""The numbers of the console's overview and the analytics API, read from the hourly
rollups (``otp/rollups.py``), never from the raw verification rows: the funnel, its
series over time, conversion by country and by gateway, latencies, why codes were not
used, and the sends the guard refused (counted from its decision records)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate

from gateways.selectors import gateway_names
from streams.models import Account

from .guard import Outcome, Rule
from .models import (
    LATENCY_BOUNDS,
    LATENCY_FIELDS,
    LATENCY_KINDS,
    OVERFLOW,
    DailyRollup,
    SendDecision,
    VerificationRollup,
    latency_field,
)
from .velocity import VelocityRule

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
# What each guard rule stopped, said for the admin (the API gives the stable names too).
REFUSAL_RULES = {
    Rule.NUMBER_TYPE: "Number type not allowed (premium rate, satellite, ...)",
    Rule.COUNTRY_NOT_ALLOWED: "Country outside the stream's allowlist",
    Rule.COUNTRY_BLOCKED: "Country blocked by the stream",
    Rule.PREFIX_BLOCKED: "Number prefix blocked by the stream",
    Rule.BUDGET: "A budget of the stream or account was used up",
    VelocityRule.PREFIX_CONVERSION: "Few codes used for this number prefix",
    VelocityRule.PREFIX_VELOCITY: "Prefix throttled: too many sends, few codes used",
    VelocityRule.COUNTRY_CONVERSION: "Few codes used for this country",
    VelocityRule.COUNTRY_VELOCITY: "Country throttled: too many sends, few codes used",
    VelocityRule.IP_VELOCITY: "Too many codes requested from one IP address",
    VelocityRule.IP_COUNTRIES: "One IP address asking for codes to many countries",
}


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
    """``today`` is today so far; ``7d`` and ``30d`` are today and the 6 (29) days
    before it; ``custom`` covers the days ``first`` to ``last``, both included. Days in
    UTC, ending with the current hour."""
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    today = end.replace(hour=0) if end.hour else end - timedelta(days=1)
    if period == "today":
        return today, end
    if period == "30d":
        return today - timedelta(days=29), end
    if period == "custom" and first and last:
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return start, datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return today - timedelta(days=6), end


def _midnight(moment: datetime, *, up: bool) -> datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day + timedelta(days=1) if up and day != moment else day


def _parts(account: Account, f: Filters) -> list[QuerySet]:
    """The rollup rows of the period: whole days from the daily rollups, the hours
    before the first and after the last whole day from the hourly ones."""
    first_day, last_day = _midnight(f.start, up=True), _midnight(f.end, up=False)
    if last_day <= first_day:
        hourly = [(f.start, f.end)]
        daily = None
    else:
        hourly = [(f.start, first_day), (last_day, f.end)]
        daily = (first_day.date(), last_day.date())
    parts = []
    for start, end in hourly:
        if start < end:
            rows = VerificationRollup.objects.filter(hour__gte=start, hour__lt=end)
            parts.append(rows.annotate(day=TruncDate("hour", tzinfo=UTC)))
    if daily is not None:
        parts.append(DailyRollup.objects.filter(day__gte=daily[0], day__lt=daily[1]))
    return [_filtered(rows.filter(account=account), f) for rows in parts]


def _filtered(rows: QuerySet, f: Filters) -> QuerySet:
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


SUMMED = (*COUNTS, *LATENCY_FIELDS, "spend")


def _sums(parts: list[QuerySet], *group: str, fields=SUMMED) -> dict[tuple, dict]:
    """``fields`` summed over every part, per value of ``group`` (one key () without)."""
    merged: dict[tuple, dict] = {}
    for rows in parts:
        grouped = rows.values(*group) if group else rows
        if group:
            result = grouped.annotate(**{f"s_{n}": Sum(n) for n in fields}).order_by()
        else:
            result = [grouped.aggregate(**{f"s_{n}": Sum(n) for n in fields})]
        for r in result:
            key = tuple(r[g] for g in group)
            into = merged.setdefault(key, dict.fromkeys(fields, 0))
            for n in fields:
                into[n] += r[f"s_{n}"] or 0
    return merged


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
    """The bucket bound below which ``q`` of the values fall (None: no values)."""
    total = sum(n for _, n in histogram)
    if not total:
        return None
    seen = 0
    for bound, n in histogram:
        seen += n
        if seen >= q * total:
            return bound
    return histogram[-1][0]


def overview(account: Account, f: Filters) -> dict:
    """Everything the overview shows, JSON-ready (the API returns it as it is)."""
    daily = f.end - f.start > timedelta(days=2)
    if daily:
        parts = _parts(account, f)
        by_time = _sums(parts, "day", fields=FUNNEL)
        step, moment = timedelta(days=1), _midnight(f.start, up=False)
    else:
        parts = [_filtered(VerificationRollup.objects.filter(account=account), f)]
        parts = [p.filter(hour__gte=f.start, hour__lt=f.end) for p in parts]
        by_time = {(_as_utc(k[0]),): v for k, v in _sums(parts, "hour", fields=FUNNEL).items()}
        step, moment = timedelta(hours=1), f.start
    totals_raw = _sums(parts).get((), dict.fromkeys(SUMMED, 0))
    totals = _with_rates(totals_raw)
    series = []
    while moment < f.end:
        key = (moment.date(),) if daily else (moment,)
        r = by_time.get(key, {})
        series.append({"start": moment.isoformat(), **{n: r.get(n, 0) for n in FUNNEL}})
        moment += step

    countries = _sums(parts, "country", fields=COUNTS)
    by_country = [
        {"country": country or "unknown", **_with_rates(r)}
        for (country,), r in sorted(countries.items(), key=lambda i: (-i[1]["requested"], i[0]))
    ]
    gateway_rows = sorted(
        _sums(parts, "gateway_id", fields=COUNTS).items(), key=lambda i: -i[1]["requested"]
    )
    names = gateway_names(g for (g,), _ in gateway_rows)
    by_gateway = [
        {
            "gateway_id": g or None,
            "gateway": names.get(g) or ("No gateway yet" if not g else f"Gateway #{g}"),
            **_with_rates(r),
        }
        for (g,), r in gateway_rows
    ]

    latency = {}
    for kind, label in LATENCY_KINDS.items():
        histogram = [(b, totals_raw[latency_field(kind, b)]) for b in (*LATENCY_BOUNDS, OVERFLOW)]
        median, p90 = _quantile(histogram, 0.5), _quantile(histogram, 0.9)
        latency[kind] = {
            "label": label,
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
    refusals, refusals_note = guard_refusals(account, f)
    return {
        "period": {"name": f.period, "start": f.start.isoformat(), "end": f.end.isoformat()},
        "granularity": "day" if daily else "hour",
        "totals": totals,
        "series": series,
        "by_country": by_country,
        "by_gateway": by_gateway,
        "latency": latency,
        "reasons": reasons,
        "refusals": refusals,
        "refusals_note": refusals_note,
        # The messages' estimated cost (their route's price when sent); None when no
        # price applied to any of them.
        "estimated_spend": round(float(totals_raw["spend"]), 2) if totals_raw["spend"] else None,
        "currency": settings.OTP_CURRENCY,
    }


def guard_refusals(account: Account, f: Filters) -> tuple[list[dict], str | None]:
    """The guard's decisions of the period, per error code, rule and outcome: refused
    sends (blocked or throttled) and, apart, what shadow mode let through. A refused
    send leaves no verification, so these are not part of ``requested``. Decisions
    know their stream, event, channel and country but no gateway (a refused send never
    reached one): with the gateway filter none are counted, and the note says why."""
    if f.gateway_id is not None:
        return [], "Refused sends never reached a gateway: clear that filter to see them."
    rows = SendDecision.objects.filter(
        stream__account=account, created_at__gte=f.start, created_at__lt=f.end
    )
    if f.stream_ids:
        rows = rows.filter(stream_id__in=f.stream_ids)
    if f.event_key:
        rows = rows.filter(event_key=f.event_key)
    if f.channel:
        rows = rows.filter(channel=f.channel)
    if f.country:
        rows = rows.filter(country=f.country)
    counted = rows.values("code", "rule", "outcome").annotate(count=Count("id")).order_by()
    refusals = [
        {
            "code": r["code"],
            "rule": r["rule"],
            "label": REFUSAL_RULES.get(r["rule"], r["rule"]),
            "outcome": r["outcome"],
            "shadow": r["outcome"] == Outcome.ALLOWED_IN_SHADOW,
            "count": r["count"],
        }
        for r in counted
    ]
    refusals.sort(key=lambda r: (r["shadow"], -r["count"], r["code"], r["rule"], r["outcome"]))
    return refusals, None


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def filter_choices(account: Account) -> dict[str, list]:
    """The values the overview's filters offer: those present in the daily rollups."""
    rows = DailyRollup.objects.filter(account=account).order_by()
    gateways = sorted(set(rows.values_list("gateway_id", flat=True).distinct()) - {0})
    names = gateway_names(gateways)
    return {
        "events": sorted(set(rows.values_list("event_key", flat=True).distinct())),
        "countries": sorted(set(rows.values_list("country", flat=True).distinct()) - {""}),
        "gateways": [(g, names.get(g, f"Gateway #{g}")) for g in gateways],
    }
