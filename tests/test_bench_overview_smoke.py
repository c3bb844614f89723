"""The overview benchmark in its smoke mode, so it cannot rot: it loads its rows with
generate_series, refreshes the rollups, times the overview and writes its figures."""

import json
import subprocess
import sys

import pytest
from django.db import connection

from tests.support.services import ROOT, require_postgres

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_overview_bench_smoke_run_writes_its_figures(db, tmp_path):
    require_postgres()
    settings = connection.settings_dict
    database = (
        f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:"
        f"{settings['PORT'] or 5432}/otp_bench_overview_smoke"
    )
    command = [sys.executable, "-m", "bench.overview", "--smoke", "--out", str(tmp_path)]
    out = subprocess.run(
        [*command, "--database", database],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "target p95 <= 300 ms" in out.stdout
    figures = json.loads((tmp_path / "overview-smoke.json").read_text())
    assert figures["verifications"] == 20_000 and figures["rollup_rows"] > 0
    assert set(figures["overview"]) >= {"today", "7d", "30d", "all"}
