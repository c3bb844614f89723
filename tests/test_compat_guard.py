"""The guard behind the peers' APIs: a premium-rate or satellite number and an
exhausted budget are refused in each peer's own error shape, and nothing is sent."""

from decimal import Decimal

import pytest

from compat.models import CompatCredential
from gateways.models import OutboundMessage
from otp.models import SendDecision
from streams import services as stream_services
from streams.models import Budget
from tests.support.compat_clients import OctopushClient, VerifyNowClient, make_credential

pytestmark = pytest.mark.usefixtures("eager_tasks")


def test_octopush_refuses_satellite_and_premium_numbers_as_invalid_numbers(db):
    credential, key = make_credential(CompatCredential.Peer.OCTOPUSH)
    client = OctopushClient(credential.login, key)
    for phone, channel in (("+881612345678", "sms"), ("+33891123456", "voice_sms")):
        response = client.generate({"phone_number": phone, "channel": channel})
        assert (response.status_code, response.json()["code"]) == (403, 150)
    assert not OutboundMessage.objects.exists()


def test_octopush_answers_an_exhausted_budget_with_429(db):
    credential, key = make_credential(CompatCredential.Peer.OCTOPUSH)
    stream_services.save_budgets(
        account=credential.account,
        stream=credential.stream,
        limits={(Budget.Period.DAY, Budget.Unit.MESSAGES): Decimal(1)},
    )
    client = OctopushClient(credential.login, key)
    assert client.generate({"phone_number": "+33611223344"}).status_code == 201
    refused = client.generate({"phone_number": "+33611223344"})
    assert (refused.status_code, refused.json()["code"]) == (429, 429)
    assert refused["Retry-After"]
    assert OutboundMessage.objects.count() == 1


def test_verifynow_refuses_satellite_numbers_and_exhausted_budgets(db):
    credential, password = make_credential(CompatCredential.Peer.VERIFYNOW)
    client = VerifyNowClient(credential.login, password)
    client.token()
    refused = client.send("612345678", countryCode="881").json()
    assert (refused["responseCode"], refused["message"]) == (403, "FORBIDDEN")
    # The view's own transaction rolled back with the refusal; the decision is kept.
    assert SendDecision.objects.get().recipient == "+881612345678"
    stream_services.save_budgets(
        account=credential.account,
        stream=credential.stream,
        limits={(Budget.Period.DAY, Budget.Unit.MESSAGES): Decimal(1)},
    )
    assert client.send().json()["responseCode"] == 200
    refused = client.send().json()
    assert (refused["responseCode"], refused["message"]) == (800, "MAXIMUM_LIMIT_REACHED")
    assert OutboundMessage.objects.count() == 1
    assert list(SendDecision.objects.values_list("rule", flat=True)) == ["budget", "number_type"]
