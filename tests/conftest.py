"""Shared fixtures. Tests that need the real services (PostgreSQL, Redis, a Celery
worker) are marked ``services``: they skip without them on a laptop, and CI sets
``OTP_FAIL_ON_SKIP=1`` so that any skip fails the run instead."""

import os

import pytest

from tests.support import factories
from tests.support.browser import page  # noqa: F401 - the browser tests' fixture
from tests.support.services import require_postgres, require_redis, start_worker, stop_worker

FAIL_ON_SKIP = os.environ.get("OTP_FAIL_ON_SKIP") == "1"
RUN_SLOW = os.environ.get("OTP_RUN_SLOW") == "1"


def pytest_collection_modifyitems(config, items):
    """Long real-process tests (marked ``slow``) run only with ``OTP_RUN_SLOW=1`` (CI
    sets it) or when asked for by ``-m``: deselected, not skipped, so a developer's
    ``make test`` stays quick and CI's skip check stays strict."""
    if RUN_SLOW or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if FAIL_ON_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, and OTP_FAIL_ON_SKIP=1 forbids skips: {reason}"


@pytest.fixture
def account(db):
    return factories.make_account()


@pytest.fixture
def owner(account):
    return factories.make_user(account=account, role="owner")


@pytest.fixture
def stream_and_token(account):
    return factories.make_stream(account)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real ``celery worker`` process on the test database and the configured broker,
    for the whole session. Tests using it need ``transactional_db`` so the worker sees
    their rows."""
    require_postgres()
    require_redis()
    with django_db_blocker.unblock():
        worker = start_worker()
    yield worker
    stop_worker(worker)


@pytest.fixture
def eager_tasks():
    """Celery tasks run in the test's process when queued (the embedded default), also
    when a broker is configured: for tests of the API, not of the worker."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _no_request_throttles(settings):
    """Request throttles off unless a test turns them on: tests send bursts from one
    address that a real integrator would not."""
    settings.OTP_API_RATE_PER_TOKEN = ""
    settings.OTP_API_RATE_PER_IP = ""


@pytest.fixture(autouse=True)
def _fresh_routes():
    """Each test starts with no cached route: the database is emptied between tests
    without the signals that invalidate the cache in production."""
    from gateways import routes

    routes.forget_all()
