"""Test mode: the stream's test token reaches only its test numbers, each with a fixed
code and a scripted outcome played by the real worker and state machine, never by a
gateway; the live token cannot use the fixed codes."""

import pytest

from gateways.models import Gateway, MessageAttempt, OutboundMessage
from otp.models import Verification
from streams import services as stream_services
from tests.support import factories
from tests.support.otp_client import OtpClient, code_from
from tests.support.providers import FakeProvider
from tests.support.services import wait_for

LIVE_NUMBER = "+14155552671"
TEST_NUMBERS = [
    {"number": "+14155550101", "code": "111111", "outcome": "delivered"},
    {"number": "+14155550102", "code": "222222", "outcome": "undelivered"},
    {"number": "+14155550103", "code": "333333", "outcome": "submit_failure"},
    {"number": "+14155550104", "code": "444444", "outcome": "never_delivered"},
]
# number -> (message status, verification status, reason) once the outcome has played
FINAL = {
    "+14155550101": ("delivered", "pending", ""),
    "+14155550102": ("undelivered", "failed", "undeliverable"),
    "+14155550103": ("failed", "failed", "undeliverable"),
    "+14155550104": ("sent", "pending", ""),
}


@pytest.fixture
def provider():
    """The account's only gateway: a fake provider that must never be called."""
    fake = FakeProvider("webhook")
    yield fake
    fake.close()


def make_stream(account, provider, **settings):
    gateway = Gateway.objects.create(
        name="real-provider",
        kind="webhook",
        settings={"url": provider.url + "/send"},
        credentials={"signing_secret": provider.secret},
    )
    factories.add_route_hop(account, gateway)
    stream, live_token = factories.make_stream(
        account, default_sender=factories.make_sender(account), **settings
    )
    stream_services.save_test_numbers(stream=stream, numbers=TEST_NUMBERS)
    test_token = stream_services.issue_test_token(stream=stream)
    return stream, OtpClient(live_token), OtpClient(test_token)


def outcome(vid):
    message = OutboundMessage.objects.get(verification_id=vid)
    verification = Verification.objects.get(id=vid)
    return message.status, verification.status, verification.reason


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestTestMode:
    @pytest.mark.parametrize("entry", TEST_NUMBERS, ids=lambda e: e["outcome"])
    def test_each_outcome_reaches_its_final_status_with_no_provider_call(
        self, account, provider, entry
    ):
        _, _, test = make_stream(account, provider)
        sent = test.send(recipient=entry["number"])
        assert sent.status_code == 201, sent.content
        assert sent.json()["test"] is True
        vid = sent.json()["id"]
        assert outcome(vid) == FINAL[entry["number"]]
        assert provider.calls == []
        assert not MessageAttempt.objects.exists()

    def test_the_fixed_code_approves(self, account, provider):
        _, _, test = make_stream(account, provider)
        vid = test.send(recipient="+14155550101").json()["id"]
        assert test.verify(id=vid, code="000000").status_code == 400
        assert test.verify(id=vid, code="111111").json()["status"] == "approved"

    def test_a_test_token_cannot_reach_a_live_number(self, account, provider):
        _, _, test = make_stream(account, provider)
        refused = test.send(recipient=LIVE_NUMBER)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "test_numbers_only"
        assert not Verification.objects.exists() and provider.calls == []

    def test_a_live_token_cannot_use_the_fixed_code(self, account, provider):
        _, live, test = make_stream(account, provider)
        sent = live.send(recipient="+14155550101")
        assert sent.json()["test"] is False
        assert len(provider.accepted) == 1  # a real send, through the gateway
        vid = sent.json()["id"]
        refused = live.verify(id=vid, code="111111")
        real_code = code_from(OutboundMessage.objects.get(verification_id=vid).text)
        assert refused.status_code == 400 or real_code == "111111"
        # Neither token sees the other's verifications.
        assert test.status(vid).status_code == 404

    def test_never_delivered_drives_the_fallback_timer(self, account, provider, monkeypatch):
        from datetime import timedelta

        from django.test import TestCase
        from django.utils import timezone

        from otp import fallbacks

        _, _, test = make_stream(
            account,
            provider,
            fallback_channel="voice",
            fallback_trigger="no_delivery_report",
            fallback_after_seconds=30,
        )
        vid = test.send(recipient="+14155550104").json()["id"]
        real_now = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(seconds=31))
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert fallbacks.fire_due_fallbacks() == 1
        voice = OutboundMessage.objects.get(verification_id=vid, channel="voice")
        assert voice.status == "delivered" and provider.calls == []
        assert test.verify(id=vid, code="444444").json()["status"] == "approved"

    def test_bad_test_numbers_are_refused(self, account, provider):
        stream, _, _ = make_stream(account, provider)
        with pytest.raises(stream_services.Refused):
            stream_services.save_test_numbers(
                stream=stream, numbers=[{"number": "12", "code": "1", "outcome": "maybe"}]
            )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_every_outcome_through_the_real_worker_with_zero_provider_calls(celery_worker, provider):
    account = factories.make_account()
    _, _, test = make_stream(account, provider)
    ids = {e["number"]: test.send(recipient=e["number"]).json()["id"] for e in TEST_NUMBERS}
    for number, vid in ids.items():
        wait_for(lambda v=vid, n=number: outcome(v) == FINAL[n], message=lambda v=vid: outcome(v))
    assert provider.calls == []
    assert test.verify(id=ids["+14155550101"], code="111111").json()["status"] == "approved"


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
def test_console_sets_test_numbers_and_issues_a_test_token_once(client, account):
    stream, _ = factories.make_stream(account, default_sender=factories.make_sender(account))
    client.force_login(factories.make_user(account=account))
    page = f"/streams/{stream.public_id}/"
    bad = client.post(page + "test-numbers/", {"numbers": "+14155550101 111111"})
    assert bad.status_code == 400 and "Line 1" in bad.content.decode()
    saved = client.post(page + "test-numbers/", {"numbers": "+14155550101 111111 delivered"})
    assert saved.status_code == 302
    shown = client.post(page + "test-token/", follow=True).content.decode()
    token = shown.split('id="api-token">')[1].split("<")[0]
    sent = OtpClient(token).send(recipient="+14155550101")
    assert sent.status_code == 201 and sent.json()["test"] is True
    assert token not in client.get(page).content.decode()
