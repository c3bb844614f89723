"""Signed event webhooks: an outbox row per event in the state change's transaction,
delivered by the worker in order per verification, retried with backoff through a
receiver's outage; the console's delivery log, redelivery and test event."""

import time

import pytest
from django.test import TestCase

from streams import services as stream_services
from streams import webhooks
from streams.models import WebhookDelivery, WebhookEvent
from tests.support import factories
from tests.support.live import free_port
from tests.support.otp_client import OtpClient, code_from, outbox
from tests.support.services import start_worker, stop_worker, wait_for
from tests.support.webhook_receiver import received, start

PHONE = "+14155552671"


@pytest.fixture
def receiver(tmp_path):
    """A receiver process; ``receiver.stop()`` / ``receiver.restart()`` make an outage."""

    class Receiver:
        port = free_port()
        log = tmp_path / "received.jsonl"
        secret = ""
        proc = None

        def start(self):
            self.proc = start(self.port, self.secret, self.log)

        def stop(self):
            self.proc.terminate()
            self.proc.wait()

        def events(self):
            return received(self.log)

    r = Receiver()
    yield r
    if r.proc and r.proc.poll() is None:
        r.stop()


def make_api(account, receiver) -> OtpClient:
    stream, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    endpoint = stream_services.save_webhook_endpoint(
        stream=stream, url=f"http://127.0.0.1:{receiver.port}/hooks"
    )
    receiver.secret = endpoint.secret
    receiver.endpoint = endpoint
    receiver.start()
    api = OtpClient(token)
    api.stream = stream
    return api


def approve(api, vid):
    code = code_from(outbox(PHONE)[0].text)
    return api.verify(id=vid, code=code)


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
class TestEvents:
    def test_pending_and_approved_arrive_signed_and_in_order(self, account, receiver):
        api = make_api(account, receiver)
        vid = api.send(recipient=PHONE).json()["id"]
        assert approve(api, vid).status_code == 200
        events = wait_for(lambda: len(receiver.events()) == 2 and receiver.events())
        assert [e["type"] for e in events] == ["verification.pending", "verification.approved"]
        assert all(e["signature_ok"] and e["verification"] == vid for e in events)

    def test_each_ending_has_its_event(self, account, receiver):
        api = make_api(account, receiver)
        first = api.send(recipient=PHONE).json()["id"]
        second = api.send(recipient=PHONE).json()["id"]  # replaces the first
        api.cancel(second)
        wait_for(lambda: len(receiver.events()) == 4)
        seen = [(e["type"], e["verification"]) for e in receiver.events()]
        assert seen == [
            ("verification.pending", first),
            ("verification.canceled", first),
            ("verification.pending", second),
            ("verification.canceled", second),
        ]

    def test_a_wrong_signature_is_refused_by_the_documented_recipe(self):
        body = b'{"id":"x"}'
        header = webhooks.sign("the-secret", body)
        assert webhooks.verify_signature("the-secret", body, header)
        assert not webhooks.verify_signature("another", body, header)
        assert not webhooks.verify_signature("the-secret", body + b" ", header)
        old = webhooks.sign("the-secret", body, timestamp=int(time.time()) - 301)
        assert not webhooks.verify_signature("the-secret", body, old)

    def test_the_event_is_written_with_the_change_even_when_the_broker_is_down(
        self, account, receiver, monkeypatch
    ):
        api = make_api(account, receiver)
        monkeypatch.setattr(webhooks, "publish", lambda *a, **k: False)
        vid = api.send(recipient=PHONE).json()["id"]
        delivery = WebhookDelivery.objects.get(event__verification_id=vid)
        assert delivery.status == "pending" and receiver.events() == []
        monkeypatch.undo()
        WebhookDelivery.objects.update(created_at=delivery.created_at.replace(year=2000))
        with TestCase.captureOnCommitCallbacks(execute=True):
            assert webhooks.sweep() == 1
        wait_for(lambda: receiver.events())

    def test_a_budget_alert_reaches_the_streams_endpoints(self, account, receiver):
        from datetime import date

        from otp import webhooks as otp_webhooks
        from streams.models import Budget

        api = make_api(account, receiver)
        budget = Budget.objects.create(
            account=account, stream=api.stream, period="day", unit="messages", limit=15
        )
        with TestCase.captureOnCommitCallbacks(execute=True):
            otp_webhooks.budget_alert_received(
                budget=budget, percent=80, spent=12, period_start=date(2026, 11, 1)
            )
        (event,) = wait_for(lambda: receiver.events())
        assert event["type"] == "budget.alert" and event["signature_ok"]

    def test_no_endpoint_no_event(self, account):
        _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
        OtpClient(token).send(recipient=PHONE)
        assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("eager_tasks")
def test_console_delivery_log_redelivery_and_test_event(client, account, receiver):
    api = make_api(account, receiver)
    client.force_login(factories.make_user(account=account))
    base = f"/streams/{api.stream.public_id}/webhooks/"
    page = client.get(base)
    assert page.status_code == 200 and receiver.endpoint.url in page.content.decode()

    log_url = f"{base}{receiver.endpoint.pk}/"
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(log_url + "test/").status_code == 302
    wait_for(lambda: [e["type"] for e in receiver.events()] == ["test"])
    log = client.get(log_url).content.decode()
    assert "test" in log and "Delivered" in log

    delivery = WebhookDelivery.objects.get()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert client.post(f"{log_url}{delivery.pk}/redeliver/").status_code == 302
    wait_for(lambda: len(receiver.events()) == 2)
    assert receiver.events()[0]["id"] == receiver.events()[1]["id"]

    added = client.post(base, {"url": "not a url"})
    assert added.status_code == 200 and "Enter a valid URL" in added.content.decode()


# --- Real processes ------------------------------------------------------------------------


def _pending_and_approved(api, recipients):
    ids = []
    for phone in recipients:
        vid = api.send(recipient=phone).json()["id"]
        wait_for(lambda p=phone: outbox(p))
        code = code_from(outbox(phone)[0].text)
        assert api.verify(id=vid, code=code).status_code == 200
        ids.append(vid)
    return ids


def _in_order_per_verification(events, ids):
    for vid in ids:
        types = [e["type"] for e in events if e["verification"] == vid]
        assert types[:2] == ["verification.pending", "verification.approved"], (vid, types)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_ninety_five_percent_arrive_within_two_seconds(celery_worker, receiver):
    account = factories.make_account()
    api = make_api(account, receiver)
    recipients = [f"+1415555{2600 + i:04d}" for i in range(20)]
    ids = _pending_and_approved(api, recipients)
    wait_for(lambda: len(receiver.events()) >= 40, timeout=30)
    events = receiver.events()
    created = dict(WebhookEvent.objects.values_list("id", "created_at"))
    lags = sorted(
        e["received_at"] - created[__import__("uuid").UUID(e["id"])].timestamp() for e in events
    )
    assert lags[int(len(lags) * 0.95) - 1] < 2.0, lags
    assert all(e["signature_ok"] for e in events)
    _in_order_per_verification(events, ids)


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_every_event_arrives_in_order_after_a_receiver_outage(receiver):
    """The outage is WEBHOOK_TEST_OUTAGE_SECONDS long (20 s by default; a 5-minute run
    is documented in docs/api.md#webhooks), the backoff shortened to fit. The API runs in
    its own process on a private broker, so only this test's worker delivers."""
    import os

    import requests

    from tests.support.live import Server
    from tests.support.services import require_postgres, require_redis, start_redis, worker_env

    require_postgres()
    require_redis()
    outage = float(os.environ.get("WEBHOOK_TEST_OUTAGE_SECONDS", "20"))
    broker_port = free_port()
    broker_url = f"redis://127.0.0.1:{broker_port}/0"
    broker = start_redis(broker_port)
    retry = {
        "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
        "WEBHOOK_RETRY_MAX_SECONDS": str(max(2.0, outage / 30)),
        "WEBHOOK_SWEEP_EVERY_SECONDS": "2",
        "WEBHOOK_SWEEP_GRACE_SECONDS": "5",
    }
    server = Server(worker_env(CELERY_BROKER_URL=broker_url, **retry)).start()
    worker = start_worker(CELERY_BROKER_URL=broker_url, beat=True, purge=False, **retry)
    try:
        account = factories.make_account()
        stream, token = factories.make_stream(
            account, default_sender=factories.make_sender(account)
        )
        endpoint = stream_services.save_webhook_endpoint(
            stream=stream, url=f"http://127.0.0.1:{receiver.port}/hooks"
        )
        receiver.secret = endpoint.secret  # the receiver is down: the outage starts
        auth = {"Authorization": f"Bearer {token}"}
        started = time.monotonic()
        ids = []
        for phone in [f"+1415555{2700 + i:04d}" for i in range(10)]:
            sent = requests.post(
                f"{server.url}/api/v1/otp/send",
                json={"recipient": phone, "event": "login"},
                headers=auth,
                timeout=30,
            ).json()
            wait_for(lambda p=phone: outbox(p))
            code = code_from(outbox(phone)[0].text)
            verified = requests.post(
                f"{server.url}/api/v1/otp/verify",
                json={"id": sent["id"], "code": code},
                headers=auth,
                timeout=30,
            )
            assert verified.status_code == 200
            ids.append(sent["id"])
        time.sleep(max(0.0, outage - (time.monotonic() - started)))
        assert receiver.events() == []
        receiver.start()  # the receiver is back
        back = time.monotonic()
        wait_for(lambda: len({e["id"] for e in receiver.events()}) >= 20, timeout=120)
        caught_up = time.monotonic() - back
        events = receiver.events()
        assert len({e["id"] for e in events}) == WebhookEvent.objects.count() == 20
        assert all(e["signature_ok"] for e in events)
        _in_order_per_verification(events, ids)
        print(f"outage {outage:.0f} s: all 20 events delivered {caught_up:.1f} s after")
    finally:
        stop_worker(worker)
        server.close()
        broker.terminate()
