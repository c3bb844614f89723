"""The console's route page: the account's rules (owners and admins change them), the
"which gateway would this number use?" tester, and the learning rules' decisions."""

from decimal import Decimal

import pytest
from django.test import Client

from gateways.models import Gateway, Price, RouteDecision, RouteDemotion, RouteRule
from tests.support import factories

GB_MOBILE = "+447712345678"


@pytest.fixture
def team(db):
    account = factories.make_account(name="Team")
    owner = factories.make_user(account=account, role="owner")
    developer = factories.make_user(account=account, role="developer")
    offered = [Gateway.objects.create(name=name, kind="console") for name in ("alpha", "beta")]
    factories.make_route(None, *offered, name="Platform default")
    private = Gateway.objects.create(name="someone-elses", kind="console")
    return account, owner, developer, offered, private


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rule_form(**fields) -> dict:
    form = {
        "name": "UK mobiles",
        "channel": "sms",
        "country": "GB",
        "prefix": "+447",
        "priority": "100",
        "mode": "weighted",
        "learn_threshold": "0.5",
        "learn_min_sample": "50",
        "learn_probe_percent": "10",
    }
    form.update(fields)
    return form


def test_an_owner_adds_edits_and_deletes_a_rule(team):
    account, owner, _developer, (alpha, beta), _private = team
    client = signed_in(owner)
    form = rule_form(
        hop_0_gateway=str(beta.pk),
        hop_0_weight="70",
        hop_1_gateway=str(alpha.pk),
        hop_1_weight="30",
    )
    assert client.post("/routes/new/", form).status_code == 302
    rule = RouteRule.objects.get(account=account)
    assert (rule.country, rule.prefix, rule.mode) == ("GB", "+447", "weighted")
    assert [(h.gateway.name, h.weight) for h in rule.hops.all()] == [("beta", 70), ("alpha", 30)]
    page = client.get("/routes/").content.decode()
    assert "UK mobiles" in page and "SMS to GB, +447…" in page and "(weight 70)" in page

    form = rule_form(mode="failover", hop_0_gateway=str(alpha.pk))
    assert client.post(f"/routes/{rule.pk}/", form).status_code == 302
    assert [h.gateway.name for h in rule.hops.all()] == ["alpha"]

    assert client.post(f"/routes/{rule.pk}/delete/").status_code == 302
    assert not RouteRule.objects.filter(account=account).exists()


def test_a_stream_rule_names_its_stream(team):
    account, owner, *_rest, (alpha, _beta), _private = team
    stream, _ = factories.make_stream(account, name="Checkout")
    form = rule_form(stream=str(stream.pk), hop_0_gateway=str(alpha.pk))
    assert signed_in(owner).post("/routes/new/", form).status_code == 302
    assert RouteRule.objects.get(account=account).stream == stream
    assert "stream Checkout" in signed_in(owner).get("/routes/").content.decode()


@pytest.mark.parametrize(
    "fields, error",
    [
        ({"prefix": "447"}, "international form"),
        ({"country": "XX"}, "Select a valid choice"),
        ({}, "at least one gateway"),
        ({"hop_0_gateway": "same", "hop_1_gateway": "same"}, "once"),
        ({"hop_0_gateway": "private"}, "Select a valid choice"),
        ({"hop_0_gateway": "alpha", "hop_0_weight": "-1"}, "greater than or equal to 0"),
        ({"hop_0_gateway": "alpha", "learn_threshold": "2"}, "less than or equal to 1"),
    ],
)
def test_a_bad_rule_is_refused_with_its_reason_and_saves_nothing(team, fields, error):
    account, owner, _developer, (alpha, _beta), private = team
    ids = {"alpha": str(alpha.pk), "same": str(alpha.pk), "private": str(private.pk)}
    form = rule_form(
        **{k: ids.get(v, v) if k.endswith("gateway") else v for k, v in fields.items()}
    )
    response = signed_in(owner).post("/routes/new/", form)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert not RouteRule.objects.filter(account=account).exists()


def test_a_developer_reads_the_rules_but_cannot_change_them(team):
    account, _owner, developer, (alpha, _beta), _private = team
    rule = factories.make_route(account, alpha, name="Theirs")
    client = signed_in(developer)
    page = client.get("/routes/").content.decode()
    assert "Theirs" in page and 'id="add-rule"' not in page and "Delete" not in page
    form_page = client.get(f"/routes/{rule.pk}/").content.decode()
    assert 'id="route-read-only"' in form_page and "disabled" in form_page
    assert client.post("/routes/new/", rule_form(hop_0_gateway=str(alpha.pk))).status_code == 403
    assert client.post(f"/routes/{rule.pk}/delete/").status_code == 403
    assert RouteRule.objects.filter(account=account).count() == 1


def test_the_tester_shows_the_rule_the_hop_order_and_why(team):
    account, owner, _developer, (alpha, beta), _private = team
    stream, _ = factories.make_stream(account, name="Login")
    factories.make_route(account, alpha, beta, name="UK", country="GB")
    cheap = factories.make_route(
        account, alpha, beta, name="Login cheap", stream=stream, mode="least_cost", learn=True
    )
    Price.objects.create(country="GB", channel="sms", gateway=alpha, amount=Decimal("0.05"))
    Price.objects.create(country="GB", channel="sms", gateway=beta, amount=Decimal("0.02"))
    client = signed_in(owner)

    answer = client.get("/routes/", {"channel": "sms", "number": GB_MOBILE}).content.decode()
    assert "UK (account rule)" in answer
    assert answer.index("<td>alpha</td>") < answer.index("<td>beta</td>")

    query = {"stream": stream.pk, "channel": "sms", "number": GB_MOBILE}
    answer = client.get("/routes/", query).content.decode()
    assert "Login cheap (stream rule)" in answer
    assert answer.index("<td>beta</td>") < answer.index("<td>alpha</td>")  # cheaper first
    assert "0.02000 EUR per SMS segment" in answer

    # A demotion by learning puts the cheap gateway last, and says why.
    RouteDemotion.objects.create(rule=cheap, gateway=beta, country="GB")
    RouteDecision.objects.create(
        rule=cheap,
        gateway=beta,
        country="GB",
        action="demote",
        sample=60,
        delivery_rate=0.4,
        conversion_rate=0.1,
        best_gateway=alpha,
        best_sample=80,
        best_conversion_rate=0.8,
        threshold=Decimal("0.50"),
        reason="conversion 10.0% against 0.50 of the best other hop's 80.0%: below",
    )
    answer = client.get("/routes/", query).content.decode()
    assert answer.index("<td>alpha</td>") < answer.index("<td>beta</td>")
    assert "demoted for GB by learning: tried last: conversion 10.0%" in answer
    # The decision is on the page too.
    decisions = answer[answer.index('id="route-decisions"') :]
    assert "Demoted beta" in decisions and "alpha: 80 % of 80" in decisions


def test_the_tester_refuses_a_number_it_cannot_read(team):
    _account, owner, *_rest = team
    response = signed_in(owner).get("/routes/", {"channel": "sms", "number": "+44 12"})
    assert response.status_code == 400
    assert "Not a valid phone number" in response.content.decode()


def test_the_tester_without_account_rules_names_the_platform_rule_or_the_default(team):
    _account, owner, *_rest = team
    client = signed_in(owner)
    answer = client.get("/routes/", {"channel": "sms", "number": GB_MOBILE}).content.decode()
    assert "Platform default (platform rule)" in answer
    # Its gateways cannot call: a voice message goes to the default gateway, and why.
    answer = client.get("/routes/", {"channel": "voice", "number": GB_MOBILE}).content.decode()
    assert "none: the default gateway" in answer
    assert "“Platform default” matches too but has no enabled gateway for this channel" in answer


# --- The admin: platform rules with their hops, decisions read-only ---------------------


@pytest.fixture
def operator(db):
    client = Client()
    client.force_login(factories.make_user(is_staff=True, is_superuser=True))
    return client


def test_an_operator_writes_a_platform_rule_with_its_hops_in_the_admin(operator, team):
    _account, *_rest, (alpha, beta), _private = team
    assert operator.get("/admin/gateways/routerule/add/").status_code == 200
    data = {
        "name": "EU least cost",
        "channel": "sms",
        "country": "",
        "prefix": "+33",
        "priority": "10",
        "mode": "least_cost",
        "learn_threshold": "0.5",
        "learn_min_sample": "50",
        "learn_probe_percent": "10",
        "hops-TOTAL_FORMS": "2",
        "hops-INITIAL_FORMS": "0",
        "hops-0-position": "0",
        "hops-0-gateway": str(beta.pk),
        "hops-0-weight": "1",
        "hops-1-position": "1",
        "hops-1-gateway": str(alpha.pk),
        "hops-1-weight": "1",
        "decisions-TOTAL_FORMS": "0",
        "decisions-INITIAL_FORMS": "0",
    }
    response = operator.post("/admin/gateways/routerule/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    rule = RouteRule.objects.get(name="EU least cost")
    assert rule.account is None and rule.level == "platform"
    assert [h.gateway.name for h in rule.hops.all()] == ["beta", "alpha"]
    # A bad prefix is refused with its field.
    refused = operator.post("/admin/gateways/routerule/add/", {**data, "prefix": "33"})
    assert refused.status_code == 200 and "international form" in refused.content.decode()


def test_the_admin_shows_decisions_and_lets_nobody_write_them(operator, team):
    account, *_rest, (alpha, beta), _private = team
    rule = factories.make_route(account, alpha, beta, learn=True)
    decision = RouteDecision.objects.create(
        rule=rule,
        gateway=beta,
        country="GB",
        action="demote",
        sample=60,
        delivery_rate=0.5,
        conversion_rate=0.1,
        best_gateway=alpha,
        best_sample=70,
        best_conversion_rate=0.7,
        threshold=Decimal("0.50"),
        reason="below",
    )
    page = operator.get(f"/admin/gateways/routerule/{rule.pk}/change/").content.decode()
    assert "Demoted" in page and "below" in page
    assert operator.get("/admin/gateways/routedecision/").status_code == 200
    assert operator.get("/admin/gateways/routedecision/add/").status_code == 403
    change = operator.post(f"/admin/gateways/routedecision/{decision.pk}/change/", {"reason": "x"})
    assert change.status_code == 403
    decision.refresh_from_db()
    assert decision.reason == "below"


def test_the_route_services_refuse_a_member_below_admin(team):
    from gateways import rules
    from streams.models import Membership
    from streams.services import NotAllowed

    account, _owner, developer, (alpha, _beta), _private = team
    member = Membership.objects.get(user=developer)
    with pytest.raises(NotAllowed):
        rules.save_route_rule(
            account=account, fields={"name": "x"}, hops=[rules.Hop(alpha)], by=member
        )
    rule = factories.make_route(account, alpha)
    with pytest.raises(NotAllowed):
        rules.delete_route_rule(rule=rule, by=member)
    assert RouteRule.objects.filter(account=account).count() == 1
