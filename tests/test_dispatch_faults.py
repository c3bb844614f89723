"""Faults with real processes: a broker that goes away while sends are accepted, and a
worker killed in the middle of a delivery. Afterwards every accepted message is
delivered exactly once."""

import os
import signal

import pytest
import requests

from gateways.models import Gateway, MessageAttempt, OutboundMessage, Route
from tests.support import factories
from tests.support.live import Server
from tests.support.providers import FakeProvider
from tests.support.services import (
    free_port,
    require_postgres,
    require_redis,
    start_redis,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

RECOVERY = {
    "GATEWAY_REQUEUE_EVERY_SECONDS": "1",
    "GATEWAY_REQUEUE_AFTER_SECONDS": "1",
    "GATEWAY_CLAIM_LEASE_SECONDS": "2",
}


@pytest.fixture
def stack(transactional_db):
    """A private broker, the API in its own process publishing to it, and a way to
    start workers on it; all stopped afterwards."""
    require_postgres()
    require_redis()
    broker_port = free_port()
    broker_url = f"redis://127.0.0.1:{broker_port}/0"
    procs = {"broker": start_redis(broker_port)}
    server = Server(
        worker_env(CELERY_BROKER_URL=broker_url, OTP_API_RATE_PER_TOKEN="", OTP_API_RATE_PER_IP="")
    ).start()
    workers = []

    class Stack:
        api = f"{server.url}/api/v1/otp"

        @staticmethod
        def stop_broker():
            procs["broker"].terminate()
            procs["broker"].wait()

        @staticmethod
        def start_broker():
            procs["broker"] = start_redis(broker_port)

        @staticmethod
        def worker(**env):
            proc = start_worker(CELERY_BROKER_URL=broker_url, purge=False, **env)
            workers.append(proc)
            return proc

    yield Stack
    for proc in workers:
        stop_worker(proc, signal.SIGKILL)
    server.close()
    procs["broker"].terminate()


def send(stack, token: str, recipient: str) -> requests.Response:
    return requests.post(
        f"{stack.api}/send",
        json={"recipient": recipient, "event": "login"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


def test_sends_accepted_while_the_broker_is_down_are_delivered_once_it_is_back(stack):
    account = factories.make_account()
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    stack.stop_broker()
    recipients = [f"+1415555{n:04d}" for n in range(2671, 2676)]
    answers = [send(stack, token, r) for r in recipients]
    assert [a.status_code for a in answers] == [201] * 5
    assert OutboundMessage.objects.filter(status="queued").count() == 5

    stack.start_broker()
    stack.worker(beat=True, **RECOVERY)
    wait_for(lambda: OutboundMessage.objects.filter(status="sent").count() == 5, timeout=60)
    for message in OutboundMessage.objects.all():
        assert message.attempt_log.filter(outcome="sent").count() == 1


def test_a_worker_killed_mid_delivery_leaves_the_message_delivered_exactly_once(stack):
    provider = FakeProvider("webhook", hang_seconds=20, hang_first=1)
    try:
        account = factories.make_account()
        gateway = Gateway.objects.create(
            name="in-house",
            kind="webhook",
            settings={"url": provider.url + "/send", "timeout": 60},
            credentials={"signing_secret": provider.secret},
        )
        Route.objects.create(account=account, gateway=gateway)
        _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
        doomed = stack.worker()
        assert send(stack, token, "+14155552671").status_code == 201
        wait_for(lambda: len(provider.calls) == 1, timeout=30)
        os.killpg(doomed.pid, signal.SIGKILL)  # mid-request to the gateway
        doomed.wait()
        assert OutboundMessage.objects.get().status == "sending"

        stack.worker(beat=True, **RECOVERY)
        message = wait_for(
            lambda: OutboundMessage.objects.filter(status="sent").first(), timeout=60
        )
        assert len(provider.accepted) == 1
        assert MessageAttempt.objects.filter(message=message, outcome="sent").count() == 1
    finally:
        provider.close()
