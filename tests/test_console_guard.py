"""Destinations, budgets and the guard's decisions in the console: the wizard proposes
countries instead of sending everywhere, owners and admins change destinations and
budgets (members get 403 and nothing changes), the stream page shows what the guard
did and why."""

from decimal import Decimal

import pytest

from otp.models import SendDecision
from streams.models import Budget, Stream
from tests.support import factories
from tests.support.otp_client import OtpClient
from tests.test_console import code_step, details, wizard_url

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def destinations_step(**overrides) -> dict:
    data = code_step(
        allowed_countries=["FR", "BE"],
        blocked_countries=["GB"],
        blocked_prefixes="+33 89, +3390\n",
        allowed_number_types=["pager"],
        **{
            "budget-daily_money": "12.50",
            "budget-monthly_messages": "5000",
        },
    )
    data.update(overrides)
    return data


def test_a_new_stream_is_proposed_countries_never_every_country_silently(signed_in, account):
    signed_in.post("/streams/new/otp/", details())
    stream = Stream.objects.get()
    page = signed_in.get(wizard_url(stream, 2)).content.decode()
    # The proposal (the platform's language: en-us) is chosen, "every country" is not.
    assert '<option value="US" selected>United States (US, +1)</option>' in page
    assert 'name="every_country"' in page and 'id="id_every_country" checked' not in page
    assert "France (FR, +33)" in page  # the picker offers names
    # Nothing chosen and "every country" not ticked: refused, nothing saved.
    response = signed_in.post(wizard_url(stream, 2), code_step(allowed_countries=[]))
    assert response.status_code == 400
    assert "tick “Send to every country”" in response.content.decode()
    stream.refresh_from_db()
    assert stream.wizard_step == 2
    # Every country, when the admin says so.
    signed_in.post(wizard_url(stream, 2), code_step(allowed_countries=[], every_country="on"))
    stream.refresh_from_db()
    assert stream.allowed_countries == [] and stream.wizard_step == 3
    assert 'id="id_every_country" checked' in signed_in.get(wizard_url(stream, 2)).content.decode()


def test_an_admin_sets_destinations_and_budgets_in_the_wizard(client, account):
    admin = factories.make_user(account=account, role="admin")
    client.force_login(admin)
    stream, _ = factories.make_stream(account)
    response = client.post(wizard_url(stream, 2), destinations_step())
    assert response.status_code == 302, response.content.decode()[:3000]
    stream.refresh_from_db()
    assert (
        stream.allowed_countries,
        stream.blocked_countries,
        stream.blocked_prefixes,
        stream.allowed_number_types,
    ) == (["FR", "BE"], ["GB"], ["+3389", "+3390"], ["pager"])
    limits = {(b.period, b.unit): b.limit for b in Budget.objects.filter(stream=stream)}
    assert limits == {("day", "money"): Decimal("12.50"), ("month", "messages"): 5000}
    page = client.get(f"/streams/{stream.public_id}/").content.decode()
    assert "France (FR), Belgium (BE)" in page and "<code>+3389</code>" in page
    assert "12.50 EUR" in page and "5000 messages" in page
    # Emptying a budget field removes that budget.
    client.post(wizard_url(stream, 2), destinations_step(**{"budget-daily_money": ""}))
    assert list(Budget.objects.filter(stream=stream).values_list("unit", flat=True)) == ["messages"]


def test_bad_prefixes_and_budgets_are_refused_next_to_the_field(signed_in, account):
    stream, _ = factories.make_stream(account)
    response = signed_in.post(
        wizard_url(stream, 2),
        destinations_step(blocked_prefixes="4490", **{"budget-daily_messages": "-1"}),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not a number prefix: 4490" in html
    assert "greater than or equal to 0" in html
    stream.refresh_from_db()
    assert stream.blocked_prefixes == [] and not Budget.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"allowed_countries": ["US", "CN"]},
        {"every_country": "on"},
        {"blocked_countries": ["GB", "FR"]},
        {"blocked_prefixes": ""},
        {"allowed_number_types": ["premium_rate"]},
        {"budget-daily_messages": "1000000"},
        {"budget-daily_money": ""},
    ],
)
def test_a_member_cannot_change_destinations_or_budgets(client, account, change):
    stream, _ = factories.make_stream(
        account,
        allowed_countries=["US"],
        blocked_countries=["GB"],
        blocked_prefixes=["+1900"],
    )
    Budget.objects.create(
        account=account, stream=stream, period="day", unit="money", limit=Decimal(5)
    )
    Budget.objects.create(
        account=account, stream=stream, period="day", unit="messages", limit=Decimal(100)
    )
    member = factories.make_user(account=account, role="developer")
    client.force_login(member)
    page = client.get(wizard_url(stream, 2)).content.decode()
    assert "Only owners and admins change where a stream sends" in page
    data = code_step(
        allowed_countries=["US"],
        blocked_countries=["GB"],
        blocked_prefixes="+1900",
        **{"budget-daily_money": "5", "budget-daily_messages": "100"},
    )
    data.update(change)
    assert client.post(wizard_url(stream, 2), data).status_code == 403
    stream.refresh_from_db()
    assert (stream.allowed_countries, stream.blocked_countries, stream.blocked_prefixes) == (
        ["US"],
        ["GB"],
        ["+1900"],
    )
    assert stream.allowed_number_types == [] and stream.code_length == 6
    assert sorted(Budget.objects.values_list("limit", flat=True)) == [5, 100]


def test_what_a_member_cannot_submit_stays_as_it_was(client, account):
    """A member's browser does not submit the disabled destination fields: the stream
    keeps them, whatever the rest of the step saves."""
    stream, _ = factories.make_stream(account, blocked_countries=["GB"])
    client.force_login(factories.make_user(account=account, role="developer"))
    # Issue 13 (roles): the code settings are security settings too, so a developer's
    # submission of this step is refused as a whole (403) and changes nothing.
    assert client.post(wizard_url(stream, 2), code_step(allowed_countries=[])).status_code == 403
    stream.refresh_from_db()
    assert stream.blocked_countries == ["GB"] and stream.allowed_countries == []


def test_account_budgets_page(client, account, owner):
    member = factories.make_user(account=account, role="developer")
    client.force_login(member)
    assert client.get("/budgets/").status_code == 200
    assert client.post("/budgets/", {"budget-daily_messages": "10"}).status_code == 403
    assert not Budget.objects.exists()
    client.force_login(owner)
    response = client.post("/budgets/", {"budget-daily_messages": "10"})
    assert response.status_code == 302
    budget = Budget.objects.get()
    assert (budget.stream, budget.period, budget.unit, budget.limit) == (
        None,
        "day",
        "messages",
        10,
    )
    assert client.post("/budgets/", {"budget-daily_messages": "ten"}).status_code == 400
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    OtpClient(token).send(recipient="+14155552671")
    page = client.get("/budgets/").content.decode()
    assert "10 messages: 1 used" in page and 'value="10"' in page


def test_the_stream_page_lists_the_guards_recent_decisions(signed_in, account):
    stream, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    OtpClient(token).send(recipient="+979123456789", channel="voice")
    assert SendDecision.objects.count() == 1
    page = signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    assert 'id="guard-decisions"' in page
    assert "+979123456789" in page and "<code>number_type</code>" in page
    assert "does not send to premium rate numbers" in page


def test_decisions_show_their_prefix_and_reason_on_the_stream_page_and_in_the_admin(
    signed_in, account, admin_client
):
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), blocked_prefixes=["+1415555"]
    )
    assert OtpClient(token).send(recipient="+14155552671").status_code == 403
    (decision,) = SendDecision.objects.all()
    assert (decision.rule, decision.prefix, decision.mode) == (
        "prefix_blocked",
        "+1415555",
        "enforce",
    )
    reason = "The stream blocks numbers starting with +1415555."
    page = signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    assert "<td>+1415555</td>" in page and "<code>prefix_blocked</code>" in page and reason in page
    listing = admin_client.get("/admin/otp/senddecision/").content.decode()
    assert "+14155552671" in listing and "prefix_blocked" in listing and reason in listing
    detail = admin_client.get(f"/admin/otp/senddecision/{decision.pk}/change/")
    assert detail.status_code == 200 and reason in detail.content.decode()


def test_the_summary_and_the_stream_page_show_destinations_and_budgets(signed_in, account):
    stream, _ = factories.make_stream(account, active=False, blocked_prefixes=["+1900"])
    Budget.objects.create(
        account=account, stream=stream, period="month", unit="messages", limit=Decimal(300)
    )
    for url in (wizard_url(stream, 4), f"/streams/{stream.public_id}/"):  # and the stream page
        page = signed_in.get(url).content.decode()
        assert "Every country" in page and "<code>+1900</code>" in page
        assert "300 messages: 0 used" in page
