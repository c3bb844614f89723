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


def test_worker_imports_a_large_contact_file_in_the_background(celery_worker, account):
    from streams import contact_import
    from streams.models import Contact, ContactImport

    data = ("phone,first_name\n" + "".join(f"+1415555{i:04d},N\n" for i in range(3000))).encode()
    job = contact_import.start_contact_import(
        account=account, user=None, data=data, country="", parsed=contact_import.parse_csv(data)
    )

    def done():
        job.refresh_from_db()
        return job.status == ContactImport.Status.DONE

    wait_for(done, timeout=60)
    assert (job.created, job.rejected_count, job.processed_rows) == (3000, 0, 3000)
    assert Contact.objects.filter(account=account).count() == 3000
