"""Both peers' flows on the real stack: PostgreSQL, the broker and a Celery worker
process deliver the code to the outbox; the client then validates it."""

import re

import pytest

from compat.models import CompatCredential
from gateways.models import OutboundMessage
from tests.support.compat_clients import OctopushClient, VerifyNowClient, make_credential
from tests.support.services import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def delivered_code(recipient: str, pattern: str) -> str:
    def sent():
        return OutboundMessage.objects.filter(
            recipient=recipient, status=OutboundMessage.Status.SENT
        ).first()

    message = wait_for(sent)
    return re.search(pattern, message.text).group(1)


def test_verifynow_flow_through_a_worker(celery_worker):
    credential, password = make_credential(CompatCredential.Peer.VERIFYNOW)
    client = VerifyNowClient(credential.login, password)
    assert client.token().status_code == 200
    sent = client.send(otpLength="6")
    assert sent.status_code == 200, sent.content
    code = delivered_code("+919990655875", r"code is ([0-9]{6})")
    validated = client.validate(sent.json()["data"]["verificationId"], code)
    assert validated.json()["data"]["verificationStatus"] == "VERIFICATION_COMPLETED"


def test_octopush_flow_through_a_worker(celery_worker):
    # The test sends its own text: its admin allows caller-supplied text.
    credential, key = make_credential(CompatCredential.Peer.OCTOPUSH, caller_text_allowed=True)
    client = OctopushClient(credential.login, key)
    generated = client.generate({"phone_number": "+33611223344", "text": "Code {code}"})
    assert generated.status_code == 201, generated.content
    code = delivered_code("+33611223344", r"Code (\S+)")
    validated = client.validate(
        {"code": code, "otp_request_token": generated.json()["otp_request_token"]}
    )
    assert validated.json() == {"code": 0, "message": "success", "warnings": []}
