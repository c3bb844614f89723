"""Prices and budgets through the API: every message carries its estimated cost; a send
that would go beyond a budget of its stream or account is refused with
``budget_exhausted``, changes nothing and is kept as a decision; the account's owners
and admins hear of it at 80 % and 100 %, once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from gateways.models import Gateway, OutboundMessage, Price
from otp import budgets, housekeeping
from otp.models import BudgetCounter, SendDecision, Verification
from streams import services as stream_services
from streams import webhooks
from streams.models import Budget, WebhookEvent
from tests.support import factories
from tests.support.errors import error_code
from tests.support.otp_client import OtpClient

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"
UK_MOBILE = "+447400123456"
DAY, MONTH = Budget.Period.DAY, Budget.Period.MONTH
MONEY, MESSAGES = Budget.Unit.MONEY, Budget.Unit.MESSAGES
# 2 SMS segments (GSM-7: 161 to 306 characters).
TWO_SEGMENTS = "Your code is {{code}}. " + "x" * 150


def make_api(account, *, text="Your code is {{code}}", **settings):
    sender = factories.make_sender(account, f"Acme{account.streams.count()}")
    stream, token = factories.make_stream(
        account, default_sender=sender, templates={"login": text}, **settings
    )
    return OtpClient(token), stream


def set_budgets(account, stream=None, **limits):
    keys = {
        "daily_messages": (DAY, MESSAGES),
        "monthly_messages": (MONTH, MESSAGES),
        "daily_money": (DAY, MONEY),
        "monthly_money": (MONTH, MONEY),
    }
    stream_services.save_budgets(
        account=account,
        stream=stream,
        limits={keys[name]: Decimal(str(value)) for name, value in limits.items()},
    )


def set_price(country, amount, channel="sms", gateway=None):
    Price.objects.create(country=country, channel=channel, gateway=gateway, amount=Decimal(amount))


def test_a_message_budget_counts_segments_and_refuses_the_send_that_would_pass_it(account):
    api, stream = make_api(account, text=TWO_SEGMENTS)
    set_budgets(account, stream, daily_messages=5)
    assert api.send(recipient=PHONE).status_code == 201
    assert api.send(recipient=PHONE).status_code == 201
    refused = api.send(recipient=PHONE)  # 4 used, this one needs 2
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["code"], error["rule"]) == ("budget_exhausted", "budget")
    assert error["budget"] == {"scope": "stream", "period": "day", "unit": "messages"}
    assert "4 used, this send needs 2" in error["message"]
    # Until the next day (UTC) starts.
    assert 0 < int(refused["Retry-After"]) == error["retry_after"] <= 86400
    # Nothing changed: two messages, two verifications, the counter at 4.
    assert OutboundMessage.objects.count() == 2 and Verification.objects.count() == 2
    assert BudgetCounter.objects.get().spent == 4
    decision = SendDecision.objects.get()
    assert (decision.rule, decision.code, decision.measured, decision.threshold) == (
        "budget",
        "budget_exhausted",
        6.0,
        5.0,
    )
    # A voice call counts one message.
    assert api.send(recipient=PHONE, channel="voice").status_code == 201
    assert BudgetCounter.objects.get().spent == 5


def test_every_message_carries_its_estimated_cost(account):
    api, _ = make_api(account, text=TWO_SEGMENTS)
    set_price("US", "0.0075")
    set_price("US", "0.0200", channel="voice")
    api.send(recipient=PHONE)
    api.send(recipient=PHONE, channel="voice")
    api.send(recipient=UK_MOBILE)  # no price for GB
    costs = {(m.channel, m.recipient): m.estimated_cost for m in OutboundMessage.objects.all()}
    assert costs == {
        ("sms", PHONE): Decimal("0.015"),  # two segments
        ("voice", PHONE): Decimal("0.02"),
        ("sms", UK_MOBILE): None,
    }


def test_the_price_of_the_accounts_routed_gateway_comes_before_the_default(account):
    api, _ = make_api(account)
    gateway = Gateway.objects.create(name="cheap", kind="console")
    factories.add_route_hop(account, gateway)
    set_price("US", "0.0100")
    set_price("US", "0.0040", gateway=gateway)
    set_price("US", "0.0001", gateway=Gateway.objects.create(name="other", kind="console"))
    api.send(recipient=PHONE)
    assert OutboundMessage.objects.get().estimated_cost == Decimal("0.004")


def test_a_money_budget_refuses_the_send_that_would_pass_it(account):
    api, stream = make_api(account)
    set_price("US", "0.05")
    set_budgets(account, stream, monthly_money="0.12")
    assert [api.send(recipient=PHONE).status_code for _ in range(3)] == [201, 201, 429]
    error = api.send(recipient=PHONE).json()["error"]
    assert error["budget"] == {"scope": "stream", "period": "month", "unit": "money"}
    assert "0.10 EUR used" in error["message"]
    assert OutboundMessage.objects.count() == 2


def test_a_money_budget_refuses_a_destination_without_a_price(account):
    api, stream = make_api(account)
    set_price("US", "0.05")
    set_budgets(account, stream, daily_money=10)
    assert api.send(recipient=PHONE).status_code == 201
    refused = api.send(recipient=UK_MOBILE)
    assert error_code(refused) == "budget_exhausted"
    assert "no price for this destination" in refused.json()["error"]["message"]
    assert OutboundMessage.objects.count() == 1


def test_the_accounts_budget_holds_across_its_streams(account):
    first, _ = make_api(account)
    second, _ = make_api(account)
    set_budgets(account, daily_messages=3)
    statuses = [api.send(recipient=PHONE).status_code for api in (first, second, first, second)]
    assert statuses == [201, 201, 201, 429]
    refused = second.send(recipient=PHONE).json()["error"]
    assert refused["budget"]["scope"] == "account"
    # Another account is not affected.
    other, _ = make_api(factories.make_account())
    assert other.send(recipient=PHONE).status_code == 201


def test_a_budget_of_zero_stops_every_send_and_removing_it_lets_them_through(account):
    api, stream = make_api(account)
    assert api.send(recipient=PHONE).status_code == 201  # the stream is cached: no budget
    set_budgets(account, stream, daily_messages=0)  # applies to the next send at once
    assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"
    stream_services.save_budgets(account=account, stream=stream, limits={(DAY, MESSAGES): None})
    assert api.send(recipient=PHONE).status_code == 201
    # An account budget reaches the cached stream too; it counts from its creation.
    set_budgets(account, monthly_messages=1)
    assert api.send(recipient=PHONE).status_code == 201
    assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"


def test_owners_and_admins_are_alerted_at_80_and_100_percent_once(account):
    owner = factories.make_user(account=account, role="owner", email="owner@example.com")
    factories.make_user(account=account, role="admin", email="admin@example.com")
    factories.make_user(account=account, role="developer", email="member@example.com")
    alerts = []

    def receive(sender, budget, percent, spent, period_start, **kwargs):
        alerts.append((budget.unit, percent, spent))

    budgets.budget_alert.connect(receive)
    try:
        api, stream = make_api(account)
        set_budgets(account, stream, daily_messages=5)
        for _ in range(3):
            api.send(recipient=PHONE)
        assert alerts == [] and mail.outbox == []
        api.send(recipient=PHONE)  # 4 of 5: 80 %
        assert alerts == [("messages", 80, Decimal(4))]
        api.send(recipient=PHONE)  # 5 of 5: 100 %
        assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"
        assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"
    finally:
        budgets.budget_alert.disconnect(receive)
    assert alerts == [("messages", 80, Decimal(4)), ("messages", 100, Decimal(5))]
    assert len(mail.outbox) == 2
    assert sorted(mail.outbox[0].to) == ["admin@example.com", owner.email]
    assert "80 %" in mail.outbox[0].subject and "100 %" in mail.outbox[1].subject
    assert "5 messages" in mail.outbox[1].body


def test_a_refusal_before_the_limit_is_reached_alerts_at_100_percent(account):
    factories.make_user(account=account, role="owner")
    api, stream = make_api(account, text=TWO_SEGMENTS)
    set_budgets(account, stream, daily_messages=3)
    assert api.send(recipient=PHONE).status_code == 201  # 2 of 3: 66 %
    assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"
    assert error_code(api.send(recipient=PHONE)) == "budget_exhausted"
    assert [m.subject.split(": ")[1] for m in mail.outbox] == ["100 % of a budget reached"]


def test_prices_are_imported_from_csv_all_or_nothing(db, tmp_path):
    Gateway.objects.create(name="twilio-eu", kind="console")
    good = tmp_path / "prices.csv"
    good.write_text(
        "country,channel,gateway,amount\nGB,sms,,0.04\nGB,sms,twilio-eu,0.035\nUS,voice,,0.02\n"
    )
    call_command("import_prices", str(good))
    assert Price.objects.count() == 3
    good.write_text("country,channel,gateway,amount\nGB,sms,,0.05\n")
    call_command("import_prices", str(good))
    assert Price.objects.get(country="GB", gateway=None).amount == Decimal("0.05")
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "country,channel,gateway,amount\nFR,sms,,0.07\nXX,sms,,0.1\nDE,fax,,1\nIT,sms,nope,1\n"
        "ES,sms,,cheap\nPT,sms,,0.1,USD\n"
    )
    with pytest.raises(CommandError) as refused:
        call_command("import_prices", str(bad))
    for line in ("Line 3", "Line 4", "Line 5", "Line 6"):
        assert line in str(refused.value)
    assert not Price.objects.filter(country="FR").exists()
    assert Price.objects.count() == 3


def test_operators_import_prices_in_the_admin(admin_client):
    page = admin_client.get("/admin/gateways/price/")
    assert "/admin/gateways/price/import/" in page.content.decode()
    upload = SimpleUploadedFile("prices.csv", b"country,channel,gateway,amount\nGB,sms,,0.04\n")
    response = admin_client.post("/admin/gateways/price/import/", {"csv_file": upload})
    assert response.status_code == 302
    assert Price.objects.get().amount == Decimal("0.04")
    bad = SimpleUploadedFile("prices.csv", b"country,channel,gateway,amount\nGB,sms,,free\n")
    response = admin_client.post("/admin/gateways/price/import/", {"csv_file": bad})
    assert response.status_code == 200 and "Line 2" in response.content.decode()
    assert Price.objects.get().amount == Decimal("0.04")


def test_operators_edit_prices_in_the_admin_and_the_next_message_costs_the_new_price(
    admin_client, account
):
    price = {"country": "US", "channel": "sms", "gateway": "", "amount": "0.0075"}
    added = admin_client.post("/admin/gateways/price/add/", {**price, "currency": "EUR"})
    assert added.status_code == 302, added.content
    stored = Price.objects.get()
    changed = admin_client.post(
        f"/admin/gateways/price/{stored.pk}/change/", {**price, "amount": "0.01", "currency": "EUR"}
    )
    assert changed.status_code == 302
    # A second any-gateway price for the same country and channel, a negative amount:
    # refused on the form, nothing changed.
    for bad in ({"amount": "0.02"}, {"country": "GB", "amount": "-1"}):
        refused = admin_client.post(
            "/admin/gateways/price/add/", {**price, **bad, "currency": "EUR"}
        )
        assert refused.status_code == 200 and "errornote" in refused.content.decode()
    assert list(Price.objects.values_list("country", "amount")) == [("US", Decimal("0.01"))]
    api, _ = make_api(account)
    api.send(recipient=PHONE)
    assert OutboundMessage.objects.get().estimated_cost == Decimal("0.01")


def test_old_decisions_and_budget_counters_are_pruned(account):
    api, stream = make_api(account)
    set_budgets(account, stream, daily_messages=1)
    api.send(recipient=PHONE)
    api.send(recipient=PHONE)  # refused: a decision
    SendDecision.objects.update(created_at=timezone.now() - timedelta(days=91))
    old = BudgetCounter.objects.get()
    BudgetCounter.objects.create(budget=old.budget, period_start=date(2020, 1, 1), ceiling=1)
    housekeeping.prune_verifications()
    assert not SendDecision.objects.exists()
    assert list(BudgetCounter.objects.all()) == [old]


def test_a_budget_alert_is_an_event_for_the_webhooks_of_the_streams_it_covers(account, monkeypatch):
    # The outbox rows are what a receiver would get; nothing needs delivering here.
    monkeypatch.setattr(webhooks, "publish", lambda *args, **kwargs: False)
    api, stream = make_api(account)
    other_api, other = make_api(account)
    for each in (stream, other):
        stream_services.save_webhook_endpoint(stream=each, url="https://hooks.example.com/otp")
    alerts = WebhookEvent.objects.filter(type=WebhookEvent.Type.BUDGET_ALERT)

    set_budgets(account, stream, daily_messages=5)
    for _ in range(4):  # 4 of 5: 80 %
        assert api.send(recipient=PHONE).status_code == 201
    (event,) = alerts
    assert event.stream == stream
    assert event.data | {"budget": None, "period_start": None} == {
        "budget": None,
        "stream": str(stream.public_id),
        "period": "day",
        "unit": "messages",
        "percent": 80,
        "spent": "4",
        "period_start": None,
        "limit": "5 messages",
    }

    # An account's budget is news for every stream of the account.
    set_budgets(account, monthly_messages=2)
    assert other_api.send(recipient=PHONE).status_code == 201  # 1 of 2
    assert other_api.send(recipient=PHONE).status_code == 201  # 2 of 2: 100 %
    account_alerts = alerts.filter(data__stream=None)
    assert sorted(e.stream_id for e in account_alerts) == sorted([stream.pk, other.pk])
    assert {e.data["percent"] for e in account_alerts} == {100}
