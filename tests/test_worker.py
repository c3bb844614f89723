"""A real Celery worker process, on the real broker and PostgreSQL, does the work."""

import pytest

from gateways.models import OutboundMessage
from gateways.services import queue_message
from tests.support.services import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_worker_delivers_a_queued_message(celery_worker, account):
    message = queue_message(
        account_id=account.id,
        channel="sms",
        recipient="+14155552671",
        sender="Acme",
        text="Your code is 123456",
    )

    def sent():
        message.refresh_from_db()
        return message.status == OutboundMessage.Status.SENT

    wait_for(sent)
    assert message.attempts == 1
    assert message.attempt_log.get().outcome == "sent"
