"""Helpers for tests against the real services: PostgreSQL, Redis, Celery workers."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.support.live import free_port  # noqa: F401 - one port picker for every test server

ROOT = Path(__file__).resolve().parents[2]


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")


def require_redis() -> None:
    if not settings.CELERY_BROKER_URL or settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("needs a broker: set REDIS_URL or CELERY_BROKER_URL")


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a process that must use the test database, not the real one."""
    db = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env["OTP_HASH_KEY"] = settings.OTP_HASH_KEY
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["OTP_ENCRYPTION_KEYS"] = ",".join(settings.OTP_ENCRYPTION_KEYS)
    env.update(extra)
    return env


def start_worker(
    *,
    queues: str = "default,sms,voice",
    concurrency: int = 2,
    purge: bool = True,
    beat: bool = False,
    loglevel: str = "warning",
    output=None,
    **env: str,
) -> subprocess.Popen:
    """Start ``celery worker`` and wait until it answers a ping; its log goes to
    ``output`` (a file) when given."""
    from config.celery import app

    if "CELERY_BROKER_URL" in env:  # a private broker: ping it with its own app
        from celery import Celery

        app = Celery(broker=env["CELERY_BROKER_URL"], set_as_current=False)
    if purge:  # tasks left over from an earlier run would reference rows that are gone
        with app.connection_for_write() as conn:
            for queue in queues.split(","):
                conn.default_channel.queue_purge(queue)
    hostname = f"test-{os.getpid()}-{time.monotonic_ns()}@localhost"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-n",
            hostname,
            "--without-gossip",
            "--without-mingle",
            "-l",
            loglevel,
            *(["-B", "-s", f"/tmp/celerybeat-{os.getpid()}-{time.monotonic_ns()}"] if beat else []),
        ],
        cwd=ROOT,
        env=worker_env(**env),
        start_new_session=True,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"celery worker exited with {proc.returncode}")
        if app.control.ping(destination=[hostname], timeout=0.5):
            return proc
    stop_worker(proc)
    raise RuntimeError("celery worker did not answer within 30 s")


def stop_worker(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.05, message=None):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``
    (saying ``message()`` if given: what was seen instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    seen = f": {message()}" if message else ""
    raise AssertionError(f"condition not met within {timeout} s{seen}")


def start_redis(port: int) -> subprocess.Popen:
    """A private, throwaway redis-server (for tests that stop the broker)."""
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    wait_for(lambda: _pings(client), timeout=10)
    return proc


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.ConnectionError:
        return False
