"""Dispatch through the gateway adapters, against local servers that check requests the
way the providers do: routes, retries with backoff, failover, permanent errors,
delivery reports (authenticated, idempotent, never backwards)."""

import json
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from gateways import services
from gateways.adapters import twilio, webhook
from gateways.models import Gateway, MessageAttempt, OutboundMessage
from otp.models import Verification
from tests.support import factories
from tests.support.otp_client import OtpClient, code_from
from tests.support.providers import FakeProvider

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.GATEWAY_RETRY_BASE_SECONDS = 0.01
    settings.GATEWAY_RETRY_MAX_SECONDS = 0.05
    settings.PUBLIC_BASE_URL = "http://testserver"


@pytest.fixture
def providers():
    started = []

    def start(kind, **kwargs):
        fake = FakeProvider(kind, **kwargs)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


def make_gateway(fake: FakeProvider, **kwargs) -> Gateway:
    settings_by_kind = {
        "twilio": (
            {"account_sid": fake.account, "api_base": fake.url, "from": "+15005550006"},
            {"auth_token": fake.secret},
        ),
        "vonage": ({"api_key": fake.account, "api_base": fake.url}, {"api_secret": fake.secret}),
        "webhook": ({"url": fake.url + "/send"}, {"signing_secret": fake.secret}),
    }
    gateway_settings, credentials = settings_by_kind[fake.kind]
    gateway_settings.update(kwargs.pop("settings", {}))
    return Gateway.objects.create(
        name=f"{fake.kind}-{fake.server.server_address[1]}",
        kind=fake.kind,
        settings=gateway_settings,
        credentials=credentials,
        supports_voice=fake.kind == "twilio",
        **kwargs,
    )


@pytest.fixture
def setup(account):
    """An account with a stream; ``route(*gateways)`` sets its route."""
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account, "Acme"))

    def route(*gateways):
        for gateway in gateways:
            factories.add_route_hop(account, gateway)
        return OtpClient(token)

    return route


def the_message() -> OutboundMessage:
    return OutboundMessage.objects.get()


# --- Adapters ---------------------------------------------------------------------------


def test_twilio_sms_then_signed_status_callback_marks_delivered(setup, providers, client):
    fake = providers("twilio")
    gateway = make_gateway(fake)
    api = setup(gateway)
    assert api.send(recipient=PHONE).status_code == 201
    [call] = fake.accepted
    assert call.form["To"] == PHONE and call.form["From"] == "Acme"
    assert "your code is" not in call.form["Body"] or call.form["Body"].startswith("Your code is")
    assert call.form["StatusCallback"].startswith("http://testserver/gateways/")
    message = the_message()
    assert message.status == "sent" and message.provider_message_id.startswith("SM")

    url = call.form["StatusCallback"]
    params = {"MessageSid": message.provider_message_id, "MessageStatus": "delivered"}
    signed = twilio.signature(fake.secret, url, params)
    path = url.removeprefix("http://testserver")
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE="bad").status_code == 403
    assert the_message().status == "sent"
    assert client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signed).status_code == 200
    assert the_message().status == "delivered"
    # A late "sent" never overwrites "delivered"; a duplicate report changes nothing.
    late = {"MessageSid": message.provider_message_id, "MessageStatus": "sent"}
    client.post(path, late, HTTP_X_TWILIO_SIGNATURE=twilio.signature(fake.secret, url, late))
    client.post(path, params, HTTP_X_TWILIO_SIGNATURE=signed)
    message = the_message()
    assert message.status == "delivered" and message.delivered_at is not None


def test_twilio_voice_call_says_the_code_with_language_and_voice(setup, providers):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    sent = api.send(recipient=PHONE, channel="voice", voice_language="fr-FR", voice_gender="male")
    assert sent.status_code == 201
    [call] = fake.accepted
    assert call.path.endswith("/Calls.json")
    twiml = call.form["Twiml"]
    assert twiml.startswith('<Response><Say voice="man" language="fr-FR">')
    assert the_message().provider_message_id.startswith("CA")


def test_vonage_unicode_sms_and_delivery_receipt(account, providers, client):
    fake = providers("vonage")
    gateway = make_gateway(fake)
    factories.add_route_hop(account, gateway)
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account, "Acme"),
        templates={"login": "Ваш код {{code}}"},
    )
    assert OtpClient(token).send(recipient=PHONE).status_code == 201
    [call] = fake.accepted
    assert call.form["type"] == "unicode" and call.form["to"] == PHONE[1:]
    assert call.form["text"].startswith("Ваш код ")
    message = the_message()
    receipt = {"messageId": message.provider_message_id, "status": "delivered", "err-code": "0"}
    path = call.form["callback"].removeprefix("http://testserver")
    assert client.get(path, receipt).status_code == 200
    assert the_message().status == "delivered"
    unknown = client.get(path, {"messageId": "0A000000DEADBEEF", "status": "delivered"})
    assert unknown.status_code == 200


def test_receipts_with_a_wrong_secret_are_not_found(db, providers, client):
    gateway = make_gateway(providers("vonage"))
    response = client.get(f"/gateways/{gateway.pk}/receipts/wrong/", {"messageId": "x"})
    assert response.status_code == 404


def test_webhook_is_signed_and_its_signed_receipts_are_applied(setup, providers, client):
    fake = providers("webhook")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    [call] = fake.accepted
    payload = json.loads(call.body)
    assert payload["to"] == PHONE and payload["text"] == the_message().text
    message = the_message()
    assert message.provider_message_id == "wh-1"
    body = json.dumps({"id": "wh-1", "status": "undelivered", "error": "absent"}).encode()
    path = payload["receipt_url"].removeprefix("http://testserver")
    forged = client.post(
        path, body, content_type="application/json", HTTP_X_OTP_SIGNATURE="t=1,v1=0"
    )
    assert forged.status_code == 403
    signed = webhook.sign(fake.secret, body)
    ok = client.post(path, body, content_type="application/json", HTTP_X_OTP_SIGNATURE=signed)
    assert ok.status_code == 200
    message = the_message()
    assert message.status == "undelivered" and message.last_error == "absent"


# --- Retries, failover, permanent errors ----------------------------------------------------


def test_gateway_answering_500s_then_recovering_is_retried_and_sends_once(setup, providers):
    fake = providers("twilio", fail_next=[500, 503])
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    assert len(fake.calls) == 3 and len(fake.accepted) == 1
    message = the_message()
    assert message.status == "sent" and message.attempts == 3
    outcomes = list(MessageAttempt.objects.values_list("outcome", flat=True))
    assert outcomes == ["retryable", "retryable", "sent"]


def test_gateway_timing_out_fails_over_to_the_next(setup, providers):
    slow = providers("twilio", hang_seconds=1.0)
    backup = providers("vonage")
    api = setup(
        make_gateway(slow, settings={"timeout": 0.2, "max_retries": 1}), make_gateway(backup)
    )
    api.send(recipient=PHONE)
    message = the_message()
    assert message.status == "sent"
    assert message.gateway.kind == "vonage"
    attempts = list(MessageAttempt.objects.values_list("gateway__kind", "outcome", "error"))
    assert [(k, o) for k, o, _ in attempts] == [
        ("twilio", "retryable"),
        ("twilio", "retryable"),
        ("vonage", "sent"),
    ]
    assert "timeout" in attempts[0][2]
    assert len(backup.accepted) == 1


def test_permanent_error_is_not_retried_and_fails_the_verification(setup, providers):
    fake = providers("twilio", secret="provider-secret")
    gateway = make_gateway(fake)
    gateway.credentials = {"auth_token": "wrong"}
    gateway.save()
    api = setup(gateway)
    sent = api.send(recipient=PHONE).json()
    assert len(fake.calls) == 1
    message = the_message()
    assert message.status == "failed"
    assert "20003" in message.last_error
    assert Verification.objects.get().status == "failed"
    assert api.status(sent["id"]).json()["status"] == "failed"
    assert api.verify(id=sent["id"], code="123456").json()["error"]["code"] == (
        "verification_failed"
    )


def test_permanent_error_fails_over_without_retrying(setup, providers):
    bad = providers("vonage", secret="x")
    good = providers("twilio")
    bad_gateway = make_gateway(bad)
    bad_gateway.credentials = {"api_secret": "wrong"}
    bad_gateway.save()
    api = setup(bad_gateway, make_gateway(good))
    api.send(recipient=PHONE)
    assert len(bad.calls) == 1 and len(good.accepted) == 1
    assert the_message().status == "sent"


def test_voice_goes_only_to_gateways_that_carry_voice(setup, providers):
    sms_only = providers("vonage")
    voice = providers("twilio")
    api = setup(make_gateway(sms_only), make_gateway(voice))
    api.send(recipient=PHONE, channel="voice")
    assert sms_only.calls == [] and len(voice.accepted) == 1


def test_a_duplicate_task_sends_once(setup, providers):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    assert services.deliver_message(the_message().id) is None
    assert len(fake.calls) == 1


def kannel_receipt(client, gateway: Gateway, message_id, dlr_type: str, answer: str = ""):
    url = reverse(
        "gateways:receipt", kwargs={"gateway_id": gateway.pk, "secret": gateway.receipt_secret}
    )
    return client.get(url, {"id": str(message_id), "type": dlr_type, "answer": answer})


@pytest.mark.parametrize("state", ["sent", "sending"])
def test_a_receipt_of_another_accounts_gateway_changes_nothing(db, client, state):
    """Account B knows its own Kannel receipt URL and guesses (or learns) the id of
    account A's message: its receipt is answered like one for an unknown message."""
    accounts = {name: factories.make_account(name=name) for name in ("A", "B")}
    gateways = {}
    for name, account in accounts.items():
        gateways[name] = Gateway.objects.create(
            name=f"kannel-{name}",
            kind="kannel",
            settings={"url": "http://127.0.0.1:9/", "username": name},
            credentials={"password": f"pw-{name}"},
        )
        factories.add_route_hop(account, gateways[name])
    message = OutboundMessage.objects.create(
        account=accounts["A"], channel="sms", recipient=PHONE, text="Code 1234", status=state
    )
    if state == "sent":
        OutboundMessage.objects.filter(id=message.id).update(
            gateway=gateways["A"], provider_message_id=str(message.id)
        )

    answer = kannel_receipt(client, gateways["B"], message.id, "16", "B's words")
    assert answer.status_code == 200  # a provider must not retry it forever
    assert (the_message().status, the_message().last_error) == (state, "")

    assert kannel_receipt(client, gateways["A"], message.id, "1").status_code == 200
    assert the_message().status == "delivered"


# --- Codes that no longer count -----------------------------------------------------------


@pytest.fixture
def broker_backlog(monkeypatch):
    """Deliveries published but not yet picked up by a worker: their message ids (a
    batch trigger stands for the messages queued when it was published)."""
    backlog = []

    def trigger(channel):
        queued = OutboundMessage.objects.filter(status="queued", channel=channel)
        backlog.extend(i for i in queued.order_by("created_at").values_list("id", flat=True)
                       if i not in backlog)  # fmt: skip
        return True

    monkeypatch.setattr(
        services, "publish", lambda message_id, *_, **__: backlog.append(message_id) or True
    )
    monkeypatch.setattr(services, "trigger_batch", trigger)
    return backlog


def test_a_canceled_verifications_queued_message_is_never_sent(setup, providers, broker_backlog):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    sent = api.send(recipient=PHONE).json()
    assert api.cancel(sent["id"]).status_code == 200
    # Canceled with its verification, in the same transaction: the task finds nothing.
    assert [services.deliver_message(message_id) for message_id in broker_backlog] == [None]
    assert fake.calls == []
    message = the_message()
    assert message.status == "canceled" and MessageAttempt.objects.count() == 0
    assert "*" * 6 in message.text  # the code is gone from the stored text


def test_a_replaced_codes_queued_message_is_never_sent(setup, providers, broker_backlog):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    first = api.send(recipient=PHONE).json()
    api.send(recipient=PHONE)
    outcomes = [services.deliver_message(message_id) for message_id in broker_backlog]
    assert outcomes == [None, "sent"]
    assert len(fake.calls) == 1
    assert OutboundMessage.objects.get(verification_id=first["id"]).status == "canceled"


def test_a_message_claimed_after_its_code_expired_is_canceled(setup, providers, broker_backlog):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    past = timezone.now() - timedelta(seconds=1)  # the code's time to live went by
    Verification.objects.update(expires_at=past)
    OutboundMessage.objects.update(expires_at=past)
    assert services.deliver_message(broker_backlog[0]) == "canceled"
    assert fake.calls == []


def test_a_code_decided_while_its_message_was_being_sent_is_masked_once_sent(
    setup, providers, broker_backlog, monkeypatch
):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    sent = api.send(recipient=PHONE).json()
    code = code_from(the_message().text)
    real_send = twilio.TwilioAdapter.send

    def send_then_cancel(adapter, message):
        provider_id = real_send(adapter, message)
        assert api.cancel(sent["id"]).status_code == 200  # while the provider call ran
        return provider_id

    monkeypatch.setattr(twilio.TwilioAdapter, "send", send_then_cancel)
    assert services.deliver_message(broker_backlog[0]) == "sent"
    assert code not in the_message().text and "*" * 6 in the_message().text


def test_the_expiry_sweep_masks_the_codes_of_sent_messages(setup, providers):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    code = code_from(the_message().text)
    assert services.forget_expired_codes() == 0
    OutboundMessage.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.forget_expired_codes() == 1
    assert code not in the_message().text and the_message().status == "sent"


# --- Exactly once, as far as each provider allows -------------------------------------------


def test_a_send_is_recorded_even_when_the_database_drops_the_write(setup, providers, monkeypatch):
    from django.db import OperationalError

    from gateways.models import OutboundMessageQuerySet

    fake = providers("twilio")
    api = setup(make_gateway(fake))
    real_mark_sent = OutboundMessageQuerySet.mark_sent
    drops = []

    def drop_twice(queryset, **kwargs):
        if len(drops) < 2:
            drops.append(1)
            raise OperationalError("terminating connection due to administrator command")
        return real_mark_sent(queryset, **kwargs)

    monkeypatch.setattr(OutboundMessageQuerySet, "mark_sent", drop_twice)
    api.send(recipient=PHONE)
    assert the_message().status == "sent" and len(drops) == 2
    assert len(fake.calls) == 1
    assert MessageAttempt.objects.filter(outcome="sent").count() == 1
    assert the_message().attempts == 1


def lose_the_worker(message: OutboundMessage) -> None:
    """What a worker killed during the provider call leaves: a claim past its lease."""
    old = timezone.now() - timedelta(hours=1)
    OutboundMessage.objects.filter(id=message.id).update(
        status="sending", claimed_at=old, updated_at=old
    )


def test_a_lost_send_the_provider_took_is_recorded_not_sent_again(setup, providers):
    fake = providers("webhook")
    api = setup(make_gateway(fake, settings={"status_url": fake.url + "/status"}))
    api.send(recipient=PHONE)
    lose_the_worker(the_message())
    services.requeue_stale_messages()
    assert fake.lookups == [str(the_message().id)]
    assert len(fake.calls) == 1
    assert the_message().status == "sent" and not the_message().possibly_duplicated


def test_a_lost_send_the_provider_never_got_is_sent(setup, providers, broker_backlog):
    fake = providers("webhook")
    api = setup(make_gateway(fake, settings={"status_url": fake.url + "/status"}))
    api.send(recipient=PHONE)
    lose_the_worker(the_message())  # before the provider call
    services.requeue_stale_messages()
    assert services.deliver_message(broker_backlog[-1]) == "sent"
    assert len(fake.accepted) == 1 and not the_message().possibly_duplicated


def test_a_lost_webhook_send_is_sent_again_under_the_same_idempotency_key(setup, providers):
    fake = providers("webhook")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    lose_the_worker(the_message())
    services.requeue_stale_messages()
    assert [call.headers["Idempotency-Key"] for call in fake.calls] == [str(the_message().id)] * 2
    assert len(fake.accepted) == 1  # the provider took it once
    assert the_message().status == "sent" and not the_message().possibly_duplicated


def test_at_least_once_resends_a_lost_send_and_marks_it_possibly_duplicated(setup, providers):
    fake = providers("twilio")
    api = setup(make_gateway(fake))
    api.send(recipient=PHONE)
    lose_the_worker(the_message())
    services.requeue_stale_messages()
    assert len(fake.accepted) == 2
    assert the_message().status == "sent" and the_message().possibly_duplicated


def test_at_most_once_never_resends_a_lost_send(setup, providers):
    fake = providers("twilio")
    api = setup(make_gateway(fake, delivery_guarantee="at_most_once"))
    sent = api.send(recipient=PHONE).json()
    lose_the_worker(the_message())
    assert services.requeue_stale_messages() == 0
    assert len(fake.accepted) == 1
    assert the_message().status == "failed" and "outcome unknown" in the_message().last_error
    # It may well have arrived: the code still works.
    assert Verification.objects.get(id=sent["id"]).status == "pending"


# --- Housekeeping -----------------------------------------------------------------------------


def test_requeue_sends_messages_left_queued(account, providers):
    fake = providers("twilio")
    factories.add_route_hop(account, make_gateway(fake))
    message = OutboundMessage.objects.create(
        account=account, channel="sms", recipient=PHONE, sender="Acme", text="Code 1234"
    )
    OutboundMessage.objects.filter(id=message.id).update(
        updated_at=timezone.now() - timedelta(minutes=5)
    )
    assert services.requeue_stale_messages() == 1
    assert the_message().status == "sent" and len(fake.accepted) == 1


def test_requeue_releases_claims_of_dead_workers_only_after_the_lease(account, providers):
    fake = providers("twilio")
    factories.add_route_hop(account, make_gateway(fake))
    message = OutboundMessage.objects.create(
        account=account, channel="sms", recipient=PHONE, sender="Acme", text="Code 1234"
    )
    recent = timezone.now() - timedelta(seconds=5)
    OutboundMessage.objects.filter(id=message.id).update(status="sending", claimed_at=recent)
    assert services.requeue_stale_messages() == 0
    assert the_message().status == "sending"
    old = timezone.now() - timedelta(hours=1)
    OutboundMessage.objects.filter(id=message.id).update(claimed_at=old, updated_at=old)
    services.requeue_stale_messages()
    assert the_message().status == "sent" and len(fake.accepted) == 1


def test_expiry_and_pruning(account, settings):
    from otp import housekeeping

    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    OtpClient(token).send(recipient=PHONE)
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert housekeeping.expire_verifications() == 1
    assert Verification.objects.get().status == "expired"
    Verification.objects.update(created_at=timezone.now() - timedelta(days=91))
    OutboundMessage.objects.update(created_at=timezone.now() - timedelta(days=91))
    assert housekeeping.prune_verifications() == 1
    assert services.prune_messages() == 0  # deleted with their verification
    assert not OutboundMessage.objects.exists()


def test_a_gateway_at_its_rate_gives_the_next_message_back_until_the_next_second(
    account, providers, monkeypatch
):
    fake = providers("twilio")
    factories.add_route_hop(account, make_gateway(fake, rate_per_second=1))
    requeued = []
    monkeypatch.setattr(services, "publish", lambda *_, countdown: requeued.append(countdown))
    first, second = (
        OutboundMessage.objects.create(
            account=account, channel="sms", recipient=PHONE, sender="Acme", text="Code 1234"
        )
        for _ in range(2)
    )
    time.sleep(1 - time.time() % 1)  # both deliveries inside one second
    assert services.deliver_message(first.id) == "sent"
    assert services.deliver_message(second.id) == "queued"
    assert len(fake.accepted) == 1
    assert 0 < requeued[0] <= 1.2  # the rest of this second, plus a little jitter


def test_webhook_voice_call_carries_the_script_and_its_ssml(account, providers):
    fake = providers("webhook")
    gateway = make_gateway(fake)
    Gateway.objects.filter(pk=gateway.pk).update(supports_voice=True)
    factories.add_route_hop(account, gateway)
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account, "Acme"), voice_repeat=3
    )
    sent = OtpClient(token).send(recipient=PHONE, channel="voice")
    assert sent.status_code == 201, sent.content
    [call] = fake.accepted
    body = json.loads(call.body)
    assert body["voice_language"] == "en"
    voice = body["voice"]
    assert (voice["repeat"], voice["rate"], voice["intro"]) == (
        3,
        "slow",
        "Hello. Here is your verification code.",
    )
    assert voice["pieces"] == ["Your code is ", ""]
    assert len(voice["code"]) == 6
    assert body["ssml"].startswith('<prosody rate="slow">Hello.')
    assert body["ssml"].count('<break time="400ms"/>') == 6 * 3
