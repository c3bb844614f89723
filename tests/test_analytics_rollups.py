"""The analytics' rollups equal a SQL count over the raw rows, exactly: after a full
refresh, after the rows change and an incremental refresh runs, and when refreshes
repeat."""

from collections import Counter
from datetime import UTC, timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from gateways.models import Gateway, OutboundMessage
from otp.models import LATENCY_FIELDS, DailyRollup, Verification, VerificationRollup
from otp.rollups import refresh_rollups
from tests.support import analytics_data, factories

pytestmark = pytest.mark.django_db

GROUND_TRUTH = """
SELECT v.stream_id, v.event_key, v.channel, v.country, COALESCE(m.gateway_id, 0),
       COUNT(*),
       SUM(CASE WHEN m.status IN ('sent', 'delivered', 'undelivered') THEN 1 ELSE 0 END),
       SUM(CASE WHEN m.status = 'delivered' THEN 1 ELSE 0 END),
       SUM(CASE WHEN v.status = 'approved' THEN 1 ELSE 0 END),
       SUM(CASE WHEN v.status = 'expired' THEN 1 ELSE 0 END),
       SUM(CASE WHEN m.status = 'undelivered' THEN 1 ELSE 0 END),
       SUM(CASE WHEN v.status = 'failed' THEN 1 ELSE 0 END)
FROM otp_verification v
LEFT JOIN gateways_outboundmessage m ON m.verification_id = v.id
GROUP BY v.stream_id, v.event_key, v.channel, v.country, COALESCE(m.gateway_id, 0)
"""
MEASURES = ("requested", "sent", "delivered", "approved", "expired", "undelivered", "failed")


def latency_total(kind: str) -> int:
    return sum(
        sum(getattr(r, f) for f in LATENCY_FIELDS if f.startswith(kind))
        for r in VerificationRollup.objects.all()
    )


def daily_counts() -> dict:
    totals: dict = {}
    for r in DailyRollup.objects.all():
        key = (r.stream_id, r.event_key, r.channel, r.country, r.gateway_id)
        values = tuple(getattr(r, m) for m in MEASURES)
        before = totals.get(key, (0,) * len(MEASURES))
        totals[key] = tuple(a + b for a, b in zip(before, values, strict=True))
    return totals


def sql_counts() -> dict:
    with connection.cursor() as cursor:
        cursor.execute(GROUND_TRUTH)
        return {tuple(row[:5]): tuple(int(n) for n in row[5:]) for row in cursor.fetchall()}


def rollup_counts() -> dict:
    totals: dict = {}
    for r in VerificationRollup.objects.all():
        key = (r.stream_id, r.event_key, r.channel, r.country, r.gateway_id)
        values = tuple(getattr(r, m) for m in MEASURES)
        before = totals.get(key, (0,) * len(MEASURES))
        totals[key] = tuple(a + b for a, b in zip(before, values, strict=True))
    return totals


def hours_of_raw_rows() -> Counter:
    return Counter(
        v.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
        for v in Verification.objects.values_list("created_at", flat=True)
    )


def hours_of_rollups() -> Counter:
    counts: Counter = Counter()
    for hour, n in VerificationRollup.objects.values_list("hour", "requested"):
        counts[hour.astimezone(UTC)] += n
    return counts


@pytest.fixture
def data_set():
    account = factories.make_account()
    streams = [factories.make_stream(account)[0], factories.make_stream(account)[0]]
    gateways = [
        Gateway.objects.create(name="Primary", kind=Gateway.Kind.CONSOLE),
        Gateway.objects.create(name="Fallback", kind=Gateway.Kind.NOOP),
    ]
    verifications = analytics_data.seed(account, streams, gateways, count=500)
    return account, streams, gateways, verifications


def test_rollups_equal_sql_counts_over_the_raw_rows(data_set):
    refresh_rollups(full=True)
    truth = sql_counts()
    assert sum(t[0] for t in truth.values()) == 500
    assert rollup_counts() == truth
    assert hours_of_rollups() == hours_of_raw_rows()
    approved = Verification.objects.filter(status="approved").count()
    assert latency_total("approval") == approved
    delivered = OutboundMessage.objects.filter(status="delivered").count()
    assert latency_total("delivery") == delivered
    assert daily_counts() == truth
    sent = OutboundMessage.objects.filter(status__in=["sent", "delivered", "undelivered"])
    spend = sent.aggregate(total=Sum("estimated_cost"))["total"]
    assert spend > 0
    assert VerificationRollup.objects.aggregate(total=Sum("spend"))["total"] == spend
    assert DailyRollup.objects.aggregate(total=Sum("spend"))["total"] == spend


def test_incremental_refreshes_follow_changes_without_losing_or_doubling(data_set):
    account, streams, gateways, _ = data_set
    refresh_rollups()
    now = timezone.now()
    # Codes entered, delivery reports arriving, new sends, a message re-routed: rows of
    # old hours and of new ones change after the refresh.
    pending = Verification.objects.filter(status="pending")
    ids = list(pending.values_list("id", flat=True)[:10])
    assert Verification.objects.filter(id__in=ids).approve(now=now + timedelta(days=1)) == 0
    for verification in Verification.objects.filter(id__in=ids):
        verification.expires_at = now + timedelta(minutes=5)
        verification.save(update_fields=["expires_at"])
    assert Verification.objects.filter(id__in=ids).approve(now=now) == len(ids)
    sent = OutboundMessage.objects.filter(status="sent")[:10]
    for message in sent:
        OutboundMessage.objects.filter(id=message.id).apply_receipt_status("delivered")
    analytics_data.seed(account, streams, gateways, count=50, seed=99, hours=2)
    refresh_rollups()
    refresh_rollups()  # again: recomputing the same hours changes nothing
    assert rollup_counts() == sql_counts() == daily_counts()
    assert hours_of_rollups() == hours_of_raw_rows()


def test_rows_unchanged_since_the_last_refresh_are_not_recounted(data_set):
    refresh_rollups()
    before = rollup_counts()
    an_hour_ago = timezone.now() - timedelta(hours=1)  # beyond the open-transaction margin
    Verification.objects.update(changed_at=an_hour_ago)
    OutboundMessage.objects.update(updated_at=an_hour_ago)
    assert refresh_rollups() == 0
    assert rollup_counts() == before == sql_counts()


def test_rebuild_gives_older_verifications_their_country_and_counts_them(data_set):
    from io import StringIO

    from django.core.management import call_command

    Verification.objects.filter(country="GB").update(country="")  # written before analytics
    out = StringIO()
    call_command("rebuild_analytics", stdout=out)
    assert not Verification.objects.filter(country="").exists()
    assert "verifications got their country" in out.getvalue()
    assert rollup_counts() == sql_counts()
