"""Routes that learn from what gets codes through.

Per gateway and country the product measures, over a sliding window (each pair's last
``GATEWAY_LEARNING_WINDOW_MESSAGES`` sends within ``GATEWAY_LEARNING_WINDOW_HOURS``),
its delivery rate (delivered ÷ sent) and its conversion (approved ÷ sent: a message
whose code was then approved). Sends younger than ``GATEWAY_LEARNING_SETTLE_SECONDS``
are left out: their recipients are still typing. The figures come from the messages
themselves (``status``, ``approved_at``, stamped by the approving check's own
statement), in one query per run.

A learning rule demotes a gateway for a country when its conversion falls below the
rule's threshold times the best other hop's, both with at least the rule's minimum
sample; it promotes it back when it no longer does (or no longer can be judged).
:func:`learn_routes` runs on the beat; each change is one statement on the demotion
row (insert or delete), so two runs never record one change twice, and every change is
a :class:`RouteDecision` with the figures it was made on. A demoted gateway is tried
last (``gateways.routes``) except by the rule's probe share of messages, which keeps
its figures current so that its recovery is seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import OutboundMessage, RouteDecision, RouteDemotion, RouteRule

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Score:
    """One gateway's sends to one country over the window."""

    sent: int = 0
    delivered: int = 0
    approved: int = 0

    @property
    def delivery_rate(self) -> float:
        return self.delivered / self.sent if self.sent else 0.0

    @property
    def conversion_rate(self) -> float:
        return self.approved / self.sent if self.sent else 0.0


NO_SENDS = Score()


def scores(*, now: datetime | None = None) -> dict[tuple[int, str], Score]:
    """Every (gateway id, country) with sends in the window, and its figures."""
    now = now or timezone.now()
    newest = now - timedelta(seconds=settings.GATEWAY_LEARNING_SETTLE_SECONDS)
    oldest = now - timedelta(hours=settings.GATEWAY_LEARNING_WINDOW_HOURS)
    table = connection.ops.quote_name(OutboundMessage._meta.db_table)
    statement = f"""
        SELECT gateway_id, country, COUNT(*),
            SUM(CASE WHEN status = %s THEN 1 ELSE 0 END),
            SUM(CASE WHEN approved_at IS NOT NULL THEN 1 ELSE 0 END)
        FROM (
            SELECT gateway_id, country, status, approved_at, ROW_NUMBER() OVER (
                PARTITION BY gateway_id, country ORDER BY sent_at DESC
            ) AS recency
            FROM {table}
            WHERE gateway_id IS NOT NULL AND sent_at >= %s AND sent_at <= %s
                AND country <> ''
        ) AS recent
        WHERE recency <= %s
        GROUP BY gateway_id, country
    """  # noqa: S608 - the only interpolation is our table name
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        OutboundMessage.Status.DELIVERED,
        adapt(oldest),
        adapt(newest),
        settings.GATEWAY_LEARNING_WINDOW_MESSAGES,
    ]
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {
            (gateway_id, country): Score(sent, delivered or 0, approved or 0)
            for gateway_id, country, sent, delivered, approved in cursor.fetchall()
        }


@dataclass(frozen=True)
class Verdict:
    """Whether a rule should demote one of its gateways for one country, and why."""

    demote: bool
    score: Score
    best_gateway_id: int | None
    best: Score | None
    reason: str


def judge(
    rule: RouteRule, gateway_id: int, gateway_ids: list[int], country: str, table: dict
) -> Verdict:
    """The rule's verdict on ``gateway_id`` for ``country`` among its hops
    ``gateway_ids``, from the window's figures ``table`` (see :func:`scores`)."""
    minimum = rule.learn_min_sample
    score = table.get((gateway_id, country), NO_SENDS)
    others = [
        (table[(other, country)], other)
        for other in gateway_ids
        if other != gateway_id and table.get((other, country), NO_SENDS).sent >= minimum
    ]
    best, best_id = max(others, key=lambda pair: pair[0].conversion_rate, default=(None, None))
    if score.sent < minimum:
        reason = f"{score.sent} of {minimum} messages needed to judge"
        return Verdict(False, score, best_id, best, reason)
    if best is None:
        return Verdict(False, score, None, None, "no other hop has enough messages to compare")
    bar = float(rule.learn_threshold) * best.conversion_rate
    figures = (
        f"conversion {score.conversion_rate:.1%} against {rule.learn_threshold} of the "
        f"best other hop's {best.conversion_rate:.1%}"
    )
    if score.conversion_rate < bar:
        return Verdict(True, score, best_id, best, f"{figures}: below")
    return Verdict(False, score, best_id, best, f"{figures}: not below")


def learn_routes(*, now: datetime | None = None) -> list[RouteDecision]:
    """Judge every learning rule's gateways for every country they sent to in the
    window (and every country they are demoted for), and record what changed."""
    table = scores(now=now)
    demoted = set(RouteDemotion.objects.values_list("rule_id", "gateway_id", "country"))
    decisions = []
    for rule in RouteRule.objects.filter(learn=True).prefetch_related("hops__gateway"):
        gateway_ids = [hop.gateway_id for hop in rule.hops.all() if hop.gateway.enabled]
        countries = {country for gid, country in table if gid in gateway_ids}
        countries |= {country for rid, _gid, country in demoted if rid == rule.pk}
        if rule.country:
            countries &= {rule.country}
        for country in sorted(countries):
            for gateway_id in gateway_ids:
                verdict = judge(rule, gateway_id, gateway_ids, country, table)
                is_demoted = (rule.pk, gateway_id, country) in demoted
                if verdict.demote != is_demoted:
                    decision = _change(rule, gateway_id, country, verdict)
                    if decision is not None:
                        decisions.append(decision)
    return decisions


def _change(
    rule: RouteRule, gateway_id: int, country: str, verdict: Verdict
) -> RouteDecision | None:
    """Demote or promote, recorded with its decision in one transaction; ``None`` when
    another run made the same change first."""
    demotions = RouteDemotion.objects.filter(rule=rule, gateway_id=gateway_id, country=country)
    with transaction.atomic():
        if verdict.demote:
            try:
                with transaction.atomic():
                    RouteDemotion.objects.create(rule=rule, gateway_id=gateway_id, country=country)
            except IntegrityError:
                return None
        elif not demotions.delete()[0]:
            return None
        action = RouteDecision.Action.DEMOTE if verdict.demote else RouteDecision.Action.PROMOTE
        decision = RouteDecision.objects.create(
            rule=rule,
            gateway_id=gateway_id,
            country=country,
            action=action,
            sample=verdict.score.sent,
            delivery_rate=verdict.score.delivery_rate,
            conversion_rate=verdict.score.conversion_rate,
            best_gateway_id=verdict.best_gateway_id,
            best_sample=verdict.best.sent if verdict.best else 0,
            best_conversion_rate=verdict.best.conversion_rate if verdict.best else None,
            threshold=rule.learn_threshold,
            reason=verdict.reason[:200],
        )
    log.info(
        "route rule %s: %s gateway %s for %s (%s)",
        rule.pk,
        action,
        gateway_id,
        country,
        verdict.reason,
    )
    return decision
