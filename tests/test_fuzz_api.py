"""Schemathesis against the OpenAPI schema the live server serves: every endpoint,
with a valid token from an allowed address, in every phase (schema examples,
boundary coverage, random fuzzing, stateful sequences that follow the send's links to
real verifications). No answer may be a 500, break the documented schema, status
codes, content type or headers, accept schema-invalid data, or ignore the token.

``positive_data_acceptance`` is the one check left out: a schema-valid body may still
be refused by a business rule (a wrong code, a locked verification, a number that is
not a mobile), and that refusal is the point.

CI runs a short form (``OTP_FUZZ_EXAMPLES``, default 25 per operation and phase:
several hundred cases). The long form, a few thousand cases::

    OTP_FUZZ_EXAMPLES=300 pytest tests/test_fuzz_api.py -s
"""

import json
import os
import subprocess
import sys

import pytest

from tests.support import factories
from tests.support.live import Server
from tests.support.services import require_postgres, worker_env

pytestmark = [pytest.mark.services, pytest.mark.slow]

EXAMPLES = int(os.environ.get("OTP_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("OTP_FUZZ_SEED", "20261125")


def test_schemathesis_finds_no_500_and_no_schema_violation(transactional_db, tmp_path):
    require_postgres()
    account = factories.make_account()
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    env = worker_env(
        CELERY_TASK_ALWAYS_EAGER="true",
        OTP_API_RATE_PER_TOKEN="",
        OTP_API_RATE_PER_IP="",
        LOG_LEVEL="ERROR",
    )
    report = tmp_path / "report.json"
    with Server(env) as server:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{server.url}/api/schema/?format=json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                str(EXAMPLES),
                "--seed",
                SEED,
                # One worker: the coverage phase is not thread-safe in hypothesis's
                # lambda-source parser on Python 3.11 (a SystemError, not our API).
                "--workers",
                "1",
                "--request-timeout",
                "10",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            cwd=tmp_path,
            env={**env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    summary = json.loads(report.read_text())
    cases = summary["test_cases"]
    assert cases["with_failures"] == 0 and summary["failures"] == []
    assert summary["errors"] == []
    assert {op.split()[-1] for op in summary["valid_rates"]} == {
        "/api/v1/analytics",
        "/api/v1/otp/send",
        "/api/v1/otp/verify",
        "/api/v1/otp/{verification_id}",
        "/api/v1/otp/{verification_id}/cancel",
        "/api/v1/otp/{verification_id}/resend",
    }
    # Hypothesis stops early on small input spaces: at least the examples asked of each
    # operation in one phase.
    assert cases["generated"] >= 4 * min(EXAMPLES, 100)
    print(f"schemathesis: {cases['generated']} cases, seed {SEED}, none failed")
