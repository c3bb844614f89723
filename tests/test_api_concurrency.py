"""The rules that must hold when requests race, against PostgreSQL with real threads,
each on its own database connection, released together by a barrier."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from gateways.models import OutboundMessage
from otp.models import Verification
from tests.support import factories
from tests.support.otp_client import OtpClient, code_from
from tests.support.services import require_postgres

pytestmark = [pytest.mark.services, pytest.mark.usefixtures("eager_tasks")]

PHONE = "+14155552671"


def race(n: int, request):
    """Run ``request()`` in ``n`` threads at once; their responses."""
    barrier = threading.Barrier(n)

    def one(_):
        try:
            barrier.wait()
            return request()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


@pytest.fixture
def pg(transactional_db):
    require_postgres()


def test_twenty_simultaneous_sends_with_a_limit_of_three_send_exactly_three(pg):
    account = factories.make_account()
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        send_limit_enabled=True,
        send_limit_count=3,
        send_limit_cooldown_minutes=15,
    )
    responses = race(20, lambda: OtpClient(token).send(recipient=PHONE))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 3 + [429] * 17
    assert all(r["Retry-After"] for r in responses if r.status_code == 429)
    assert OutboundMessage.objects.filter(recipient=PHONE).count() == 3
    assert Verification.objects.count() == 3


def test_fifty_simultaneous_wrong_guesses_count_five_and_lock(pg):
    account = factories.make_account()
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), max_attempts=5
    )
    sent = OtpClient(token).send(recipient=PHONE).json()
    code = code_from(OutboundMessage.objects.get().text)
    wrong = "000000" if code != "000000" else "111111"
    responses = race(50, lambda: OtpClient(token).verify(id=sent["id"], code=wrong))
    codes = [r.json()["error"]["code"] for r in responses]
    assert codes.count("wrong_code") == 5
    assert codes.count("max_attempts_reached") == 45
    verification = Verification.objects.get()
    assert verification.attempts == 5
    assert verification.status == "max_attempts_reached"
    late = OtpClient(token).verify(id=sent["id"], code=code)
    assert late.json()["error"]["code"] == "max_attempts_reached"


def test_a_right_code_raced_with_itself_is_approved_once(pg):
    account = factories.make_account()
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    sent = OtpClient(token).send(recipient=PHONE).json()
    code = code_from(OutboundMessage.objects.get().text)
    responses = race(10, lambda: OtpClient(token).verify(id=sent["id"], code=code))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9


def test_simultaneous_retries_with_one_idempotency_key_send_once(pg):
    account = factories.make_account()
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    responses = race(10, lambda: OtpClient(token).send(recipient=PHONE, idempotency_key="signup-7"))
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert OutboundMessage.objects.count() == 1


def test_racing_sends_to_one_recipient_leave_exactly_one_valid_code(pg):
    account = factories.make_account()
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), send_limit_enabled=False
    )
    recipients = [f"+1415555{n:04d}" for n in range(2671, 2701)]
    for recipient in recipients:
        responses = race(4, lambda r=recipient: OtpClient(token).send(recipient=r))
        assert [r.status_code for r in responses] == [201] * 4
    for recipient in recipients:
        assert Verification.objects.filter(recipient=recipient, status="pending").count() == 1
    # The one pending code works; the replaced ones are refused as replaced.
    pending = Verification.objects.get(recipient=recipients[0], status="pending")
    message = OutboundMessage.objects.get(verification_id=pending.id)
    assert (
        OtpClient(token).verify(id=str(pending.id), code=code_from(message.text)).status_code == 200
    )
    replaced = Verification.objects.filter(recipient=recipients[0], status="canceled").first()
    if replaced is not None:
        code = code_from(OutboundMessage.objects.get(verification_id=replaced.id).text)
        refused = OtpClient(token).verify(id=str(replaced.id), code=code)
        assert refused.json()["error"]["code"] == "verification_canceled"
