"""Writing an account's routing rules: the console's service (operators edit every rule
in the admin). Their reads and the route tester are in ``gateways.selectors``."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from streams.models import Account, Membership
from streams.services import NotAllowed

from .models import Gateway, RouteHop, RouteRule
from .selectors import offered_gateways

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
