"""A soak at a steady rate against a live gunicorn: sends, wrong guesses and status
reads, with the server's memory (gunicorn and its workers, from /proc) sampled every
second. After the warm-up third, memory must stay flat and no answer may be other
than expected.

CI runs 30 s (``OTP_SOAK_SECONDS``). The long form, five minutes::

    OTP_SOAK_SECONDS=300 pytest tests/test_soak.py -s
"""

import os
import statistics
import threading
import time
from collections import Counter

import pytest
import requests

from tests.support import factories
from tests.support.live import Server
from tests.support.services import require_postgres, worker_env

pytestmark = [pytest.mark.services, pytest.mark.slow]

SECONDS = float(os.environ.get("OTP_SOAK_SECONDS", "30"))
RATE = float(os.environ.get("OTP_SOAK_RATE", "30"))  # requests per second
# Growth allowed from the end of the warm-up to the end, whole process tree.
MAX_GROWTH_BYTES = int(os.environ.get("OTP_SOAK_MAX_GROWTH_MB", "16")) * 2**20
RECIPIENTS = [f"+1415555{n:04d}" for n in range(2600, 2700)]


def test_steady_load_keeps_memory_flat_and_answers_everything(transactional_db):
    require_postgres()
    account = factories.make_account()
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    env = worker_env(CELERY_TASK_ALWAYS_EAGER="true", LOG_LEVEL="ERROR")
    unexpected: list[str] = []
    latencies: list[float] = []
    counts: Counter = Counter()
    samples: list[tuple[float, int]] = []

    with Server(env) as server:
        stop = threading.Event()
        session_headers = {"Authorization": f"Bearer {token}"}

        def call(session, method, path, expected, **kwargs):
            started = time.monotonic()
            try:
                response = session.request(method, server.url + path, timeout=10, **kwargs)
            except requests.RequestException as exc:
                unexpected.append(f"{method} {path}: {exc!r}")
                return None
            latencies.append(time.monotonic() - started)
            counts[response.status_code] += 1
            if response.status_code != expected:
                unexpected.append(f"{method} {path}: {response.status_code} {response.text}")
                return None
            return response.json()

        def client(index: int, threads: int) -> None:
            session = requests.Session()
            session.headers.update(session_headers)
            interval = threads / RATE
            begin, n = time.monotonic(), 0
            while not stop.is_set():
                recipient = RECIPIENTS[(index + n * threads) % len(RECIPIENTS)]
                kind = n % 3
                if kind == 0:
                    body = {"recipient": recipient, "event": "login"}
                    sent = call(session, "POST", "/api/v1/otp/send", 201, json=body)
                    last_id = sent["id"] if sent else None
                elif kind == 1 and last_id:
                    guess = {"id": last_id, "code": "0000000"}
                    call(session, "POST", "/api/v1/otp/verify", 400, json=guess)
                elif last_id:
                    call(session, "GET", f"/api/v1/otp/{last_id}", 200)
                n += 1
                pause = begin + n * interval - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

        threads = [threading.Thread(target=client, args=(i, 3)) for i in range(3)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        while time.monotonic() - started < SECONDS:
            samples.append((time.monotonic() - started, server.rss_bytes()))
            time.sleep(1)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started

    assert unexpected == [], unexpected[:10]
    requests_made = sum(counts.values())
    assert requests_made >= 0.8 * RATE * SECONDS, (requests_made, "the load kept its rate")
    warm = [rss for t, rss in samples if t >= SECONDS / 3]
    settled = statistics.median(warm[:3])
    final = statistics.median(warm[-3:])
    growth = final - settled
    p99 = sorted(latencies)[int(len(latencies) * 0.99) - 1]
    print(
        f"soak {elapsed:.0f} s at {requests_made / elapsed:.1f} req/s: {requests_made} "
        f"requests, 0 errors, p99 {p99 * 1000:.0f} ms, memory {settled / 2**20:.1f} -> "
        f"{final / 2**20:.1f} MB (growth {growth / 2**20:+.1f} MB)"
    )
    assert growth < MAX_GROWTH_BYTES
