"""Reads of verifications, guard decisions and budget usage for the pages that show
them (the console's stream page and budgets page) and the API's verification
resource."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

from django.utils import timezone

from gateways.models import OutboundMessage
from gateways.selectors import latest_message_by_verification, messages_of_verifications
from streams.models import Account, Budget, Stream

from . import analytics, rollups
from .budgets import period_starts
from .models import BudgetCounter, Check, Fallback, SendDecision, Verification


@dataclass
class Timeline:
    """What happened to one verification, oldest first: every message that carried its
    code (channel, gateway, delivery status and times), every check, every fallback."""

    sends: list[OutboundMessage] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    fallbacks: list[Fallback] = field(default_factory=list)


def timelines(verifications: Iterable[Verification]) -> dict[UUID, Timeline]:
    """The timeline of each verification: three queries, whatever the number."""
    verifications = list(verifications)
    ids = [v.id for v in verifications]
    found = {vid: Timeline() for vid in ids}
    for message in messages_of_verifications(ids):
        found[message.verification_id].sends.append(message)
    for check in Check.objects.filter(verification_id__in=ids):
        found[check.verification_id].checks.append(check)
    for verification in verifications:
        if verification.status == Verification.Status.APPROVED:
            # The approving check is the decision itself (see otp.services.check_code).
            approving = Check(
                verification=verification,
                checked_at=verification.decided_at,
                result=Check.Result.APPROVED,
            )
            found[verification.id].checks.append(approving)
            found[verification.id].checks.sort(key=lambda c: c.checked_at)
    for fallback in Fallback.objects.filter(verification_id__in=ids):
        found[fallback.verification_id].fallbacks.append(fallback)
    return found


def recent_verifications(stream: Stream, limit: int = 20) -> list[Verification]:
    """The stream's newest verifications, each with its latest message (or None) as
    ``latest_message`` and its ``timeline``: a handful of queries, whatever the number
    of rows. Show ``current_status``/``current_reason``: the API shows the same."""
    verifications = list(Verification.objects.filter(stream=stream).order_by("-created_at")[:limit])
    latest = latest_message_by_verification(v.id for v in verifications)
    found = timelines(verifications)
    for verification in verifications:
        verification.latest_message = latest.get(verification.id)
        verification.timeline = found[verification.id]
    return verifications


def analytics_overview(account, filters: analytics.Filters) -> dict:
    """The overview's numbers for ``account`` (``otp.analytics.overview``), from rollups
    brought up to date first when their last refresh is older than
    ``OTP_ANALYTICS_MAX_AGE_SECONDS`` (the beat task keeps them fresher than that)."""
    rollups.refresh_if_stale()
    return analytics.overview(account, filters)


def analytics_choices(account) -> dict[str, list]:
    return analytics.filter_choices(account)


AnalyticsFilters = analytics.Filters
analytics_period_bounds = analytics.period_bounds
ANALYTICS_PERIODS = analytics.PERIODS


def recent_decisions(stream: Stream, limit: int = 20) -> list[SendDecision]:
    """The guard's newest decisions on the stream (refusals, shadow-mode findings)."""
    return list(SendDecision.objects.filter(stream=stream).order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class BudgetUsage:
    budget: Budget
    spent: Decimal
    period_start: date

    @property
    def percent(self) -> int:
        if not self.budget.limit:
            return 100
        return min(100, int(self.spent * 100 / self.budget.limit))

    @property
    def spent_label(self) -> str:
        if self.budget.unit == Budget.Unit.MONEY:
            return f"{self.spent:.2f}"
        return f"{self.spent:.0f}"


def budget_usage(account: Account, stream: Stream | None = None) -> list[BudgetUsage]:
    """The budgets of ``stream`` (or of the whole account) with what each has spent in
    its current period: two queries."""
    starts = period_starts(timezone.now())
    budgets = list(Budget.objects.filter(account=account, stream=stream).order_by("unit", "period"))
    spent = {
        (c.budget_id, c.period_start): c.spent
        for c in BudgetCounter.objects.filter(
            budget__in=budgets, period_start__in=set(starts.values())
        )
    }
    return [
        BudgetUsage(
            budget=b,
            spent=spent.get((b.pk, starts[b.period]), Decimal(0)),
            period_start=starts[b.period],
        )
        for b in budgets
    ]
