"""Routes that learn (gateways/learning.py): a gateway whose codes stop converting for
a country loses that country's traffic, and wins it back once it converts again; every
change is a decision with its figures. Scripted recipients answer the fake providers'
messages (tests/support/recipients.py); the same story runs through a real worker in
test_routes_worker.py."""

from decimal import Decimal

import pytest
from django.utils import timezone

from gateways import learning
from gateways.learning import Score
from gateways.models import OutboundMessage, RouteDecision, RouteDemotion, RouteRule
from tests.support import factories
from tests.support.otp_client import OtpClient
from tests.support.providers import FakeProvider
from tests.support.recipients import Recipients

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def providers():
    started = []

    def start():
        fake = FakeProvider("webhook")
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


@pytest.fixture(autouse=True)
def learning_settings(settings):
    settings.PUBLIC_BASE_URL = "http://testserver"
    settings.GATEWAY_LEARNING_SETTLE_SECONDS = 0
    settings.GATEWAY_LEARNING_WINDOW_MESSAGES = 20


def webhook_gateway(fake: FakeProvider, name: str):
    from gateways.models import Gateway

    return Gateway.objects.create(
        name=name,
        kind="webhook",
        settings={"url": fake.url + "/send"},
        credentials={"signing_secret": fake.secret},
    )


def gb_numbers():
    for n in range(100000):
        yield f"+447712{n:06d}"


def through(gateway, messages) -> int:
    return sum(1 for m in messages if m.gateway_id == gateway.pk)


def test_a_gateway_that_stops_converting_loses_the_country_and_wins_it_back(account, providers):
    good_fake, flaky_fake = providers(), providers()
    good, flaky = webhook_gateway(good_fake, "good"), webhook_gateway(flaky_fake, "flaky")
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    factories.make_route(
        account,
        good,
        flaky,
        mode="weighted",
        weights=[1, 1],
        learn=True,
        learn_min_sample=20,
        learn_probe_percent=20,
    )
    api = OtpClient(token)
    people = Recipients(api)
    numbers = gb_numbers()

    def send(count: int, *, flaky_delivers: bool) -> list[OutboundMessage]:
        since = OutboundMessage.objects.count()
        for _ in range(count):
            assert api.send(recipient=next(numbers)).status_code == 201
        people.answer(good_fake, good, delivered=True)
        people.answer(flaky_fake, flaky, delivered=flaky_delivers)
        return list(OutboundMessage.objects.order_by("created_at")[since:])

    # Both convert: nothing to decide.
    before = send(60, flaky_delivers=True)
    assert through(flaky, before) >= 20
    assert learning.learn_routes() == []

    # Flaky's messages stop arriving: once its window is all undelivered, it is demoted.
    send(60, flaky_delivers=False)
    [decision] = learning.learn_routes()
    assert (decision.action, decision.gateway, decision.country) == ("demote", flaky, "GB")
    assert (decision.sample, decision.conversion_rate, decision.delivery_rate) == (20, 0.0, 0.0)
    assert (decision.best_gateway, decision.best_conversion_rate) == (good, 1.0)
    assert decision.threshold == Decimal("0.50")

    # New traffic moves away: a probe (20 %) ignores the demotion and picks by weight,
    # so flaky is first for 10 % of the messages, down from half.
    after = send(100, flaky_delivers=False)
    assert through(flaky, after) < 25 < through(good, after)
    assert learning.learn_routes() == []  # still failing: no new decision

    # Flaky recovers: its probes convert, and once they fill its window it is promoted.
    recovering_since = OutboundMessage.objects.filter(gateway=flaky).count()
    for _ in range(30):
        send(20, flaky_delivers=True)
        if OutboundMessage.objects.filter(gateway=flaky).count() - recovering_since >= 20:
            break
    [promotion] = learning.learn_routes()
    assert (promotion.action, promotion.gateway, promotion.conversion_rate) == (
        "promote",
        flaky,
        1.0,
    )
    assert not RouteDemotion.objects.exists()

    # And its traffic comes back.
    back = send(100, flaky_delivers=True)
    assert through(flaky, back) > 30
    assert list(RouteDecision.objects.values_list("action", flat=True)) == ["promote", "demote"]


def test_only_a_learning_rule_and_only_the_rules_country_are_judged(account, providers):
    a, b = webhook_gateway(providers(), "a"), webhook_gateway(providers(), "b")
    factories.make_route(account, a, b, learn=True, learn_min_sample=1, country="US")
    factories.make_route(account, a, b, prefix="+44")
    for gateway, approved in ((a, True), (b, False)):
        OutboundMessage.objects.create(
            account=account,
            recipient="+447712345678",
            country="GB",
            text="x",
            gateway=gateway,
            status="delivered",
            sent_at=timezone.now(),
            approved_at=timezone.now() if approved else None,
        )
    assert learning.scores()[(b.pk, "GB")] == Score(1, 1, 0)
    assert learning.learn_routes() == []


@pytest.mark.parametrize(
    "mine, others, demote, says",
    [
        (Score(5, 5, 0), [Score(50, 50, 50)], False, "5 of 20 messages needed"),
        (Score(50, 50, 0), [Score(5, 5, 5)], False, "no other hop has enough"),
        (Score(50, 50, 10), [Score(50, 50, 40)], True, "below"),
        (Score(50, 50, 20), [Score(50, 50, 40)], False, "not below"),
        (Score(50, 50, 40), [Score(50, 50, 10)], False, "not below"),
        (Score(50, 50, 0), [Score(50, 50, 0)], False, "not below"),
    ],
)
def test_the_verdict_compares_with_the_best_other_hop_with_enough_messages(
    mine, others, demote, says
):
    rule = RouteRule(learn=True, learn_min_sample=20, learn_threshold=Decimal("0.5"))
    table = {(1, "GB"): mine} | {(i + 2, "GB"): s for i, s in enumerate(others)}
    verdict = learning.judge(rule, 1, [1, *range(2, len(others) + 2)], "GB", table)
    assert verdict.demote is demote
    assert says in verdict.reason
