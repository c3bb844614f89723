"""Reads of verifications for the pages that show them (the console's stream page)."""

from gateways.selectors import latest_message_by_verification
from streams.models import Stream

from . import analytics, rollups
from .models import Verification


def recent_verifications(stream: Stream, limit: int = 20) -> list[Verification]:
    """The stream's newest verifications, each with its latest message (or None) as
    ``latest_message``: two queries, whatever the number of rows."""
    verifications = list(Verification.objects.filter(stream=stream).order_by("-created_at")[:limit])
    latest = latest_message_by_verification(v.id for v in verifications)
    for verification in verifications:
        verification.latest_message = latest.get(verification.id)
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
