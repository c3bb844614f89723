"""Faults with real processes: a broker that goes away while sends are accepted, a
worker killed in the middle of a delivery, database connections killed during a send
burst. Afterwards every accepted message is delivered, exactly once where the provider
allows it, and each possible duplicate is marked."""

import json
import os
import signal
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests
from django.db import connection

from gateways.models import Gateway, MessageAttempt, OutboundMessage
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
    """The webhook: resent under the same Idempotency-Key, taken once."""
    provider = FakeProvider("webhook", hang_seconds=20, hang_first=1)
    try:
        account = factories.make_account()
        gateway = Gateway.objects.create(
            name="in-house",
            kind="webhook",
            settings={"url": provider.url + "/send", "timeout": 60},
            credentials={"signing_secret": provider.secret},
        )
        factories.add_route_hop(account, gateway)
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


class Burst:
    """``threads`` threads sending auth requests as fast as answered, each to its own
    recipients (a repeated recipient would cancel its earlier code)."""

    def __init__(self, stack, token: str, threads: int = 8):
        self.stack, self.token = stack, token
        self.answers: list[int] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        n = 0
        while not self.stopping.is_set():
            recipient = f"+1415555{index * 1000 + n:04d}"
            n += 1
            try:
                response = session.post(
                    f"{self.stack.api}/send",
                    json={"recipient": recipient, "event": "login"},
                    timeout=30,
                )
                self.answers.append(response.status_code)
            except requests.RequestException:
                self.answers.append(0)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()


class ConnectionKiller:
    """Terminates every connection of the application to the test database (API
    server, worker, beat) every ``every`` seconds, as a failover or a DBA would."""

    def __init__(self, every: float = 0.3):
        settings = connection.settings_dict
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.spared = cursor.fetchone()[0]  # the test's own connection
        self.conninfo = (
            f"host={settings['HOST'] or '127.0.0.1'} port={settings['PORT'] or 5432} "
            f"user={settings['USER']} dbname={settings['NAME']}"
        )
        self.every, self.killed = every, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as killer:
            while not self.stopping.wait(self.every):
                rows = killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND pid <> %s",
                    [self.spared],
                ).fetchall()
                self.killed += len(rows)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()


def webhook_gateway(account, provider: FakeProvider, **settings) -> Gateway:
    gateway = Gateway.objects.create(
        name="in-house",
        kind="webhook",
        settings={"url": provider.url + "/send", **settings},
        credentials={"signing_secret": provider.secret},
    )
    factories.add_route_hop(account, gateway)
    return gateway


def test_database_connections_killed_during_a_send_burst_lose_and_duplicate_nothing(stack):
    """8 threads send for 12 s while every connection of the API server and the worker
    is killed every 0.3 s. Every message written reaches the provider, and none twice:
    the calls are counted per message id, before the provider's own deduplication."""
    provider = FakeProvider("webhook")
    try:
        account = factories.make_account()
        webhook_gateway(account, provider)
        _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
        # A claim lost with its connection is settled after the lease; long enough for
        # a worker to record what it sent while connections keep dying.
        stack.worker(beat=True, concurrency=4, **{**RECOVERY, "GATEWAY_CLAIM_LEASE_SECONDS": "8"})
        with Burst(stack, token) as burst, ConnectionKiller() as killer:
            time.sleep(12)
        wait_for(
            lambda: not OutboundMessage.objects.exclude(status="sent").exists(),
            timeout=90,
            message=lambda: Counter(OutboundMessage.objects.values_list("status", flat=True)),
        )
        time.sleep(2)  # nothing more arrives late
        answers = Counter(burst.answers)
        calls = Counter(json.loads(call.body)["id"] for call in provider.calls)
        written = {str(i) for i in OutboundMessage.objects.values_list("id", flat=True)}
        print(
            f"answers {dict(answers)}, connections killed {killer.killed}, "
            f"messages {len(written)}, provider calls {sum(calls.values())}"
        )
        assert set(answers) <= {201, 503}, answers
        assert answers[201] >= 20 and killer.killed > 20  # a burst, and kills within it
        assert set(calls) == written  # 0 lost
        assert [i for i, n in calls.items() if n > 1] == []  # 0 duplicated
        assert not OutboundMessage.objects.filter(possibly_duplicated=True).exists()
        assert MessageAttempt.objects.filter(outcome="sent").count() == len(written)
    finally:
        provider.close()


def test_a_worker_killed_mid_batch_duplicates_only_in_flight_messages_each_marked(stack):
    """A provider that can neither be asked nor deduplicates (Twilio, at least once),
    taking 1 s per message; the worker (4 processes) is SIGKILLed in the middle of a
    batch of 16. Every message arrives; those that arrive twice were in flight at the
    kill, and each is marked possibly duplicated."""
    provider = FakeProvider("twilio", hang_seconds=1.0)
    try:
        account = factories.make_account()
        gateway = Gateway.objects.create(
            name="twilio",
            kind="twilio",
            settings={
                "account_sid": provider.account,
                "api_base": provider.url,
                "from": "+15005550006",
            },
            credentials={"auth_token": provider.secret},
        )
        factories.add_route_hop(account, gateway)
        _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
        doomed = stack.worker(concurrency=4)
        recipients = [f"+1415555{n:04d}" for n in range(2600, 2616)]
        for recipient in recipients:
            assert send(stack, token, recipient).status_code == 201
        wait_for(lambda: len(provider.calls) >= 6, timeout=30)
        in_flight = len(provider.calls) - len(provider.accepted)
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait()

        stack.worker(beat=True, concurrency=4, **RECOVERY)
        wait_for(
            lambda: OutboundMessage.objects.filter(status="sent").count() == 16,
            timeout=90,
            message=lambda: Counter(OutboundMessage.objects.values_list("status", flat=True)),
        )
        time.sleep(2)
        arrived = Counter(call.form["To"] for call in provider.accepted)
        twice = {to for to, n in arrived.items() if n > 1}
        marked = set(
            OutboundMessage.objects.filter(possibly_duplicated=True).values_list(
                "recipient", flat=True
            )
        )
        print(
            f"in flight at the kill {in_flight}, arrived twice {len(twice)}, marked {len(marked)}"
        )
        assert set(arrived) == set(recipients)  # 0 lost
        assert max(arrived.values()) <= 2
        assert twice <= marked  # every duplicate is marked
        assert len(marked) <= 4  # only what the 4 processes had in flight
    finally:
        provider.close()
