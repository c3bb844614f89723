"""The API while its database or cache is down, on a live gunicorn under load.

Both tests start private servers (a PostgreSQL cluster in a temporary directory, a
``redis-server``) on free ports (``tests.support.live.free_port``): the shared services are never
stopped. The worker-side faults (broker down, worker killed, gateway errors) are the
gateways' tests (docs/security.md lists them).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import requests

from tests.support import factories
from tests.support.live import ROOT, Server, free_port
from tests.support.services import (
    require_postgres,
    require_redis,
    start_redis,
    start_worker,
    stop_worker,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

# Enough that none repeats during a run: a repeated recipient would cancel its earlier
# code, and a canceled code's queued message is never sent.
RECIPIENTS = [f"+1415555{n:04d}" for n in range(10000)]


# --- A private PostgreSQL -------------------------------------------------------------


class PrivatePostgres:
    """initdb + pg_ctl in a temporary directory, as the postgres user when run as root
    (initdb refuses root)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        initdb = bins[-1] if bins else shutil.which("initdb")
        if not initdb:
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are needed")
        self.bin = Path(initdb).parent
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="otp-pg-"))
        self.as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_owner:
            shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/otp"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_owner, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-U", "postgres",
            "-A", "trust", "--no-sync",
        )  # fmt: skip
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "otp")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-o", options,
            "-l", str(self.dir / "log"), "-w", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("fast")
        shutil.rmtree(self.dir, ignore_errors=True)


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    ).stdout


class Load:
    """Threads sending auth requests at a steady pace, recording every answer."""

    def __init__(self, url: str, token: str, threads: int = 4, pause: float = 0.02):
        self.url, self.token, self.pause = url, token, pause
        self.answers: list[tuple[float, int, dict, dict]] = []
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, index: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        n = index
        while not self.stopping.is_set():
            body = {
                "recipient": RECIPIENTS[n % len(RECIPIENTS)],
                "event": "login",
                "variables": {"first_name": "Ada"},
            }
            n += len(self.threads)
            try:
                response = session.post(f"{self.url}/api/v1/otp/send", json=body, timeout=15)
                answer = (time.monotonic(), response.status_code, response.json(), response.headers)
            except (requests.RequestException, ValueError) as exc:
                answer = (time.monotonic(), 0, {"exception": repr(exc)}, {})
            self.answers.append(answer)
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join()

    def since(self, moment: float) -> list:
        return [a for a in self.answers if a[0] >= moment]


@pytest.fixture
def private_postgres():
    db = PrivatePostgres().init()
    yield db
    db.destroy()


# Recovery settings of the dispatcher (docs/operations.md), shortened for the test.
RECOVERY = {
    "GATEWAY_REQUEUE_EVERY_SECONDS": "1",
    "GATEWAY_REQUEUE_AFTER_SECONDS": "1",
    "GATEWAY_CLAIM_LEASE_SECONDS": "2",
}


def test_postgres_down_answers_503_then_recovers_and_loses_nothing(private_postgres, tmp_path):
    """The whole stack on a private PostgreSQL: gunicorn, a private Redis broker and a
    Celery worker with beat. The database crashes under load and comes back."""
    require_redis()
    broker = start_redis(free_port())
    env = {
        "DATABASE_URL": private_postgres.url,
        "REDIS_URL": "",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{broker.args[2]}/0",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "VAR_DIR": str(tmp_path),
        "OTP_HASH_KEY": "private-postgres-test-hash-key",
        "SECRET_KEY": "private-postgres-test-secret-key",
        "OTP_ENCRYPTION_KEYS": "private-postgres-test-encryption-key",
        "OTP_API_RATE_PER_TOKEN": "",
        "OTP_API_RATE_PER_IP": "",
        "LOG_LEVEL": "CRITICAL",
        **RECOVERY,
    }
    worker = None
    try:
        manage(env, "migrate", "--noinput", "-v0")
        token = next(
            line.split()[-1] for line in manage(env, "demo").splitlines() if "API token" in line
        )
        worker = start_worker(purge=False, beat=True, **env)
        with Server(env) as server, Load(server.url, token) as load:
            time.sleep(2)
            stopping = time.monotonic()
            private_postgres.stop()  # a crash: no shutdown checkpoint
            down = time.monotonic()
            time.sleep(3)
            private_postgres.start()
            up = time.monotonic()
            time.sleep(3)
            recovered = time.monotonic()
            time.sleep(2)

        statuses = Counter(status for _, status, _, _ in load.answers)
        assert set(statuses) <= {201, 503}, statuses
        before = [a for a in load.answers if a[0] < stopping]
        assert before and all(status == 201 for _, status, _, _ in before)
        during = [a for a in load.answers if down + 0.5 < a[0] < up]
        assert during, "requests were made while the database was down"
        assert any(status == 503 for _, status, _, _ in during)
        for _, status, body, headers in during:
            if status == 201:
                # Committed just before the crash, answered after it: it must be
                # stored and delivered, checked below.
                continue
            assert status == 503
            assert body["error"]["code"] == "service_unavailable"
            assert int(headers["Retry-After"]) > 0
        after = load.since(recovered)
        assert after and all(status == 201 for _, status, _, _ in after), Counter(
            s for _, s, _, _ in after
        )

        accepted = {body["id"] for _, status, body, _ in load.answers if status == 201}
        url = private_postgres.url.replace("postgres://", "postgresql://")

        def outcomes() -> dict[str, tuple[str, int, str]]:
            with psycopg.connect(url) as conn:
                rows = conn.execute(
                    "SELECT m.verification_id, m.status, m.last_error, "
                    "(SELECT count(*) FROM gateways_messageattempt a "
                    " WHERE a.message_id = m.id AND a.outcome = 'sent') "
                    "FROM gateways_outboundmessage m"
                )
                return {str(v): (status, sent, error) for v, status, error, sent in rows}

        def settled():
            seen = outcomes()
            waiting = [v for v in accepted if seen.get(v, ("",))[0] not in ("sent", "failed")]
            return None if waiting else seen

        seen = wait_for(settled, timeout=90, interval=0.5, message=lambda: Counter(
            status for status, _, _ in outcomes().values()
        ))  # fmt: skip
        with psycopg.connect(url) as conn:
            stored = {str(row[0]) for row in conn.execute("SELECT id FROM otp_verification")}
    finally:
        if worker is not None:
            stop_worker(worker)
        broker.terminate()
        broker.wait()

    assert accepted <= stored, f"{len(accepted - stored)} accepted verifications were lost"
    delivered = [v for v in accepted if seen[v][0] == "sent"]
    failed = [v for v in accepted if seen[v][0] == "failed"]
    assert all(seen[v][1] == 1 for v in delivered), "each delivered message was sent once"
    assert all(seen[v][2] for v in failed), "a failed message says why"
    print(
        f"postgres down {up - down:.1f} s under load: {len(load.answers)} requests, "
        f"{statuses[201]} accepted (all stored; {len(delivered)} delivered exactly once, "
        f"{len(failed)} failed with a reason), {statuses[503]} answered 503, 0 errors"
    )


# --- A private Redis (the cache) ----------------------------------------------------------


def redis_command(port: int) -> list[str]:
    return ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        pytest.fail("redis-server is needed")
    port = free_port()
    proc = subprocess.Popen(redis_command(port), stdout=subprocess.DEVNULL)

    def ping() -> bool:
        try:
            return (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"],
                    capture_output=True,
                    text=True,
                    timeout=2,
                ).stdout.strip()
                == "PONG"
            )
        except subprocess.TimeoutExpired:
            return False

    for _ in range(50):
        if ping():
            break
        time.sleep(0.1)
    yield port, proc
    if proc.poll() is None:
        proc.terminate()
        proc.wait()


def test_cache_down_the_api_still_answers_and_throttles_resume_after(
    transactional_db, private_redis
):
    """Decision (docs/security.md): the request throttles fail open while the cache is
    down; the limits that cost money stay exact in PostgreSQL."""
    require_postgres()
    port, redis_proc = private_redis
    account = factories.make_account()
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), send_limit_enabled=True,
        send_limit_count=2,
    )  # fmt: skip
    env = worker_env(
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        CELERY_BROKER_URL="",
        CELERY_TASK_ALWAYS_EAGER="true",
        OTP_API_RATE_PER_TOKEN="5/h",
        OTP_API_RATE_PER_IP="",
        LOG_LEVEL="CRITICAL",
    )
    headers = {"Authorization": f"Bearer {token}"}

    def send(recipient: str) -> requests.Response:
        body = {"recipient": recipient, "event": "login"}
        return requests.post(f"{url}/api/v1/otp/send", json=body, headers=headers, timeout=10)

    with Server(env) as server:
        url = server.url
        # Hung: the cache accepts connections and never answers.
        redis_proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(2):
                started = time.monotonic()
                assert send(RECIPIENTS[90 + i]).status_code == 201
                took = time.monotonic() - started
                assert 0.9 < took < 4, f"a hung cache costs about its timeout, not {took:.2f} s"
        finally:
            redis_proc.send_signal(signal.SIGCONT)
        # Down: nothing listens.
        redis_proc.terminate()
        redis_proc.wait()
        started = time.monotonic()
        down = [send(RECIPIENTS[i]) for i in range(8)]
        elapsed = time.monotonic() - started
        # Over the 5/h token rate, yet answered: the throttle fails open.
        assert [r.status_code for r in down] == [201] * 8, [r.content for r in down]
        assert elapsed < 8 * 1.5, "a down cache costs at most its timeout per request"
        # The per-recipient limit lives in PostgreSQL and still holds.
        same = [send(RECIPIENTS[50]).status_code for _ in range(3)]
        assert same == [201, 201, 429]

        restarted = subprocess.Popen(redis_command(port), stdout=subprocess.DEVNULL)
        try:
            time.sleep(1)
            # The throttle's windows are fixed hours: do not straddle one.
            if time.time() % 3600 > 3590:
                time.sleep(3600 - time.time() % 3600 + 0.5)
            back = [send(RECIPIENTS[60 + i]).status_code for i in range(7)]
        finally:
            restarted.terminate()
            restarted.wait()
    assert back[:5] == [201] * 5 and back[5:] == [429, 429], back
