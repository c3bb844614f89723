"""The overview, its CSV and the analytics API show the same numbers, and they equal
the raw rows of a known data set; bad filters are a clear 400, never a 500."""

import csv
import io
import re

import pytest
from django.db.models import Sum

from gateways.models import Gateway, OutboundMessage
from otp.models import Verification
from otp.rollups import refresh_rollups
from tests.support import analytics_data, factories
from tests.support.otp_client import OtpClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def known(account):
    stream, token = factories.make_stream(account)
    other, _ = factories.make_stream(account)
    gateways = [
        Gateway.objects.create(name="Primary", kind=Gateway.Kind.CONSOLE),
        Gateway.objects.create(name="Fallback", kind=Gateway.Kind.NOOP),
    ]
    analytics_data.seed(account, [stream, other], gateways, count=300, hours=48)
    refresh_rollups(full=True)
    return stream, token, other


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def metric(html: str, name: str) -> int:
    return int(re.search(rf'data-metric="{name}">(\d+)<', html).group(1))


def test_the_overview_counts_equal_the_raw_rows(signed_in, known):
    html = signed_in.get("/overview/?period=7d").content.decode()
    rows = Verification.objects.all()
    assert metric(html, "requested") == rows.count() == 300
    assert metric(html, "approved") == rows.filter(status="approved").count()
    assert 'id="chart-series"' in html and "chart.umd.min.js" in html
    assert 'id="by-country"' in html and ">Primary<" in html


def test_the_api_gives_the_streams_numbers_as_the_overview_does(signed_in, known):
    stream, token, _ = known
    answer = OtpClient(token).client.get(
        "/api/v1/analytics", {"period": "7d"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 200, answer.content
    numbers = answer.json()
    page = signed_in.get(f"/overview/?period=7d&stream={stream.pk}").content.decode()
    for name in ("requested", "sent", "delivered", "approved"):
        assert numbers["totals"][name] == metric(page, name)
    mine = Verification.objects.filter(stream=stream)
    assert numbers["totals"]["requested"] == mine.count()
    assert numbers["totals"]["expired"] == mine.filter(status="expired").count()
    by_country = {r["country"]: r["requested"] for r in numbers["by_country"]}
    for country in analytics_data.RECIPIENTS:
        assert by_country.get(country, 0) == mine.filter(country=country).count()
    assert sum(p["requested"] for p in numbers["series"]) == mine.count()
    assert numbers["latency"]["approval"]["count"] == mine.filter(status="approved").count()
    sent = OutboundMessage.objects.filter(
        verification_id__in=mine.values("id"), status__in=["sent", "delivered", "undelivered"]
    )
    spend = sent.aggregate(total=Sum("estimated_cost"))["total"]
    assert numbers["estimated_spend"] == round(float(spend), 2) and numbers["currency"]
    assert f"{numbers['estimated_spend']:.2f}" in page


def test_the_csv_export_has_the_same_totals(signed_in, known):
    response = signed_in.get("/overview.csv?period=30d&country=US")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, total = rows[0], rows[1]
    assert total[0] == "total"
    counts = dict(zip(header[2:], total[2:], strict=True))
    us = Verification.objects.filter(country="US")
    assert int(counts["requested"]) == us.count()
    assert int(counts["approved"]) == us.filter(status="approved").count()


@pytest.mark.parametrize(
    "query",
    ["period=custom", "period=custom&first=2026-02-10&last=2026-01-01", "period=forever"],
)
def test_bad_overview_filters_are_a_clear_400(signed_in, known, query):
    response = signed_in.get(f"/overview/?{query}")
    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert signed_in.get(f"/overview.csv?{query}").status_code == 400


@pytest.mark.parametrize(
    "query, field",
    [
        ({"period": "custom"}, "from"),
        ({"period": "custom", "from": "2026-02-10", "to": "2026-01-01"}, "to"),
        ({"channel": "pigeon"}, "channel"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_bad_analytics_queries_are_refused_with_the_field(known, query, field):
    _, token, _ = known
    answer = OtpClient(token).client.get(
        "/api/v1/analytics", query, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["fields"]


def test_the_analytics_endpoint_needs_a_token_and_is_in_the_schema(client, known):
    assert client.get("/api/v1/analytics").status_code == 401
    schema = client.get("/api/schema/").content.decode()
    assert "/api/v1/analytics" in schema and "stream_analytics" in schema


def test_an_empty_period_says_so(signed_in, account):
    html = signed_in.get("/overview/").content.decode()
    assert 'id="overview-empty"' in html and "No codes were requested" in html
