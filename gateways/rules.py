"""Writing an account's routing rules (the console's; operators edit every rule in the
admin), and the route tester's answer: which gateway a number would use, and why."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from streams import phones
from streams.models import Account, Membership, Stream
from streams.services import NotAllowed

from . import learning, prices, routes
from .learning import Score
from .models import Gateway, RouteDecision, RouteHop, RouteRule

# The fields of a rule an account's owners and admins set.
RULE_FIELDS = (
    "name",
    "stream",
    "channel",
    "country",
    "prefix",
    "priority",
    "mode",
    "learn",
    "learn_threshold",
    "learn_min_sample",
    "learn_probe_percent",
)


@dataclass(frozen=True)
class Hop:
    gateway: Gateway
    weight: int = 1


def _require_manager(by: Membership | None) -> None:
    """``by``: the member changing routes from the console (``None``: the platform)."""
    if by is not None and not by.can_manage:
        raise NotAllowed("Only owners and admins can change routes.")


def save_route_rule(
    *,
    account: Account,
    rule: RouteRule | None = None,
    fields: dict,
    hops: list[Hop],
    by: Membership | None = None,
) -> RouteRule:
    """Create or change one of ``account``'s rules with its hops in order (replacing
    the ones it had). Raises ``ValidationError`` for a rule that cannot route: no hop, a
    gateway twice, a gateway not offered to the account, another account's stream."""
    _require_manager(by)
    rule = rule or RouteRule(account=account)
    if rule.account_id != account.pk:
        raise ValidationError("This rule belongs to another account.")
    for name in RULE_FIELDS:
        if name in fields:
            setattr(rule, name, fields[name])
    offered = set(offered_gateways(account).values_list("pk", flat=True))
    if not hops:
        raise ValidationError({"hops": "A rule needs at least one gateway."})
    if len({hop.gateway.pk for hop in hops}) < len(hops):
        raise ValidationError({"hops": "Each gateway can be a hop of a rule once."})
    if any(hop.gateway.pk not in offered for hop in hops):
        raise ValidationError({"hops": "Only the gateways offered to the account can be hops."})
    rule.full_clean()
    with transaction.atomic():
        rule.save()
        rule.hops.all().delete()
        for position, hop in enumerate(hops):
            RouteHop.objects.create(
                rule=rule, gateway=hop.gateway, position=position, weight=hop.weight
            )
    return rule


def delete_route_rule(*, rule: RouteRule, by: Membership | None = None) -> None:
    _require_manager(by)
    rule.delete()


# --- Reads ------------------------------------------------------------------------------


def offered_gateways(account: Account):
    """The gateways an account may route through: the enabled ones of the platform's
    rules and of its own (an operator offers a gateway to every account by putting it
    in a platform rule, or to one account by routing it there in the admin)."""
    hops = RouteHop.objects.filter(gateway=OuterRef("pk")).filter(
        Q(rule__account=account) | Q(rule__account__isnull=True)
    )
    return Gateway.objects.filter(Exists(hops), enabled=True)


def account_rules(account: Account) -> list[RouteRule]:
    """The account's rules, stream rules first, each level most specific first, with
    their hops and gateways (``hop_list``)."""
    rules = list(
        RouteRule.objects.filter(account=account)
        .select_related("stream")
        .prefetch_related("hops__gateway")
    )
    return sorted(rules, key=lambda rule: (rule.stream_id is None, *rule.specificity()))


def platform_rules() -> list[RouteRule]:
    rules = RouteRule.objects.filter(account__isnull=True).prefetch_related("hops__gateway")
    return sorted(rules, key=RouteRule.specificity)


def decisions_of(account: Account, *, limit: int = 50) -> list[RouteDecision]:
    """The newest decisions of the account's learning rules."""
    return list(
        RouteDecision.objects.filter(rule__account=account)
        .select_related("rule", "gateway", "best_gateway")
        .order_by("-created_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class ExplainedHop:
    hop: routes.PlannedHop
    figures: Score  # the gateway's window for the country
    decision: RouteDecision | None  # the demotion, when it is demoted


@dataclass(frozen=True)
class RouteExplanation:
    number: str
    country: str
    channel: str
    plan: routes.Plan
    hops: list[ExplainedHop]
    unit_cost: Decimal | None  # what a budget counts per SMS segment or voice call


def explain_route(
    *, account: Account, stream: Stream | None, channel: str, number: str
) -> RouteExplanation:
    """What a message of ``stream`` (or of none) on ``channel`` to ``number`` would
    walk, for the console's tester. Raises ``phones.PhoneNumberError``."""
    parsed = phones.parse_phone(number)
    plan = routes.plan(
        account_id=account.pk,
        stream_id=stream.pk if stream else None,
        channel=channel,
        recipient=parsed.e164,
        country=parsed.region,
    )
    figures = learning.scores()
    demotions = {}
    if plan.rule is not None and plan.rule.learn:
        for decision in RouteDecision.objects.filter(
            rule=plan.rule, country=parsed.region, action=RouteDecision.Action.DEMOTE
        ).order_by("created_at"):
            demotions[decision.gateway_id] = decision
    hops = [
        ExplainedHop(
            hop,
            figures.get((hop.gateway.pk, parsed.region), learning.NO_SENDS),
            demotions.get(hop.gateway.pk) if hop.demoted else None,
        )
        for hop in plan.hops
    ]
    unit_cost = prices.price_queryset(
        gateway_ids=tuple(g.pk for g in plan.gateways), channel=channel, country=parsed.region
    ).first()
    return RouteExplanation(parsed.e164, parsed.region, channel, plan, hops, unit_cost)
