"""Resend policy: the same code again on the same verification, or a new code with a
grace period for the previous one; and POST /otp/<id>/resend."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gateways.models import OutboundMessage
from otp.models import Verification
from tests.support import factories
from tests.support.otp_client import OtpClient, code_from, outbox
from tests.support.services import require_postgres, wait_for
from tests.test_api_concurrency import race

PHONE = "+14155552671"


@pytest.fixture
def later(monkeypatch):
    """Move the clock forward by some seconds (the app reads django's timezone.now)."""

    def move(seconds: float) -> None:
        shift = timedelta(seconds=seconds)
        current = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: current() + shift)

    return move


def make_api(account, **stream_settings) -> OtpClient:
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), **stream_settings
    )
    client = OtpClient(token)
    client.stream = stream
    return client


def codes_sent(recipient: str = PHONE) -> list[str]:
    return [code_from(m.text) for m in reversed(outbox(recipient))]


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestSameCode:
    def test_a_new_send_repeats_the_pending_code_and_the_first_one_approves(self, account):
        api = make_api(account, resend_policy="same_code")
        first = api.send(recipient=PHONE).json()
        again = api.send(recipient=PHONE)
        assert again.status_code == 201
        assert again.json()["id"] == first["id"]
        assert again.json()["expires_at"] == first["expires_at"]  # lifetime not extended
        first_code, second_code = codes_sent()
        assert first_code == second_code
        approved = api.verify(id=first["id"], code=first_code)
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        assert len(api.status(first["id"]).json()["timeline"]["sends"]) == 2

    def test_repeats_count_against_the_send_limit(self, account):
        api = make_api(
            account, resend_policy="same_code", send_limit_enabled=True, send_limit_count=2
        )
        assert api.send(recipient=PHONE).status_code == 201
        assert api.send(recipient=PHONE).status_code == 201
        refused = api.send(recipient=PHONE)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "send_limit_reached"

    def test_after_the_code_ends_a_send_makes_a_new_one(self, account, later):
        api = make_api(account, resend_policy="same_code")
        first = api.send(recipient=PHONE).json()["id"]
        later(api.stream.code_ttl_seconds + 1)
        second = api.send(recipient=PHONE).json()["id"]
        assert second != first

    def test_resend_endpoint_switches_to_voice_with_the_same_code(self, account):
        api = make_api(account, resend_policy="same_code")
        vid = api.send(recipient=PHONE).json()["id"]
        resent = api.post(f"{vid}/resend", {"channel": "voice"})
        assert resent.status_code == 201, resent.content
        assert resent.json()["id"] == vid
        sms, voice = reversed(outbox(PHONE))
        assert voice.channel == "voice"
        assert code_from(voice.text) == code_from(sms.text)
        assert api.verify(id=vid, code=code_from(sms.text)).status_code == 200

    def test_the_code_is_recoverable_only_while_pending_and_never_in_clear(self, account):
        api = make_api(account, resend_policy="same_code")
        vid = api.send(recipient=PHONE).json()["id"]
        code = codes_sent()[0]
        stored = Verification.objects.values_list("sealed", flat=True).get(id=vid)
        assert stored and code not in stored
        api.verify(id=vid, code=code)
        assert Verification.objects.get(id=vid).sealed == ""
        refused = api.post(f"{vid}/resend", {})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "already_approved"

    def test_resend_refuses_bad_input_and_changes_nothing(self, account):
        api = make_api(account, resend_policy="same_code")
        vid = api.send(recipient=PHONE).json()["id"]
        bad = api.post(f"{vid}/resend", {"channel": "fax"})
        assert bad.status_code == 400
        assert "channel" in bad.json()["error"]["fields"]
        unknown = api.post("00000000-0000-0000-0000-000000000000/resend", {})
        assert unknown.status_code == 404
        assert len(outbox(PHONE)) == 1


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestNewCodeWithGrace:
    GRACE = 20

    def test_previous_code_works_within_the_grace_period(self, account, later):
        api = make_api(account, resend_policy="new_code", resend_grace_seconds=self.GRACE)
        first = api.send(recipient=PHONE).json()["id"]
        second = api.send(recipient=PHONE).json()["id"]
        assert second != first
        first_code, _ = codes_sent()
        later(self.GRACE - 1)
        approved = api.verify(recipient=PHONE, event="login", code=first_code)
        assert approved.status_code == 200
        assert approved.json()["id"] == first

    def test_previous_code_is_refused_after_the_grace_period(self, account, later):
        api = make_api(account, resend_policy="new_code", resend_grace_seconds=self.GRACE)
        first = api.send(recipient=PHONE).json()["id"]
        second = api.send(recipient=PHONE).json()["id"]
        first_code, second_code = codes_sent()
        later(self.GRACE + 1)
        refused = api.verify(id=first, code=first_code).json()["error"]
        assert (refused["code"], refused["reason"], refused["replaced_by"]) == (
            "verification_canceled",
            "replaced",
            second,
        )
        assert api.verify(id=second, code=second_code).status_code == 200

    def test_resend_endpoint_makes_a_new_verification(self, account):
        api = make_api(account, resend_policy="new_code", resend_grace_seconds=0)
        first = api.send(recipient=PHONE).json()["id"]
        resent = api.post(f"{first}/resend", {}).json()
        assert resent["id"] != first
        assert api.status(first).json()["reason"] == "replaced"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_tasks")
def test_racing_resends_count_exactly_against_the_send_limit():
    require_postgres()
    account = factories.make_account()
    api = make_api(
        account,
        resend_policy="same_code",
        send_limit_enabled=True,
        send_limit_count=4,
        send_limit_cooldown_minutes=15,
    )
    vid = api.send(recipient=PHONE).json()["id"]
    token = api.headers["HTTP_AUTHORIZATION"]
    responses = race(
        12, lambda: OtpClient(None, HTTP_AUTHORIZATION=token).post(f"{vid}/resend", {})
    )
    assert sorted(r.status_code for r in responses) == [201] * 3 + [429] * 9
    assert OutboundMessage.objects.filter(verification_id=vid).count() == 4
    assert len(set(codes_sent())) == 1


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_same_code_resend_through_the_worker_approves_with_the_first_sms(celery_worker):
    account = factories.make_account()
    api = make_api(account, resend_policy="same_code")
    vid = api.send(recipient=PHONE).json()["id"]
    wait_for(lambda: len(outbox(PHONE)) == 1)
    first_code = code_from(outbox(PHONE)[0].text)
    assert api.post(f"{vid}/resend", {}).json()["id"] == vid
    wait_for(lambda: len(outbox(PHONE)) == 2)
    assert api.verify(id=vid, code=first_code).json()["status"] == "approved"
