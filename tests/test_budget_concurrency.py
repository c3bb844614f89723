"""Budgets hold exactly when sends race: real threads on PostgreSQL, each on its own
connection, released together (see tests/test_api_concurrency.py)."""

import threading
from decimal import Decimal

import pytest
from django.db.models import Sum

from gateways.models import OutboundMessage, Price
from otp.models import BudgetCounter, SendDecision
from streams import services as stream_services
from streams.models import Budget
from tests.support import factories
from tests.support.otp_client import OtpClient
from tests.support.services import require_postgres
from tests.test_api_concurrency import race

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("eager_tasks")]

# Three SMS segments each (GSM-7: 307 to 459 characters).
THREE_SEGMENTS = "Your code is {{code}}. " + "x" * 300


@pytest.fixture
def pg(transactional_db):
    require_postgres()


def stream_with_budget(unit: str, limit: str) -> str:
    account = factories.make_account()
    stream, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        templates={"login": THREE_SEGMENTS},
    )
    stream_services.save_budgets(
        account=account, stream=stream, limits={(Budget.Period.DAY, unit): Decimal(limit)}
    )
    return token


def send_from_fifty(token: str) -> list[int]:
    # Each sender its own recipient: only the budget stands between them and the gateway.
    recipients = iter([f"+1415555{n:04d}" for n in range(50)])
    lock = threading.Lock()

    def send():
        with lock:
            recipient = next(recipients)
        return OtpClient(token).send(recipient=recipient)

    return [r.status_code for r in race(50, send)]


def test_fifty_concurrent_senders_against_100_segments_send_at_most_100(pg):
    token = stream_with_budget(Budget.Unit.MESSAGES, "100")
    statuses = send_from_fifty(token)
    segments = OutboundMessage.objects.aggregate(total=Sum("segments"))["total"]
    # 33 sends of 3 segments fit in 100; the 34th would make 102.
    assert segments == 99
    assert sorted(statuses) == [201] * 33 + [429] * 17
    assert BudgetCounter.objects.get().spent == 99
    assert SendDecision.objects.filter(rule="budget").count() == 17


def test_fifty_concurrent_senders_against_a_money_budget_overshoot_nothing(pg):
    Price.objects.create(country="US", channel="sms", amount=Decimal("0.01"))
    token = stream_with_budget(Budget.Unit.MONEY, "1.00")
    statuses = send_from_fifty(token)
    cost = OutboundMessage.objects.aggregate(total=Sum("estimated_cost"))["total"]
    assert cost == Decimal("0.99")
    assert statuses.count(201) == 33
