"""The benchmark harness in its smoke mode, so it cannot rot: it must start the stack,
load every endpoint, drain the dispatch run and write its figures."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from django.db import connection

from tests.support.live import free_port
from tests.support.services import ROOT, require_postgres, require_redis

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_bench_smoke_run_prints_the_table_and_writes_its_figures(db, tmp_path):
    require_postgres()
    require_redis()
    if not shutil.which("wrk"):
        pytest.skip("needs wrk (apt-get install wrk)")
    settings = connection.settings_dict
    # A database and Redis of this test run's own (the harness drops and flushes them):
    # other runs on the machine (other checkouts) must not drop them under this one.
    database = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/{settings['NAME']}_bench_smoke"
    )
    command = [
        sys.executable,
        "-m",
        "bench",
        "--smoke",
        "--out",
        str(tmp_path),
        "--database",
        database,
        "--redis",
        os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/12",
        "--port",
        str(free_port()),
    ]
    # Its own process group: whatever ends this test (a timeout, Ctrl-C), the harness
    # and every server and worker it started are stopped with it (it stops its own
    # children on SIGTERM, and they end with it even if it is killed outright).
    harness = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = harness.communicate(timeout=420)
    finally:
        _stop_group(harness)
    out = subprocess.CompletedProcess(command, harness.returncode, stdout, stderr)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ceiling (bare JSON view)" in out.stdout and "dispatch:" in out.stdout
    result = json.loads((tmp_path / "smoke.json").read_text())
    for key in (
        "ceiling_rps",
        "send_rps",
        "send_p99_ms",
        "verify_rps",
        "verify_p99_ms",
        "status_rps",
        "dispatch_msgs_per_s",
        "send_guard_off_rps",
        "send_guard_on_rps",
        "scale_send_1_gunicorn_rps",
        "scale_send_2_gunicorn_rps",
        "scale_dispatch_1_worker_msgs_per_s",
        "scale_dispatch_2_workers_msgs_per_s",
        "send_queries",
        "verify_queries",
    ):
        assert result[key] > 0, key
    assert result["send_queries"] <= 8 and result["verify_queries"] <= 4
    assert result["sweeps"]["dispatch"]["messages"] == 300


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the harness's process group, then SIGKILL to what is left of it."""
    for sig, wait in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=wait)
