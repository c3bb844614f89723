"""The overview: are the account's codes arriving and being used, where, through which
gateway, for a chosen period; the same numbers as CSV."""

from __future__ import annotations

import csv

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from otp import selectors as otp_selectors
from streams import selectors

from ..context import account_view
from ..filters import OverviewForm


def _form(request) -> OverviewForm:
    return OverviewForm(
        request.GET,
        account=request.account,
        streams=selectors.account_streams(request.account),
        choices=otp_selectors.analytics_choices(request.account),
    )


@account_view
def overview(request):
    form = _form(request)
    if not form.is_valid():
        return render(request, "console/overview.html", {"form": form}, status=400)
    numbers = otp_selectors.analytics_overview(request.account, form.filters(now=timezone.now()))
    context = {
        "form": form,
        "numbers": numbers,
        "query": request.GET.urlencode(),
        "has_streams": form.fields["stream"].queryset.exists(),
    }
    return render(request, "console/overview.html", context)


CSV_COLUMNS = (
    "requested",
    "sent",
    "delivered",
    "approved",
    "sent_rate",
    "delivered_rate",
    "approved_rate",
    "undelivered",
    "message_failed",
    "expired",
    "max_attempts_reached",
    "canceled",
    "failed",
)


@account_view
def overview_csv(request):
    """The overview's numbers in one CSV: the totals, then one row per country, per
    gateway and per point of the series, the latencies and the guard's refusals (per
    code, rule and outcome), each row saying which it is."""
    form = _form(request)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    numbers = otp_selectors.analytics_overview(request.account, form.filters(now=timezone.now()))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    period = numbers["period"]
    response["Content-Disposition"] = (
        f'attachment; filename="otp-overview-{period["start"][:10]}-{period["end"][:10]}.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(["section", "key", *CSV_COLUMNS])
    writer.writerow(["total", "", *(numbers["totals"][c] for c in CSV_COLUMNS)])
    for row in numbers["by_country"]:
        writer.writerow(["country", row["country"], *(row[c] for c in CSV_COLUMNS)])
    for row in numbers["by_gateway"]:
        writer.writerow(["gateway", row["gateway"], *(row[c] for c in CSV_COLUMNS)])
    for point in numbers["series"]:
        values = [point.get(c, "") for c in CSV_COLUMNS]
        writer.writerow([numbers["granularity"], point["start"], *values])
    for kind, latency in numbers["latency"].items():
        for measure in ("median_seconds", "p90_seconds", "count"):
            writer.writerow(["latency", f"{kind}_{measure}", latency[measure]])
    for refusal in numbers["refusals"]:
        key = f"{refusal['code']}:{refusal['rule']}:{refusal['outcome']}"
        writer.writerow(["refusal", key, refusal["count"]])
    return response
