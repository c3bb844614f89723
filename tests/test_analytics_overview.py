"""The overview, its CSV and the analytics API show the same numbers, and they equal
the raw rows of a known data set; bad filters are a clear 400, never a 500."""

import csv
import io
import re
from datetime import datetime

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils.html import escape

from gateways.models import Gateway, OutboundMessage
from otp.analytics import REFUSAL_RULES
from otp.models import SendDecision, Verification
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
    # The guard's decisions over 25 days: some fall outside a 7-day period.
    analytics_data.seed_decisions([stream, other], count=150, hours=25 * 24)
    stranger, _ = factories.make_stream(factories.make_account())
    analytics_data.seed_decisions([stranger], count=20, hours=48, seed=3)
    refresh_rollups(full=True)
    return stream, token, other


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def metric(html: str, name: str) -> int:
    return int(re.search(rf'data-metric="{name}">(\d+)<', html).group(1))


def test_the_overview_counts_equal_the_raw_rows(signed_in, known):
    html = signed_in.get("/?period=7d").content.decode()
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
    page = signed_in.get(f"/?period=7d&stream={stream.pk}").content.decode()
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
    response = signed_in.get(f"/?{query}")
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
    html = signed_in.get("/").content.decode()
    assert 'id="overview-empty"' in html and "No codes were requested" in html


def test_signing_in_lands_on_the_overview_and_the_streams_have_their_own_page(client, owner):
    response = client.post(
        "/accounts/login/",
        {"username": owner.username, "password": factories.PASSWORD},
        follow=True,
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/"
    assert "<h1>Overview</h1>" in html
    assert 'href="/" aria-current="page">Overview<' in html
    # A new account has no stream yet: the empty overview says where to start.
    assert 'href="/streams/new/"' in html
    streams = client.get("/streams/").content.decode()
    assert "<h1>OTP streams</h1>" in streams
    assert 'href="/streams/" aria-current="page">Streams<' in streams


def decisions_in_sql(account, period: dict, **where) -> dict[str, int]:
    """The ground truth: the decision rows of the account's streams in the period, per
    code, rule and outcome, counted by SQL over the raw rows."""
    decisions = SendDecision._meta.db_table
    streams = SendDecision._meta.get_field("stream").related_model._meta.db_table
    ops = connection.ops
    start, end = (datetime.fromisoformat(period[k]) for k in ("start", "end"))
    clauses = ["s.account_id = %s", "d.created_at >= %s", "d.created_at < %s"]
    params = [account.pk, ops.adapt_datetimefield_value(start), ops.adapt_datetimefield_value(end)]
    for column, value in where.items():
        clauses.append(f"d.{column} = %s")
        params.append(value)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT d.code, d.rule, d.outcome, COUNT(*) FROM {decisions} d "  # noqa: S608
            f"JOIN {streams} s ON s.id = d.stream_id WHERE {' AND '.join(clauses)} "
            "GROUP BY d.code, d.rule, d.outcome",
            params,
        )
        return {f"{code}:{rule}:{outcome}": n for code, rule, outcome, n in cursor}


def period_of(html: str) -> dict[str, str]:
    """The period a page says it shows (whole hours, UTC)."""
    start, end = re.search(r'id="period-label">([^ ]+) to ([^ ]+) UTC', html).groups()
    return {"start": f"{start}+00:00", "end": f"{end}+00:00"}


def refusals_shown(html: str) -> dict[str, int]:
    rows = re.findall(r'<tr data-refusal="([^"]+)">.*?<td>(\d+)</td></tr>', html)
    return {key: int(n) for key, n in rows}


@pytest.mark.parametrize(
    "query, where",
    [
        ("period=7d", {}),
        ("period=30d", {}),
        ("period=30d&stream={stream}", {"stream_id": "{stream}"}),
        ("period=30d&country=GB", {"country": "GB"}),
        ("period=7d&channel=voice", {"channel": "voice"}),
        ("period=30d&event=reset", {"event_key": "reset"}),
    ],
)
def test_the_guards_refusals_equal_the_decision_rows(signed_in, account, known, query, where):
    stream = known[0]
    query = query.format(stream=stream.pk)
    where = {k: (stream.pk if v == "{stream}" else v) for k, v in where.items()}
    html = signed_in.get(f"/?{query}").content.decode()
    truth = decisions_in_sql(account, period_of(html), **where)
    assert truth, "the data set has decisions for this view"
    assert refusals_shown(html) == truth
    rows = list(csv.reader(io.StringIO(signed_in.get(f"/overview.csv?{query}").content.decode())))
    assert {r[1]: int(r[2]) for r in rows if r[0] == "refusal"} == truth
    # Each row says in words which rule stopped the send; shadow mode's say it let it go.
    for key in truth:
        assert escape(REFUSAL_RULES[key.split(":")[1]]) in html
    assert ("allowed_in_shadow" in str(truth)) == ("shadow mode: would have been refused" in html)


def test_refusals_are_not_counted_under_the_gateway_filter(signed_in, known):
    stream, token, _ = known
    for query in ("period=30d&gateway=0",):
        html = signed_in.get(f"/?{query}").content.decode()
        assert refusals_shown(html) == {}
        assert 'id="refusals-note"' in html and "never reached a gateway" in html
    answer = (
        OtpClient(token)
        .client.get("/api/v1/analytics", {"period": "30d"}, HTTP_AUTHORIZATION=f"Bearer {token}")
        .json()
    )
    period = answer["period"]
    truth = decisions_in_sql(stream.account, period, stream_id=stream.pk)
    counted = {f"{r['code']}:{r['rule']}:{r['outcome']}": r["count"] for r in answer["refusals"]}
    assert counted == truth and answer["refusals_note"] is None


def test_a_streams_page_shows_its_numbers_for_the_period(signed_in, known):
    stream = known[0]
    html = signed_in.get(f"/streams/{stream.public_id}/?period=30d").content.decode()
    mine = Verification.objects.filter(stream=stream)
    assert 'id="numbers"' in html and 'id="chart-series"' in html and 'id="by-gateway"' in html
    assert metric(html, "requested") == mine.count() < Verification.objects.count()
    assert metric(html, "approved") == mine.filter(status="approved").count()
    by_country = dict(re.findall(r'<th scope="row">([A-Z]{2})</th><td>(\d+)</td>', html))
    for country in analytics_data.RECIPIENTS:
        assert int(by_country.get(country, 0)) == mine.filter(country=country).count()
    account = stream.account
    truth = decisions_in_sql(account, period_of(html), stream_id=stream.pk)
    assert refusals_shown(html) == truth
    # The same period, more filters, in the overview; the same numbers as CSV.
    assert f'href="/?stream={stream.pk}&amp;period=30d"' in html
    assert f'href="/overview.csv?stream={stream.pk}&amp;period=30d"' in html


def test_a_streams_page_refuses_a_bad_period_and_a_draft_has_no_numbers(signed_in, account):
    stream, _ = factories.make_stream(account)
    response = signed_in.get(f"/streams/{stream.public_id}/?period=custom&first=2026-02-10")
    assert response.status_code == 400
    assert "A custom period needs a first and a last day." in response.content.decode()
    draft, _ = factories.make_stream(account, active=False)
    html = signed_in.get(f"/streams/{draft.public_id}/").content.decode()
    assert 'id="numbers"' not in html
