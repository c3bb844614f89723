"""A known data set for the analytics: verifications and their messages spread over
hours, streams, events, channels, countries, gateways and outcomes, written directly
(bulk) so tests can build hundreds in a moment. Deterministic for a given seed."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gateways.models import Gateway, OutboundMessage
from otp.guard import Outcome, Rule
from otp.models import SendDecision, Verification
from otp.velocity import VelocityRule
from streams.models import Account, Stream

RECIPIENTS = {
    "US": "+14155552671",
    "GB": "+447400123456",
    "DE": "+4915123456789",
    "FR": "+33612345678",
}
PRICES = {"US": Decimal("0.00790"), "GB": Decimal("0.03500"), "DE": Decimal("0.07250")}
OUTCOMES = [
    # (verification status, message status, weight)
    ("approved", "delivered", 50),
    ("approved", "sent", 10),
    ("expired", "delivered", 10),
    ("expired", "undelivered", 6),
    ("max_attempts_reached", "delivered", 3),
    ("canceled", "delivered", 5),
    ("failed", "failed", 6),
    ("pending", "queued", 5),
    ("pending", "sent", 5),
]

# The guard's decisions as the send path records them: (error code, rule, outcome).
DECISIONS = [
    ("destination_not_allowed", Rule.NUMBER_TYPE, Outcome.BLOCKED),
    ("country_not_allowed", Rule.COUNTRY_NOT_ALLOWED, Outcome.BLOCKED),
    ("destination_not_allowed", Rule.COUNTRY_BLOCKED, Outcome.BLOCKED),
    ("destination_not_allowed", Rule.PREFIX_BLOCKED, Outcome.BLOCKED),
    ("budget_exhausted", Rule.BUDGET, Outcome.BLOCKED),
    ("send_blocked", VelocityRule.PREFIX_CONVERSION, Outcome.BLOCKED),
    ("send_blocked", VelocityRule.PREFIX_VELOCITY, Outcome.THROTTLED),
    ("send_blocked", VelocityRule.IP_VELOCITY, Outcome.BLOCKED),
    ("send_blocked", VelocityRule.COUNTRY_CONVERSION, Outcome.ALLOWED_IN_SHADOW),
]

# The final reason each status stands for here (pending: none).
REASON_OF_STATUS = {"pending": "", "canceled": "canceled_by_client", "failed": "undeliverable"}


def seed(
    account: Account,
    streams: list[Stream],
    gateways: list[Gateway],
    *,
    count: int = 400,
    start: datetime | None = None,
    hours: int = 72,
    seed: int = 17,
) -> list[Verification]:
    rng = random.Random(seed)
    start = start or datetime.now(UTC) - timedelta(hours=hours)
    verifications, messages = [], []
    inserted = datetime.now(UTC)
    pending: dict[tuple, Verification | None] = {}
    for _ in range(count):
        created = start + timedelta(seconds=rng.randrange(hours * 3600))
        status, message_status = rng.choices(OUTCOMES, weights=[o[2] for o in OUTCOMES])[0][:2]
        country = rng.choice(list(RECIPIENTS))
        channel = "voice" if rng.random() < 0.1 else "sms"
        stream = rng.choice(streams)
        decided = None
        if status != "pending":
            decided = created + timedelta(seconds=rng.choice([4, 9, 25, 40, 75, 200]))
        event_key = rng.choice(["login", "reset"])
        if status == "pending":
            # One pending code per (stream, recipient, event), as the product keeps it:
            # an earlier one was replaced by this send.
            key = (stream.pk, RECIPIENTS[country], event_key)
            if key in pending:
                pending[key].status, pending[key].reason = "canceled", "replaced"
                pending[key].decided_at = created
            pending[key] = None
        v = Verification(
            id=uuid.uuid4(),
            stream=stream,
            event_key=event_key,
            recipient=RECIPIENTS[country],
            country=country,
            channel=channel,
            code_hash="0" * 64,
            status=status,
            reason=REASON_OF_STATUS.get(status, status),
            max_attempts=5,
            expires_at=created + timedelta(minutes=5),
            decided_at=decided,
            changed_at=inserted,  # written now, whatever time the data set says
        )
        if status == "pending":
            pending[key] = v
        verifications.append((v, created))
        sent = created + timedelta(seconds=1) if message_status != "queued" else None
        gateway = rng.choice(gateways) if message_status not in ("queued", "failed") else None
        delivered = None
        if message_status == "delivered":
            delivered = sent + timedelta(seconds=rng.choice([2, 6, 12, 50]))
        messages.append(
            (
                OutboundMessage(
                    account=account,
                    verification_id=v.id,
                    channel=channel,
                    recipient=v.recipient,
                    text="Your code is 000000",
                    status=message_status,
                    gateway=gateway,
                    sent_at=sent,
                    delivered_at=delivered,
                    # A price for some countries only: others have none configured.
                    estimated_cost=PRICES.get(country) if sent else None,
                ),
                created,
            )
        )
    for stream_id, recipient, event_key in pending:  # replaced by this data set's sends
        Verification.objects.filter(
            stream_id=stream_id, recipient=recipient, event_key=event_key
        ).cancel(now=inserted)
    Verification.objects.bulk_create([v for v, _ in verifications])
    OutboundMessage.objects.bulk_create([m for m, _ in messages])
    # auto_now_add stamps the insert time: set the times the data set says.
    for v, created in verifications:
        Verification.objects.filter(id=v.id).update(created_at=created)
        v.created_at = created
    for m, created in messages:
        OutboundMessage.objects.filter(id=m.id).update(created_at=created, updated_at=created)
    return [v for v, _ in verifications]


def seed_decisions(
    streams: list[Stream], *, count: int = 120, hours: int = 72, seed: int = 17
) -> list[SendDecision]:
    """Guard decisions spread over ``hours`` before now, the streams, events, channels,
    countries, codes, rules and outcomes."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    made = []
    for _ in range(count):
        code, rule, outcome = rng.choice(DECISIONS)
        country = rng.choice(list(RECIPIENTS))
        decision = SendDecision.objects.create(
            stream=rng.choice(streams),
            recipient=RECIPIENTS[country],
            event_key=rng.choice(["login", "reset"]),
            channel="voice" if rng.random() < 0.2 else "sms",
            country=country,
            rule=rule,
            code=code,
            reason=f"{rule}: a reason",
            mode="shadow" if outcome == Outcome.ALLOWED_IN_SHADOW else "enforce",
            outcome=outcome,
        )
        created = now - timedelta(seconds=rng.randrange(hours * 3600))
        SendDecision.objects.filter(pk=decision.pk).update(created_at=created)
        made.append(decision)
    return made
