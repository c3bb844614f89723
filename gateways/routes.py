"""Which gateways carry a message, in what order: the routing rules (``RouteRule``)
read for one message's stream, channel, country and number.

The rules of the message's stream come first, then its account's, then the
platform's, then the default gateway. Within a level, the most specific matching rule
that has an enabled hop for the channel wins (see ``RouteRule.specificity``). Its mode
orders the hops: failover keeps them in order; weighted picks the first by weight, by a
hash of the message's id (the same message always picks the same hop, and the split is
as even as the ids are random), and keeps the others in failover order; least cost
orders them by the price table, unpriced gateways last. A learning rule then moves the
gateways it demoted for the country to the end, except for a probing share of messages
(``gateways.learning``).

The rules, their hops, the demotions, the prices least cost reads and the default
gateway are cached in every worker process: every message of an account reads the same
rows, and reading them was almost half of a delivery's CPU.

Invalidation: any save or delete of a gateway, rule, hop, demotion or price bumps a
version in the shared cache; a process reads that version (one cache round trip) before
it trusts its copy, so an edit is seen by the next message everywhere. Writes must go
through ``save()``/``delete()`` (all of the product's do). A cache that is down makes
every read go to the database.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from streams import ratelimit

from .models import Gateway, Price, RouteDemotion, RouteHop, RouteRule

log = logging.getLogger(__name__)

VERSION_KEY = "gateway-routes-version"
Mode = RouteRule.Mode

_lock = threading.Lock()
_cached: dict[tuple, object] = {}
_cached_version: object = None


# --- The plan of one message ---------------------------------------------------------


@dataclass(frozen=True)
class PlannedHop:
    gateway: Gateway
    # Why it stands where it does, in words for the console's tester.
    note: str = ""
    demoted: bool = False
    # One SMS segment or one voice call through it (the price table), if known.
    unit_price: Decimal | None = None
    weight: int | None = None  # weighted rules: its share of first picks


@dataclass(frozen=True)
class Plan:
    """The hops a message walks, primary first, and the rule that chose them."""

    level: str  # stream, account, platform or default
    rule: RouteRule | None
    hops: list[PlannedHop]
    why: str
    probing: bool = False  # a learning rule tried its demoted gateways as configured
    skipped: list[RouteRule] = field(default_factory=list)  # matched, no usable hop

    @property
    def gateways(self) -> list[Gateway]:
        return [hop.gateway for hop in self.hops]


def plan(
    *,
    account_id: int,
    stream_id: int | None,
    channel: str,
    recipient: str,
    country: str,
    message_id: uuid.UUID | None = None,
) -> Plan:
    """The route of a message of ``channel`` to ``recipient`` (E.164; its region is
    ``country``). ``message_id`` makes the weighted pick and the learning probe of one
    message; without it (the tester, the cost estimate) a weighted rule keeps its hops
    in failover order and no probe is made."""
    version = _version()  # one cache round trip for every read below
    skipped = []
    for level, rules in _levels(account_id, stream_id, version):
        matching = [
            rule
            for rule in rules
            if rule.matches(channel=channel, country=country, recipient=recipient)
        ]
        for rule in sorted(matching, key=RouteRule.specificity):
            hops = [hop for hop in rule.hop_list if hop.gateway.carries(channel)]
            if not hops:
                skipped.append(rule)
                continue
            return _ordered(rule, level, hops, channel, country, message_id, skipped, version)
    gateway = _cached_read(("default",), _read_default_gateway, version)
    why = "No rule matches: the platform's default gateway (OTP_DEFAULT_GATEWAY)."
    return Plan("default", None, [PlannedHop(gateway, "default gateway")], why, skipped=skipped)


def plan_for(message) -> Plan:
    """:func:`plan` of an ``OutboundMessage``."""
    return plan(
        account_id=message.account_id,
        stream_id=message.stream_id,
        channel=message.channel,
        recipient=message.recipient,
        country=message.country,
        message_id=message.id,
    )


def share(message_id: uuid.UUID, purpose: bytes) -> float:
    """A number in [0, 1) fixed by the message's id: its weighted pick and its learning
    probe read independent ones (``purpose``)."""
    digest = hashlib.blake2b(message_id.bytes + purpose, digest_size=8).digest()
    return int.from_bytes(digest) / 2**64


def _ordered(
    rule: RouteRule,
    level: str,
    hops: list[RouteHop],
    channel: str,
    country: str,
    message_id: uuid.UUID | None,
    skipped: list[RouteRule],
    version: object,
) -> Plan:
    demoted_ids = _demoted(rule.pk, country, version) if rule.learn else set()
    probing = bool(
        demoted_ids
        and message_id is not None
        and share(message_id, b"probe") * 100 < rule.learn_probe_percent
    )
    sick = set() if probing else demoted_ids
    healthy = [hop for hop in hops if hop.gateway_id not in sick]
    demoted = [hop for hop in hops if hop.gateway_id in sick]
    # Prices order a least-cost rule and inform the tester; a delivery needs none else.
    wants_prices = rule.mode == Mode.LEAST_COST or message_id is None
    prices = _unit_prices(channel, country, version) if wants_prices else {}

    def price(hop: RouteHop) -> Decimal | None:
        return prices.get(hop.gateway_id, prices.get(None))

    if rule.mode == Mode.WEIGHTED:
        healthy = _weighted_first(healthy, message_id)
    elif rule.mode == Mode.LEAST_COST:
        healthy.sort(key=lambda hop: (price(hop) is None, price(hop) or 0))  # stable

    def planned(hop: RouteHop, index: int, is_demoted: bool) -> PlannedHop:
        if is_demoted:
            note = f"demoted for {country} by learning: tried last"
        elif rule.mode == Mode.WEIGHTED and index == 0 and message_id is not None:
            note = f"picked by weight ({hop.weight} of {_total_weight(healthy)})"
        elif rule.mode == Mode.WEIGHTED and message_id is None:
            note = f"weight {hop.weight} of {_total_weight(healthy)}"
        elif rule.mode == Mode.LEAST_COST:
            note = "no price known: after the priced ones" if price(hop) is None else "by price"
        else:
            note = "failover order"
        weight = hop.weight if rule.mode == Mode.WEIGHTED else None
        return PlannedHop(hop.gateway, note, is_demoted, price(hop), weight)

    planned_hops = [planned(hop, i, False) for i, hop in enumerate(healthy)]
    planned_hops += [planned(hop, len(healthy) + i, True) for i, hop in enumerate(demoted)]
    why = f"The {level} rule “{rule}” matches ({rule.matches_text}). {rule.get_mode_display()}."
    if probing:
        why += " This message probes the demoted gateways (the rule's probe share)."
    return Plan(level, rule, planned_hops, why, probing=probing, skipped=skipped)


def _total_weight(hops: list[RouteHop]) -> int:
    return sum(hop.weight for hop in hops)


def _weighted_first(hops: list[RouteHop], message_id: uuid.UUID | None) -> list[RouteHop]:
    """The hop the message's id picks by weight first, the others in failover order."""
    total = _total_weight(hops)
    if message_id is None or not total:
        return hops
    point = share(message_id, b"weight") * total
    for index, hop in enumerate(hops):
        point -= hop.weight
        if point < 0:
            return [hop, *hops[:index], *hops[index + 1 :]]
    return hops


# --- The cached reads ------------------------------------------------------------------


def _levels(
    account_id: int, stream_id: int | None, version: object
) -> list[tuple[str, list[RouteRule]]]:
    rules = _cached_read(("rules", account_id), lambda: _read_rules(account_id), version)
    return [
        ("stream", [r for r in rules if stream_id and r.stream_id == stream_id]),
        ("account", [r for r in rules if r.account_id and not r.stream_id]),
        ("platform", [r for r in rules if not r.account_id]),
    ]


def _read_rules(account_id: int) -> list[RouteRule]:
    """The account's rules and the platform's, each with its enabled hops in order
    (``hop_list``), in one query: a rule without an enabled hop never routes."""
    hops = (
        RouteHop.objects.filter(
            Q(rule__account_id=account_id) | Q(rule__account__isnull=True), gateway__enabled=True
        )
        .select_related("rule", "gateway")
        .order_by("rule_id", "position", "id")
    )
    rules: dict[int, RouteRule] = {}
    for hop in hops:
        rule = rules.setdefault(hop.rule_id, hop.rule)
        rule.__dict__.setdefault("hop_list", []).append(hop)
        hop.rule = rule
    return list(rules.values())


def _demoted(rule_id: int, country: str, version: object) -> set[int]:
    demotions = _cached_read(("demotions",), _read_demotions, version)
    return demotions.get((rule_id, country), set())


def _read_demotions() -> dict[tuple[int, str], set[int]]:
    found: dict[tuple[int, str], set[int]] = defaultdict(set)
    for rule_id, country, gateway_id in RouteDemotion.objects.values_list(
        "rule_id", "country", "gateway_id"
    ):
        found[(rule_id, country)].add(gateway_id)
    return dict(found)


def _unit_prices(channel: str, country: str, version: object) -> dict[int | None, Decimal]:
    """The price of one unit to ``country`` by gateway id (``None``: any gateway)."""
    return _cached_read(
        ("prices", channel, country),
        lambda: dict(
            Price.objects.filter(channel=channel, country=country).values_list(
                "gateway_id", "amount"
            )
        ),
        version,
    )


def _read_default_gateway() -> Gateway:
    """The gateway of messages no rule routes (``OTP_DEFAULT_GATEWAY``: a gateway name,
    or a kind — console or noop — created on first use)."""
    name = settings.OTP_DEFAULT_GATEWAY
    gateway = Gateway.objects.filter(name=name).first()
    if gateway is None:
        kind = name if name in (Gateway.Kind.CONSOLE, Gateway.Kind.NOOP) else Gateway.Kind.CONSOLE
        gateway, _ = Gateway.objects.get_or_create(
            name=name, defaults={"kind": kind, "supports_voice": True}
        )
    return gateway


def _cached_read(key: tuple, read: Callable, version: object):
    """``read()`` as cached under ``version`` (see :func:`_version`)."""
    global _cached_version
    with _lock:
        if version is None or version != _cached_version:
            _cached.clear()
            _cached_version = version
        found = _cached.get(key)
    if found is not None and version is not None:
        return found
    found = read()
    with _lock:
        if _cached_version == version:
            _cached[key] = found
    return found


def _version() -> object:
    """The shared version of every route, with the default gateway's name (a setting a
    test may change); ``None`` when the cache is down (then nothing is cached)."""
    found = ratelimit.hit_and_read([], read=VERSION_KEY)
    if found.cache_down:
        return None
    version = found.value
    if version is None:  # evicted or never set: a version no process has seen
        cache.add(VERSION_KEY, uuid.uuid4().hex, None)
        version = cache.get(VERSION_KEY)
    return (version, settings.OTP_DEFAULT_GATEWAY)


def forget_all(**kwargs) -> None:
    """Every process drops its routes at its next read."""
    try:
        cache.set(VERSION_KEY, uuid.uuid4().hex, None)  # never a value seen before
    except Exception as exc:
        if not ratelimit.cache_is_down(exc):
            raise
        log.warning("routes not invalidated: cache down (%s)", exc)
    with _lock:
        _cached.clear()


def connect() -> None:
    for model in (Gateway, RouteRule, RouteHop, RouteDemotion, Price):
        for signal in (post_save, post_delete):
            signal.connect(
                forget_all, sender=model, dispatch_uid=f"routes-{model.__name__}-{signal}"
            )
