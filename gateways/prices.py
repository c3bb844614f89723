"""What a message will cost: the price table read for one destination, and its CSV
import.

A message's estimated cost is the price of its country and channel through the first
gateway of its route (``gateways.routes.plan``) that has one, else the price for any
gateway; per SMS segment, or per voice call. The dispatcher may fail over to another
gateway: the estimate is what budgets count, the provider's invoice stays the truth.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    IntegerField,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)

from .models import Gateway, OutboundMessage, Price
from .sms import sms_parts


@dataclass(frozen=True)
class Estimate:
    """How a text travels to one destination: ``units`` are what a message budget
    counts (SMS segments, or one voice call). Its cost is the price table's, read in
    the statement that needs it (:meth:`cost_expression`: the message's INSERT, the
    budget's upsert) so the send path makes no extra round trip for it."""

    channel: str
    country: str
    encoding: str
    segments: int
    units: int
    gateway_ids: tuple[int, ...] = ()  # the route's gateways, primary first

    def price_queryset(self) -> QuerySet:
        """One row, ``amount``: the price of one unit (see :func:`price_queryset`)."""
        return price_queryset(
            gateway_ids=self.gateway_ids, channel=self.channel, country=self.country
        )

    def cost_expression(self) -> ExpressionWrapper:
        """The estimated cost as SQL, NULL when no price is known."""
        return ExpressionWrapper(
            Subquery(self.price_queryset()) * Value(self.units), output_field=COST_FIELD
        )

    def cost(self) -> Decimal | None:
        """The estimated cost, read now (one query); ``None`` when no price is known."""
        amount = self.price_queryset().first()
        return None if amount is None else amount * self.units


COST_FIELD = DecimalField(max_digits=12, decimal_places=5)


def estimate(
    *, channel: str, country: str, text: str, gateway_ids: tuple[int, ...] = ()
) -> Estimate:
    """The encoding, segments and budget units of ``text`` to ``country`` through the
    route ``gateway_ids`` (no query)."""
    parts = sms_parts(text)
    is_sms = channel == OutboundMessage.Channel.SMS
    return Estimate(
        gateway_ids=tuple(gateway_ids),
        channel=channel,
        country=country,
        encoding=parts.encoding,
        segments=parts.segments if is_sms else 0,
        units=parts.segments if is_sms else 1,
    )


def price_queryset(*, gateway_ids: tuple[int, ...], channel: str, country: str) -> QuerySet:
    """The price of one unit to ``country`` as a one-row ``amount`` queryset: through
    the first of ``gateway_ids`` that has a price, else through any gateway."""
    position = Case(
        *(When(gateway_id=gid, then=Value(i)) for i, gid in enumerate(gateway_ids)),
        default=Value(len(gateway_ids)),
        output_field=IntegerField(),
    )
    return (
        Price.objects.filter(country=country, channel=channel)
        .filter(Q(gateway__isnull=True) | Q(gateway_id__in=gateway_ids))
        .annotate(position=position)
        .order_by("position")
        .values_list("amount", flat=True)[:1]
    )


# --- The CSV import --------------------------------------------------------------------

CSV_COLUMNS = ("country", "channel", "gateway", "amount")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    errors: list[str] | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def import_prices(lines: Iterable[str]) -> ImportReport:
    """Create or update prices from CSV rows ``country,channel,gateway,amount[,currency]``
    (a header row first; ``gateway`` empty for any gateway, else a gateway's name).
    All or nothing: with any bad row, nothing is written and the report says which."""
    reader = csv.DictReader(lines)
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        return ImportReport(errors=[f"Missing column(s): {', '.join(missing)}."])
    gateways = {g.name: g for g in Gateway.objects.all()}
    report = ImportReport(errors=[])
    rows: list[Price] = []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append(_price_from_row(row, gateways))
        except ValidationError as exc:
            report.errors.append(f"Line {number}: {'; '.join(exc.messages)}")
    if report.errors:
        return report
    with transaction.atomic():
        for price in rows:
            existing = Price.objects.filter(
                country=price.country, channel=price.channel, gateway=price.gateway
            ).first()
            if existing is None:
                price.save()
                report.created += 1
            else:
                existing.amount, existing.currency = price.amount, price.currency
                existing.save(update_fields=["amount", "currency", "updated_at"])
                report.updated += 1
    return report


def import_prices_text(text: str) -> ImportReport:
    """:func:`import_prices` of an uploaded file's text (the admin's import)."""
    return import_prices(io.StringIO(text))


def _price_from_row(row: dict, gateways: dict[str, Gateway]) -> Price:
    name = (row.get("gateway") or "").strip()
    if name and name not in gateways:
        raise ValidationError(f"unknown gateway {name!r}")
    try:
        amount = Decimal((row.get("amount") or "").strip())
    except InvalidOperation:
        raise ValidationError(f"amount {row.get('amount')!r} is not a number") from None
    channel = (row.get("channel") or "").strip().lower()
    if channel not in OutboundMessage.Channel.values:
        raise ValidationError(f"channel {channel!r} is not sms or voice")
    price = Price(
        country=(row.get("country") or "").strip().upper(),
        channel=channel,
        gateway=gateways.get(name) if name else None,
        amount=amount,
    )
    if (row.get("currency") or "").strip():
        price.currency = row["currency"].strip().upper()
    price.full_clean(validate_unique=False, validate_constraints=False)
    return price
