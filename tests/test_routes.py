"""Routing rules, read for one message (gateways.routes): which rule wins, and the hop
order each mode makes. Fast, on any database; the same rules are exercised end to end
through a real worker in test_routes_worker.py."""

import uuid
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gateways import routes
from gateways.models import Gateway, OutboundMessage, Price, RouteDemotion, RouteHop, RouteRule
from gateways.services import deliver_batch, estimate_message, queue_message
from streams.phones import region_of
from tests.support import factories

GB_MOBILE = "+447712345678"
GB_LANDLINE = "+442071838750"
US = "+14155552671"


@pytest.fixture
def gw(db):
    """Gateways by name, made on first use (console kind: SMS and voice, no network)."""
    made = {}

    def get(name: str, **fields) -> Gateway:
        if name not in made:
            made[name] = Gateway.objects.create(name=name, kind="console", **fields)
        return made[name]

    return get


def names(plan: routes.Plan) -> list[str]:
    return [gateway.name for gateway in plan.gateways]


def route(account, stream=None, recipient=GB_MOBILE, channel="sms", message_id=None):
    return routes.plan(
        account_id=account.pk,
        stream_id=stream.pk if stream else None,
        channel=channel,
        recipient=recipient,
        country=region_of(recipient),
        message_id=message_id,
    )


# --- Which rule wins -----------------------------------------------------------------


def test_no_rule_means_the_default_gateway(account, gw, settings):
    settings.OTP_DEFAULT_GATEWAY = "console"
    plan = route(account)
    assert (plan.level, names(plan)) == ("default", ["console"])


def test_stream_rule_beats_account_rule_beats_platform_rule(account, gw):
    stream, _ = factories.make_stream(account)
    other_stream, _ = factories.make_stream(account)
    factories.make_route(None, gw("platform"))
    assert names(route(account, stream)) == ["platform"]
    factories.make_route(account, gw("account-a"), gw("account-b"))
    assert route(account, stream).level == "account"
    assert names(route(account, stream)) == ["account-a", "account-b"]
    factories.make_route(account, gw("stream"), stream=stream)
    assert (route(account, stream).level, names(route(account, stream))) == ("stream", ["stream"])
    # The other stream, and another account, are not touched by it.
    assert names(route(account, other_stream)) == ["account-a", "account-b"]
    assert names(route(factories.make_account())) == ["platform"]


def test_a_more_specific_rule_wins_within_a_level(account, gw):
    factories.make_route(account, gw("any"))
    factories.make_route(account, gw("gb"), country="GB")
    factories.make_route(account, gw("gb-mobile"), prefix="+447")
    factories.make_route(account, gw("gb-77"), prefix="+4477")
    assert names(route(account, recipient=US)) == ["any"]
    assert names(route(account, recipient=GB_LANDLINE)) == ["gb"]
    assert names(route(account, recipient="+447400123456")) == ["gb-mobile"]
    plan = route(account, recipient=GB_MOBILE)
    assert names(plan) == ["gb-77"]
    assert "+4477" in plan.why


def test_priority_breaks_ties_between_equally_specific_rules(account, gw):
    factories.make_route(account, gw("second"), country="GB", priority=20)
    factories.make_route(account, gw("first"), country="GB", priority=10)
    assert names(route(account)) == ["first"]


def test_a_channel_rule_beats_an_any_channel_rule_and_voice_skips_sms_only_hops(account, gw):
    factories.make_route(account, gw("sms-only", supports_voice=False))
    factories.make_route(account, gw("voice", supports_voice=True), channel="voice")
    assert names(route(account)) == ["sms-only"]
    assert names(route(account, channel="voice")) == ["voice"]
    RouteRule.objects.filter(channel="voice").delete()
    # The matching rule has no hop that can call: the next level decides (here: default).
    plan = route(account, channel="voice")
    assert plan.level == "default" and [r.name for r in plan.skipped] == [""]


def test_a_disabled_gateway_is_no_hop(account, gw):
    factories.make_route(account, gw("off"), gw("on"))
    Gateway.objects.filter(name="off").update(enabled=False)
    routes.forget_all()  # an update() bypasses save(): the product never does it
    assert names(route(account)) == ["on"]


def test_an_edit_is_seen_by_the_next_message(account, gw):
    rule = factories.make_route(account, gw("a"), gw("b"))
    assert names(route(account)) == ["a", "b"]
    hop = rule.hops.get(gateway__name="a")
    hop.position = 5
    hop.save()
    assert names(route(account)) == ["b", "a"]


# --- Weighted -------------------------------------------------------------------------


def test_a_70_30_split_lands_within_two_percent_over_10000_messages(account, gw):
    factories.make_route(account, gw("seventy"), gw("thirty"), mode="weighted", weights=[70, 30])
    # A fixed sequence of message ids: the pick is a hash of the id, so the split is the
    # same on every run (6,960 / 3,040); the worker's test sends random ids.
    ids = [uuid.uuid5(uuid.NAMESPACE_OID, str(n)) for n in range(10_000)]
    firsts = Counter(names(route(account, message_id=message_id))[0] for message_id in ids)
    assert abs(firsts["seventy"] / 10_000 - 0.70) <= 0.02
    assert abs(firsts["thirty"] / 10_000 - 0.30) <= 0.02
    assert firsts == {"seventy": 6960, "thirty": 3040}


def test_a_message_always_picks_the_same_first_hop_and_keeps_failover_order_after(account, gw):
    factories.make_route(account, gw("a"), gw("b"), gw("c"), mode="weighted", weights=[1, 1, 1])
    orders = {tuple(names(route(account, message_id=uuid.uuid4()))) for _ in range(300)}
    assert orders == {("a", "b", "c"), ("b", "a", "c"), ("c", "a", "b")}
    message_id = uuid.uuid4()
    assert len({tuple(names(route(account, message_id=message_id))) for _ in range(5)}) == 1


def test_a_zero_weight_hop_is_never_first_but_still_a_fallback(account, gw):
    factories.make_route(account, gw("main"), gw("spare"), mode="weighted", weights=[1, 0])
    orders = {tuple(names(route(account, message_id=uuid.uuid4()))) for _ in range(200)}
    assert orders == {("main", "spare")}


# --- Least cost ----------------------------------------------------------------------


def test_least_cost_orders_by_the_price_table_unpriced_last(account, gw):
    dear, cheap, unpriced = gw("dear"), gw("cheap"), gw("unpriced")
    factories.make_route(account, unpriced, dear, cheap, mode="least_cost")
    Price.objects.create(country="GB", channel="sms", gateway=dear, amount=Decimal("0.09"))
    Price.objects.create(country="GB", channel="sms", gateway=cheap, amount=Decimal("0.03"))
    plan = route(account)
    assert names(plan) == ["cheap", "dear", "unpriced"]
    assert [hop.unit_price for hop in plan.hops] == [Decimal("0.03"), Decimal("0.09"), None]
    # The price for any gateway prices the gateways without their own.
    Price.objects.create(country="GB", channel="sms", gateway=None, amount=Decimal("0.05"))
    assert names(route(account)) == ["cheap", "unpriced", "dear"]
    # Another country has its own prices.
    Price.objects.create(country="US", channel="sms", gateway=dear, amount=Decimal("0.01"))
    assert names(route(account, recipient=US))[0] == "dear"


def test_the_estimate_prices_the_first_priced_hop_of_the_route(account, gw):
    stream, _ = factories.make_stream(account)
    dear, cheap = gw("dear"), gw("cheap")
    factories.make_route(account, dear, cheap, mode="least_cost")
    Price.objects.create(country="GB", channel="sms", gateway=dear, amount=Decimal("0.09"))
    Price.objects.create(country="GB", channel="sms", gateway=cheap, amount=Decimal("0.03"))
    estimate = estimate_message(
        account_id=account.pk, stream_id=stream.pk, channel="sms", recipient=GB_MOBILE, text="Hi"
    )
    assert estimate.cost() == Decimal("0.03")
    factories.make_route(account, dear, stream=stream)
    estimate = estimate_message(
        account_id=account.pk, stream_id=stream.pk, channel="sms", recipient=GB_MOBILE, text="Hi"
    )
    assert estimate.cost() == Decimal("0.09")


# --- Learning demotions --------------------------------------------------------------


def test_a_demoted_gateway_goes_last_except_for_the_probe_share(account, gw):
    rule = factories.make_route(account, gw("a"), gw("b"), learn=True, learn_probe_percent=20)
    RouteDemotion.objects.create(rule=rule, gateway=gw("a"), country="GB")
    orders = Counter(tuple(names(route(account, message_id=uuid.uuid4()))) for _ in range(2000))
    assert set(orders) == {("b", "a"), ("a", "b")}
    assert abs(orders[("a", "b")] / 2000 - 0.20) <= 0.04
    # Only for that country; and the tester (no message) shows the demotion.
    assert names(route(account, recipient=US, message_id=uuid.uuid4())) == ["a", "b"]
    plan = route(account)
    assert names(plan) == ["b", "a"] and plan.hops[1].demoted


def test_a_rule_that_does_not_learn_ignores_demotions(account, gw):
    rule = factories.make_route(account, gw("a"), gw("b"))
    RouteDemotion.objects.create(rule=rule, gateway=gw("a"), country="GB")
    assert names(route(account, message_id=uuid.uuid4())) == ["a", "b"]


# --- Messages carry what routing reads ---------------------------------------------


def test_a_queued_message_keeps_its_stream_and_country_and_is_routed_by_them(account, gw):
    stream, _ = factories.make_stream(account)
    factories.make_route(account, gw("gb"), stream=stream, country="GB")
    message = queue_message(
        account_id=account.pk,
        stream_id=stream.pk,
        channel="sms",
        recipient=GB_MOBILE,
        sender="Acme",
        text="Your code is 123456",
    )
    deliver_batch(channel="sms")
    message.refresh_from_db()
    assert (message.stream_id, message.country) == (stream.pk, "GB")
    assert message.gateway.name == "gb" and message.status == "sent"


# --- Rules refuse what cannot route --------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"country": "XX"}, "country"),
        ({"prefix": "447"}, "prefix"),
        ({"prefix": "+0447"}, "prefix"),
        ({"learn_threshold": Decimal("1.5")}, "learn_threshold"),
        ({"learn_probe_percent": 90}, "learn_probe_percent"),
    ],
)
def test_a_bad_rule_is_refused_with_its_field(account, fields, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        RouteRule(account=account, **fields).full_clean()
    assert field in refused.value.message_dict


def test_a_stream_rule_of_another_accounts_stream_is_refused(account):
    from django.core.exceptions import ValidationError

    stream, _ = factories.make_stream(factories.make_account())
    with pytest.raises(ValidationError) as refused:
        RouteRule(account=account, stream=stream).full_clean()
    assert "stream" in refused.value.message_dict


# --- The migration from the account's route ----------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_accounts_route_becomes_its_failover_rule_with_the_same_hops():
    executor = MigrationExecutor(connection)
    old = [("gateways", "0011_h18s_smpp")]
    executor.migrate(old)
    apps = executor.loader.project_state(old).apps
    Account = apps.get_model("streams", "Account")
    OldGateway = apps.get_model("gateways", "Gateway")
    Route = apps.get_model("gateways", "Route")
    acme = Account.objects.create(name="Acme", slug="acme")
    other = Account.objects.create(name="Other", slug="other")
    Account.objects.create(name="None", slug="none")
    first, second = (
        OldGateway.objects.create(name=name, kind="console") for name in ("first", "second")
    )
    Route.objects.create(account=acme, gateway=second, position=1)
    Route.objects.create(account=acme, gateway=first, position=0)
    Route.objects.create(account=other, gateway=second, position=0)
    queued = apps.get_model("gateways", "OutboundMessage").objects.create(
        account=acme, recipient=GB_MOBILE, text="x"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    routes.forget_all()
    rules = RouteRule.objects.order_by("account__slug")
    assert [(r.account.slug, r.mode, r.channel, r.country, r.prefix) for r in rules] == [
        ("acme", "failover", "", "", ""),
        ("other", "failover", "", "", ""),
    ]
    assert [h.gateway.name for h in RouteHop.objects.filter(rule__account__slug="acme")] == [
        "first",
        "second",
    ]
    # Routed as before, and the message waiting to be sent knows its country.
    assert OutboundMessage.objects.get(id=queued.id).country == "GB"
    acme_id = rules[0].account_id
    plan = routes.plan(
        account_id=acme_id, stream_id=None, channel="sms", recipient=GB_MOBILE, country="GB"
    )
    assert names(plan) == ["first", "second"]


def test_the_editors_price_per_country_follows_the_streams_rules(account, gw):
    from gateways.selectors import sms_unit_prices

    stream, _ = factories.make_stream(account)
    account_gw, stream_gw, uk_gw = gw("account-gw"), gw("stream-gw"), gw("uk-gw")
    factories.make_route(account, account_gw)
    factories.make_route(account, stream_gw, stream=stream)
    factories.make_route(account, uk_gw, stream=stream, country="GB")
    for gateway, amount in ((account_gw, "0.01"), (stream_gw, "0.02"), (uk_gw, "0.03")):
        for country in ("GB", "FR"):
            Price.objects.create(
                country=country, channel="sms", gateway=gateway, amount=Decimal(amount)
            )
    Price.objects.create(country="US", channel="sms", amount=Decimal("0.09"))  # any gateway
    assert sms_unit_prices(account) == {
        "GB": Decimal("0.01"),
        "FR": Decimal("0.01"),
        "US": Decimal("0.09"),
    }
    assert sms_unit_prices(account, ["GB", "FR", "DE"], stream=stream) == {
        "GB": Decimal("0.03"),
        "FR": Decimal("0.02"),
    }
