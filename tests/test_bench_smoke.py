"""The benchmark harness in its smoke mode, so it cannot rot: it must start the stack,
load every endpoint, drain the dispatch run and write its figures."""

import json
import os
import shutil
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
    out = subprocess.run(
        [
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
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
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
        "send_queries",
        "verify_queries",
    ):
        assert result[key] > 0, key
    assert result["send_queries"] <= 8 and result["verify_queries"] <= 4
    assert result["sweeps"]["dispatch"]["messages"] == 300
