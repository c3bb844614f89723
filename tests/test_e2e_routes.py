"""The route page in a real browser: an owner writes a rule, the tester answers which
gateway a number would use, and a learning demotion shows with its reason."""

from decimal import Decimal

import pytest

from gateways.models import Gateway, Price, RouteDecision, RouteDemotion, RouteRule
from tests.support import factories
from tests.support.browser import shot  # the browser fixture "page" is in conftest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_owner_writes_a_rule_and_the_tester_answers_with_it(page, live_server):
    from playwright.sync_api import expect

    account = factories.make_account(name="Routes Co")
    owner = factories.make_user(account=account, role="owner")
    alpha, beta = (Gateway.objects.create(name=n, kind="console") for n in ("alpha", "beta"))
    factories.make_route(None, alpha, beta, name="Platform default")
    Price.objects.create(country="GB", channel="sms", gateway=alpha, amount=Decimal("0.05"))
    Price.objects.create(country="GB", channel="sms", gateway=beta, amount=Decimal("0.02"))
    page.goto(live_server.url + "/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")

    page.goto(live_server.url + "/routes/")
    page.click("#add-rule")
    page.fill("#id_name", "UK cheapest")
    page.select_option("#id_country", "GB")
    page.select_option("#id_mode", "least_cost")
    page.check("#id_learn")
    page.select_option("#id_hop_0_gateway", label="alpha")
    page.select_option("#id_hop_1_gateway", label="beta")
    shot(page, "routes-1-rule-form")
    page.click("button[type=submit].btn-primary")
    expect(page.locator("#account-rules")).to_contain_text("UK cheapest")
    rule = RouteRule.objects.get(account=account)

    page.select_option("#id_channel", "sms")
    page.fill("#id_number", "+447712345678")
    page.click("#route-tester button[type=submit]")
    expect(page.locator("#route-rule")).to_contain_text("UK cheapest (account rule)")
    expect(page.locator("#route-hops tbody tr").first).to_contain_text("beta")
    expect(page.locator("#route-price")).to_contain_text("0.02000 EUR per SMS segment")

    RouteDemotion.objects.create(rule=rule, gateway=beta, country="GB")
    RouteDecision.objects.create(
        rule=rule,
        gateway=beta,
        country="GB",
        action="demote",
        sample=60,
        delivery_rate=0.3,
        conversion_rate=0.1,
        best_gateway=alpha,
        best_sample=80,
        best_conversion_rate=0.8,
        threshold=Decimal("0.50"),
        reason="conversion 10.0% against 0.50 of the best other hop's 80.0%: below",
    )
    page.reload()
    expect(page.locator("#route-hops tbody tr").first).to_contain_text("alpha")
    expect(page.locator("#route-hops tr.demoted")).to_contain_text("demoted for GB by learning")
    expect(page.locator("#route-decisions")).to_contain_text("Demoted beta")
    shot(page, "routes-2-tester-and-decisions")
    assert not page.errors, page.errors
