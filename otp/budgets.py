"""Budgets: what a stream, and its whole account, may spend per day and per month, in
money (the price table's estimate) and in messages (SMS segments and voice calls).

``reserve`` counts one send against every budget that applies, inside the send's
transaction, and refuses it with ``budget_exhausted`` when any would go past its limit.
On PostgreSQL that is one statement: an upsert per budget on its (budget, period)
counter row whose ``DO UPDATE ... WHERE spent + cost <= limit`` is decided on the
locked row, so 50 concurrent senders against 100 segments send at most 100. A refused
send rolls the whole transaction back: no counter moved, no verification, no message.

When a counter crosses 80 % or 100 % of its limit (or a send is refused by it), the
account's owners and admins get an e-mail and ``budget_alert`` is sent, once per
budget, period and level.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.dispatch import Signal

from gateways.prices import Estimate
from streams.models import Budget, Membership, Stream

from .errors import ErrorCode
from .guard import GuardRefusal, Rule
from .models import BudgetCounter

log = logging.getLogger(__name__)

# Sent (sender=Budget) when a budget reaches ``percent`` (80 or 100) of its limit in a
# period, once per level: budget, percent, spent, period_start. The webhooks carry it.
budget_alert = Signal()

ALERT_LEVELS = (100, 80)


@dataclass(frozen=True)
class Counted:
    """One budget's outcome for one send: ``spent`` after it, or ``None`` if refused."""

    budget_id: int
    unit: str
    period: str
    limit: Decimal
    amount: Decimal | None
    period_start: date
    spent: Decimal | None
    alerted_percent: int

    @property
    def refused(self) -> bool:
        return self.spent is None


def period_starts(now: datetime) -> dict[str, date]:
    today = now.astimezone(UTC).date()
    return {Budget.Period.DAY: today, Budget.Period.MONTH: today.replace(day=1)}


def period_end(period: str, start: date) -> date:
    if period == Budget.Period.DAY:
        return start + timedelta(days=1)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def reserve(*, stream: Stream, estimate: Estimate, now: datetime) -> None:
    """Count one send against the stream's and the account's budgets, or raise
    ``budget_exhausted``. Must run inside the transaction that writes the message.
    A stream read through ``otp.stream_cache`` knows whether it has budgets at all
    (``has_budgets``): without any this costs nothing."""
    if not getattr(stream, "has_budgets", True):
        return
    if not connection.in_atomic_block:
        raise RuntimeError("budgets.reserve must run in the send's transaction")
    starts = period_starts(now)
    if connection.vendor == "postgresql":
        counted = _count_postgresql(stream, estimate, starts)
    else:
        counted = _count_one_by_one(stream, estimate, starts)
    refused = [c for c in counted if c.refused]
    if refused:
        raise _refusal(estimate, refused, now)
    for c in counted:
        _alert_on_crossing(c)


def budgets_for(stream: Stream) -> QuerySet[Budget]:
    """The budgets a send of ``stream`` counts against: its own and its account's."""
    return Budget.objects.filter(account_id=stream.account_id).filter(
        Q(stream__isnull=True) | Q(stream_id=stream.pk)
    )


# --- Counting --------------------------------------------------------------------------

_C = BudgetCounter._meta.db_table
# {budgets}: the applicable budgets (id, unit, period, limit); {price}: one unit's price.
_POSTGRESQL_SQL = f"""
WITH b AS (
    SELECT id, unit, period, "limit" AS ceiling,
        CASE WHEN period = 'day' THEN CAST(%s AS date) ELSE CAST(%s AS date) END
            AS period_start,
        CASE WHEN unit = 'money' THEN CAST(({{price}}) AS numeric) * %s
             ELSE CAST(%s AS numeric) END AS amount
    FROM ({{budgets}}) AS applicable
), up AS (
    INSERT INTO {_C} AS c (budget_id, period_start, spent, ceiling, alerted_percent)
    SELECT id, period_start, amount, ceiling, 0 FROM b WHERE amount <= ceiling ORDER BY id
    ON CONFLICT (budget_id, period_start) DO UPDATE
        SET spent = c.spent + EXCLUDED.spent, ceiling = EXCLUDED.ceiling
        WHERE c.spent + EXCLUDED.spent <= EXCLUDED.ceiling
    RETURNING c.budget_id, c.spent, c.alerted_percent
)
SELECT b.id, b.unit, b.period, b.ceiling, b.amount, b.period_start, up.spent,
    up.alerted_percent
FROM b LEFT JOIN up ON up.budget_id = b.id ORDER BY b.id
"""  # noqa: S608 - interpolated: our table name and the ORM's own compiled queries


def _count_postgresql(stream: Stream, estimate: Estimate, starts: dict) -> list[Counted]:
    """Every applicable budget counted, or found full, in one statement."""
    budgets_sql, budgets_params = (
        budgets_for(stream).values("id", "unit", "period", "limit").query.sql_with_params()
    )
    price_sql, price_params = estimate.price_queryset().query.sql_with_params()
    sql = _POSTGRESQL_SQL.format(price=price_sql, budgets=budgets_sql)
    params = [
        starts[Budget.Period.DAY],
        starts[Budget.Period.MONTH],
        *price_params,
        estimate.units,
        estimate.units,
        *budgets_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            Counted(
                budget_id=row[0],
                unit=row[1],
                period=row[2],
                limit=row[3],
                amount=row[4],
                period_start=row[5],
                spent=row[6],
                alerted_percent=row[7] or 0,
            )
            for row in cursor.fetchall()
        ]


_UPSERT_SQL = f"""
INSERT INTO {_C} (budget_id, period_start, spent, ceiling, alerted_percent)
VALUES (%s, %s, %s, %s, 0)
ON CONFLICT (budget_id, period_start) DO UPDATE
    SET spent = spent + excluded.spent, ceiling = excluded.ceiling
    WHERE spent + excluded.spent <= excluded.ceiling
RETURNING spent, alerted_percent
"""  # noqa: S608 - the only interpolation is our own table name


def _count_one_by_one(stream: Stream, estimate: Estimate, starts: dict) -> list[Counted]:
    """The same decision, one budget at a time, for databases without data-modifying
    CTEs (SQLite, which serialises writers anyway)."""
    budgets = list(budgets_for(stream).order_by("id"))
    cost = estimate.cost() if any(b.unit == Budget.Unit.MONEY for b in budgets) else None
    counted = []
    ops = connection.ops
    for budget in budgets:
        amount = cost if budget.unit == Budget.Unit.MONEY else Decimal(estimate.units)
        start = starts[budget.period]
        spent, alerted = None, 0
        if amount is not None and amount <= budget.limit:
            with connection.cursor() as cursor:
                cursor.execute(
                    _UPSERT_SQL,
                    [
                        budget.pk,
                        ops.adapt_datefield_value(start),
                        ops.adapt_decimalfield_value(amount, 16, 5),
                        ops.adapt_decimalfield_value(budget.limit, 14, 4),
                    ],
                )
                row = cursor.fetchone()
            if row is not None:
                spent, alerted = Decimal(str(row[0])), row[1]
        counted.append(
            Counted(
                budget_id=budget.pk,
                unit=budget.unit,
                period=budget.period,
                limit=budget.limit,
                amount=amount,
                period_start=start,
                spent=spent,
                alerted_percent=alerted,
            )
        )
    return counted


# --- Refusing --------------------------------------------------------------------------


def _refusal(estimate: Estimate, refused: list[Counted], now: datetime) -> GuardRefusal:
    first = refused[0]
    budget = Budget.objects.select_related("stream").get(pk=first.budget_id)
    counter = BudgetCounter.objects.filter(
        budget_id=first.budget_id, period_start=first.period_start
    ).first()
    spent = counter.spent if counter is not None else Decimal(0)
    scope = "stream's" if budget.stream_id else "account's"
    what = f"The {scope} {budget.get_period_display().lower()} budget of {budget.describe_limit()}"
    if first.amount is None:
        message = (
            f"{what} cannot be kept: the price table has no price for this destination and channel."
        )
    else:
        message = f"{what} would be exceeded ({_show(spent, budget)} used, this send needs "
        message += f"{_show(first.amount, budget)})."
    ends = max(period_end(c.period, c.period_start) for c in refused)
    reset = datetime.combine(ends, datetime.min.time(), tzinfo=UTC)
    retry_after = max(1, math.ceil((reset - now).total_seconds()))

    def alert_refused() -> None:
        for c in refused:
            _raise_alert(c.budget_id, c.period_start, 100, c.limit)

    return GuardRefusal(
        ErrorCode.BUDGET_EXHAUSTED,
        message,
        rule=Rule.BUDGET,
        decision={
            "country": estimate.country,  # so the overview counts it per country
            "measured": float(spent + (first.amount or 0)),
            "threshold": float(first.limit),
        },
        details={
            "retry_after": retry_after,
            "budget": {
                "scope": "stream" if budget.stream_id else "account",
                "period": budget.period,
                "unit": budget.unit,
            },
        },
        headers={"Retry-After": str(retry_after)},
        followup=alert_refused,
    )


def _show(value: Decimal, budget: Budget) -> str:
    if budget.unit == Budget.Unit.MONEY:
        return f"{value:.2f} {settings.OTP_CURRENCY}"
    return f"{value:.0f}"


# --- Alerts ----------------------------------------------------------------------------


def _alert_on_crossing(c: Counted) -> None:
    if c.spent is None or c.amount is None or not c.limit:
        return
    before = c.spent - c.amount
    for percent in ALERT_LEVELS:
        level = c.limit * percent / 100
        if before < level <= c.spent and c.alerted_percent < percent:
            _raise_alert(c.budget_id, c.period_start, percent, c.limit)
            return


def _raise_alert(budget_id: int, period_start: date, percent: int, limit: Decimal) -> None:
    """Mark ``percent`` alerted for the period (a conditional UPDATE: once) and notify
    after commit."""
    counters = BudgetCounter.objects.filter(budget_id=budget_id, period_start=period_start)
    if not counters.exists():  # refused before anything was counted this period
        BudgetCounter.objects.get_or_create(
            budget_id=budget_id, period_start=period_start, defaults={"ceiling": limit}
        )
    if counters.filter(alerted_percent__lt=percent).update(alerted_percent=percent):
        transaction.on_commit(lambda: notify(budget_id, period_start, percent), robust=True)


def notify(budget_id: int, period_start: date, percent: int) -> None:
    """E-mail the account's owners and admins, and send ``budget_alert``."""
    budget = Budget.objects.select_related("account", "stream").filter(pk=budget_id).first()
    if budget is None:
        return
    counter = BudgetCounter.objects.filter(budget=budget, period_start=period_start).first()
    spent = counter.spent if counter is not None else Decimal(0)
    subject = f"[OTP Streams] {budget.account.name}: {percent} % of a budget reached"
    body = (
        f"The {budget.scope_label} {budget.get_period_display().lower()} budget of "
        f"{budget.describe_limit()} is at {percent} % for the period from {period_start}: "
        f"{_show(spent, budget)} spent.\n"
    )
    if percent >= 100:
        body += "Sends that would go beyond it are refused (budget_exhausted).\n"
    recipients = list(
        Membership.objects.filter(
            account=budget.account, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN]
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if recipients:
        try:
            send_mail(subject, body, None, recipients)
        except Exception as exc:  # a mail server that is down must not fail the send
            log.warning("budget alert e-mail not sent: %s", exc)
    budget_alert.send(
        sender=Budget, budget=budget, percent=percent, spent=spent, period_start=period_start
    )
