"""Reads other apps make of gateways' models: the messages of verifications, the
console's outbox, the prices its message editor estimates with, and the routing rules
with the route tester's answer."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from streams import phones
from streams.models import Account, Stream

from . import learning, prices, routes
from .adapters import REGISTRY
from .learning import Score
from .models import Gateway, OutboundMessage, Price, RouteDecision, RouteHop, RouteRule
from .sms import SMART_REPLACEMENTS, SmsParts, smart_encode, sms_parts

# The encrypted fields, left unread where only a message's status is wanted.
SEALED = ("text", "masked_text")


def messages_for_verification(verification_id: UUID) -> QuerySet[OutboundMessage]:
    """The messages that carried a verification's code, newest first; their texts are
    not read (only the worker and the outbox decrypt them)."""
    messages = OutboundMessage.objects.filter(verification_id=verification_id)
    return messages.defer(*SEALED).order_by("-created_at")


def messages_of_verifications(verification_ids: Iterable[UUID]) -> QuerySet[OutboundMessage]:
    """The messages of several verifications with their gateways, oldest first."""
    return (
        OutboundMessage.objects.filter(verification_id__in=list(verification_ids))
        .select_related("gateway")
        .order_by("created_at", "id")
    )


def verifications_with_delivered_message(verification_ids: Iterable[UUID]) -> set[UUID]:
    """Those of these verifications with a message a delivery report says delivered."""
    delivered = OutboundMessage.objects.filter(
        verification_id__in=list(verification_ids), status=OutboundMessage.Status.DELIVERED
    )
    return set(delivered.values_list("verification_id", flat=True))


def latest_message_by_verification(
    verification_ids: Iterable[UUID],
) -> dict[UUID, OutboundMessage]:
    """Each verification's newest message, keyed by the verification's id; a
    verification without a message is left out."""
    latest: dict[UUID, OutboundMessage] = {}
    messages = OutboundMessage.objects.filter(verification_id__in=list(verification_ids))
    for message in messages.defer(*SEALED).order_by("created_at"):
        latest[message.verification_id] = message
    return latest


def outbox_messages(account: Account) -> QuerySet[OutboundMessage]:
    """What the development console gateway "sent" for ``account``, newest first."""
    return OutboundMessage.objects.filter(
        account=account, gateway__kind=Gateway.Kind.CONSOLE
    ).order_by("-created_at")


def verifications_with_messages_changed_since(since: datetime) -> QuerySet:
    """The ``verification_id`` of every message changed at or after ``since`` (status,
    gateway, delivery report): a subquery for the analytics' rollups."""
    return OutboundMessage.objects.filter(
        updated_at__gte=since, verification_id__isnull=False
    ).values("verification_id")


def latest_message_value(field: str, verification_ref: str = "id") -> Subquery:
    """``field`` of the newest message of the verification whose id is the outer
    query's ``verification_ref``: one value per verification for an annotation."""
    newest = OutboundMessage.objects.filter(verification_id=OuterRef(verification_ref))
    return Subquery(newest.order_by("-created_at").values(field)[:1])


def gateway_names(ids) -> dict[int, str]:
    return dict(Gateway.objects.filter(id__in=list(ids)).values_list("id", "name"))


def voice_language_refusal(
    *, account_id: int, stream_id: int | None, recipient: str, language: str
) -> str | None:
    """Why no gateway of the voice route to ``recipient`` can call in ``language``, or
    ``None`` when one can. Without a voice rule the default gateway carries the call,
    and it takes any language (the console outbox)."""
    route = routes.plan(
        account_id=account_id,
        stream_id=stream_id,
        channel=OutboundMessage.Channel.VOICE,
        recipient=recipient,
        country=phones.region_of(recipient),
    )
    if route.rule is None:
        return None
    kinds = {gateway.kind for gateway in route.gateways}
    if any(REGISTRY[kind].speaks(language) is not None for kind in kinds):
        return None
    return (
        f"No voice gateway of the account speaks {language!r}: "
        + "; ".join(
            f"{kind} speaks {', '.join(sorted(REGISTRY[kind].voice_languages or ()))}"
            for kind in sorted(kinds)
        )
        + "."
    )


# --- Routing rules -----------------------------------------------------------------


def offered_gateways(account: Account):
    """The gateways an account may route through: the enabled ones of the platform's
    rules and of its own (an operator offers a gateway to every account by putting it
    in a platform rule, or to one account by routing it there in the admin)."""
    hops = RouteHop.objects.filter(gateway=OuterRef("pk")).filter(
        Q(rule__account=account) | Q(rule__account__isnull=True)
    )
    return Gateway.objects.filter(Exists(hops), enabled=True)


def rules_of(account: Account) -> QuerySet[RouteRule]:
    """The account's own rules (its streams' and its own; not the platform's)."""
    return RouteRule.objects.filter(account=account)


def account_rules(account: Account) -> list[RouteRule]:
    """The account's rules, stream rules first, each level most specific first, with
    their hops and gateways."""
    rules = rules_of(account).select_related("stream").prefetch_related("hops__gateway")
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


def sms_unit_prices(
    account: Account, countries: Iterable[str] | None = None, *, stream: Stream | None = None
) -> dict[str, Decimal]:
    """What one SMS segment to each country (of ``countries``; None: every priced one)
    costs a message of ``stream``, as a send is estimated: the price through the first
    gateway of its route that has one, else the price for any gateway; countries
    without a price are left out. The route is the rules' for the country: rules by
    number prefix are left out (the editor knows no number). One query for the prices;
    the routes come from the per-process cache."""
    channel = OutboundMessage.Channel.SMS
    table = Price.objects.filter(channel=channel)
    if countries is not None:
        table = table.filter(country__in=list(countries))
    by_country: dict[str, dict[int | None, Decimal]] = {}
    for country, gateway_id, amount in table.values_list("country", "gateway_id", "amount"):
        by_country.setdefault(country, {})[gateway_id] = amount
    chosen = {}
    for country, amounts in by_country.items():
        route = routes.plan(
            account_id=account.pk,
            stream_id=stream.pk if stream else None,
            channel=channel,
            recipient="",
            country=country,
        )
        through = (amounts[g.pk] for g in route.gateways if g.pk in amounts)
        price = next(through, amounts.get(None))
        if price is not None:
            chosen[country] = price
    return chosen


@dataclass(frozen=True)
class SmsMeasure:
    text: str  # as sent: smart-encoded when asked
    parts: SmsParts
    original_parts: SmsParts  # the text as written
    replaced: int  # characters smart encoding replaced


def measure_sms(text: str, *, smart_encoding: bool) -> SmsMeasure:
    """How ``text`` would travel, for the console's counters and previews: the send
    path's smart encoding and segment counting (gateways.sms)."""
    sent = smart_encode(text) if smart_encoding else text
    return SmsMeasure(
        text=sent,
        parts=sms_parts(sent),
        original_parts=sms_parts(text),
        replaced=sum(1 for ch in text if ch in SMART_REPLACEMENTS) if smart_encoding else 0,
    )
