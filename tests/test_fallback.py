"""Channel fallback: the same code on another channel when a delivery report says
undelivered, or when no delivered report / no successful check came within N seconds;
at most once per step, never after the verification ended."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client, TestCase
from django.utils import timezone

from gateways.adapters import webhook
from gateways.models import Gateway, OutboundMessage
from otp import fallbacks
from otp.models import Fallback
from tests.support import factories
from tests.support.otp_client import OtpClient, code_from
from tests.support.providers import FakeProvider
from tests.support.services import start_worker, stop_worker, wait_for

PHONE = "+14155552671"


@pytest.fixture
def later(monkeypatch):
    def move(seconds: float) -> None:
        shift = timedelta(seconds=seconds)
        current = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: current() + shift)

    return move


@pytest.fixture
def sms_provider(settings):
    """A webhook SMS gateway whose delivery reports the test writes; voice calls go to
    the default (console) gateway."""
    settings.PUBLIC_BASE_URL = "http://testserver"
    fake = FakeProvider("webhook")
    yield fake
    fake.close()


def make_api(account, fake: FakeProvider, **stream_settings) -> OtpClient:
    gateway = Gateway.objects.create(
        name="sms-webhook",
        kind="webhook",
        settings={"url": fake.url + "/send"},
        credentials={"signing_secret": fake.secret},
    )
    factories.add_route_hop(account, gateway)
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), **stream_settings
    )
    api = OtpClient(token)
    api.stream = stream
    return api


def report(fake: FakeProvider, status: str, call_index: int = 0) -> int:
    """Post the provider's signed delivery report for its ``call_index``-th message."""
    payload = json.loads(fake.accepted[call_index].body)
    body = json.dumps({"id": f"wh-{call_index + 1}", "status": status, "error": "absent"})
    path = payload["receipt_url"].split("://", 1)[1].split("/", 1)[1]
    with TestCase.captureOnCommitCallbacks(execute=True):
        return (
            Client()
            .post(
                "/" + path,
                body,
                content_type="application/json",
                HTTP_X_OTP_SIGNATURE=webhook.sign(fake.secret, body.encode()),
            )
            .status_code
        )


def messages(vid) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(verification_id=vid).order_by("created_at"))


FALLBACK_ON_UNDELIVERED = {"fallback_channel": "voice", "fallback_trigger": "undelivered"}


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestOnUndeliveredReport:
    def test_voice_call_with_the_same_code_and_the_path_recorded(self, account, sms_provider):
        api = make_api(account, sms_provider, **FALLBACK_ON_UNDELIVERED)
        vid = api.send(recipient=PHONE).json()["id"]
        sms_code = code_from(json.loads(sms_provider.accepted[0].body)["text"])
        assert report(sms_provider, "undelivered") == 200
        sms, voice = messages(vid)
        assert (sms.status, voice.channel) == ("undelivered", "voice")
        assert code_from(voice.text) == sms_code
        body = api.status(vid).json()
        assert body["status"] == "pending"
        (step,) = body["timeline"]["fallbacks"]
        assert (step["trigger"], step["from_channel"], step["to_channel"]) == (
            "undelivered",
            "sms",
            "voice",
        )
        assert step["message_id"] == str(voice.id)
        assert api.verify(id=vid, code=sms_code).json()["status"] == "approved"

    def test_a_duplicate_report_does_not_call_twice(self, account, sms_provider):
        api = make_api(account, sms_provider, **FALLBACK_ON_UNDELIVERED)
        vid = api.send(recipient=PHONE).json()["id"]
        report(sms_provider, "undelivered")
        report(sms_provider, "failed")
        assert [m.channel for m in messages(vid)] == ["sms", "voice"]

    def test_no_fallback_after_the_verification_ended(self, account, sms_provider):
        api = make_api(account, sms_provider, **FALLBACK_ON_UNDELIVERED)
        vid = api.send(recipient=PHONE).json()["id"]
        api.cancel(vid)
        report(sms_provider, "undelivered")
        assert [m.channel for m in messages(vid)] == ["sms"]
        assert api.status(vid).json()["reason"] == "canceled_by_client"

    def test_without_a_fallback_the_verification_fails_undeliverable(self, account, sms_provider):
        api = make_api(account, sms_provider)
        vid = api.send(recipient=PHONE).json()["id"]
        report(sms_provider, "undelivered")
        body = api.status(vid).json()
        assert (body["status"], body["reason"]) == ("failed", "undeliverable")
        refused = api.verify(id=vid, code="123456").json()["error"]
        assert refused["code"] == "verification_failed"


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestTimedTriggers:
    def test_no_delivered_report_fires_once_however_often_the_scheduler_runs(
        self, account, sms_provider, later
    ):
        api = make_api(
            account,
            sms_provider,
            fallback_channel="voice",
            fallback_trigger="no_delivery_report",
            fallback_after_seconds=30,
        )
        vid = api.send(recipient=PHONE).json()["id"]
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert fallbacks.fire_due_fallbacks() == 0  # not due yet
        later(31)
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert fallbacks.fire_due_fallbacks() == 1
            assert fallbacks.fire_due_fallbacks() == 0
        assert [m.channel for m in messages(vid)] == ["sms", "voice"]

    def test_a_delivered_report_or_an_approval_stops_the_timer(self, account, sms_provider, later):
        api = make_api(
            account,
            sms_provider,
            fallback_channel="voice",
            fallback_trigger="no_delivery_report",
            fallback_after_seconds=30,
        )
        delivered = api.send(recipient=PHONE).json()["id"]
        report(sms_provider, "delivered")
        other = "+14155552672"
        approved = api.send(recipient=other).json()["id"]
        api.verify(id=approved, code=code_from(json.loads(sms_provider.accepted[1].body)["text"]))
        later(31)
        assert fallbacks.fire_due_fallbacks() == 0
        assert len(messages(delivered)) == len(messages(approved)) == 1

    def test_no_successful_check_falls_back(self, account, sms_provider, later):
        api = make_api(
            account,
            sms_provider,
            fallback_channel="voice",
            fallback_trigger="no_check",
            fallback_after_seconds=60,
        )
        vid = api.send(recipient=PHONE).json()["id"]
        report(sms_provider, "delivered")
        later(61)
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert fallbacks.fire_due_fallbacks() == 1
        assert [m.channel for m in messages(vid)] == ["sms", "voice"]
        assert Fallback.objects.get().trigger == "no_check"


# --- Real processes: PostgreSQL, Redis, workers with beat ----------------------------------


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_undelivered_report_queues_the_voice_call_within_a_second(celery_worker, sms_provider):
    account = factories.make_account()
    api = make_api(account, sms_provider, **FALLBACK_ON_UNDELIVERED)
    vid = api.send(recipient=PHONE).json()["id"]
    wait_for(lambda: sms_provider.accepted)
    sms_code = code_from(json.loads(sms_provider.accepted[0].body)["text"])
    wait_for(lambda: messages(vid)[0].provider_message_id)
    reported = time.monotonic()
    assert report(sms_provider, "undelivered") == 200
    voice = wait_for(
        lambda: next((m for m in messages(vid) if m.channel == "voice"), None), timeout=1.0
    )
    assert time.monotonic() - reported < 1.0
    assert code_from(voice.text) == sms_code
    wait_for(lambda: OutboundMessage.objects.get(id=voice.id).status == "sent")
    assert api.verify(id=vid, code=sms_code).json()["status"] == "approved"


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_no_delivered_report_fires_exactly_once_with_two_schedulers(sms_provider):
    from tests.support.services import require_postgres, require_redis

    require_postgres()
    require_redis()
    account = factories.make_account()
    api = make_api(
        account,
        sms_provider,
        fallback_channel="voice",
        fallback_trigger="no_delivery_report",
        fallback_after_seconds=5,
    )
    # Two workers, each with its own beat: the fallback sweep runs on both, twice a second.
    workers = [start_worker(beat=True, OTP_FALLBACK_EVERY_SECONDS="0.5")]
    workers.append(start_worker(beat=True, purge=False, OTP_FALLBACK_EVERY_SECONDS="0.5"))
    try:
        vid = api.send(recipient=PHONE).json()["id"]
        wait_for(lambda: len(messages(vid)) == 2, timeout=20)
        time.sleep(3)  # both schedulers keep sweeping
        assert [m.channel for m in messages(vid)] == ["sms", "voice"]
        assert Fallback.objects.filter(verification_id=vid).count() == 1
    finally:
        for worker in workers:
            stop_worker(worker)
