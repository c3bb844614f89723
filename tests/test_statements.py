"""The hot paths' statements compiled once per process (``streams.statements.Shape``)
are, filled in, exactly what the ORM compiles for the same values: the same SQL and
the same parameters, whatever the values (two values of one kind included). On
PostgreSQL the shapes are fixed (compiled once); elsewhere the backend turns the
values into strings, no stand-in shows through, and every call compiles."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from gateways import services as gateway_services
from otp import models, services
from streams import statements

NOW = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def _fresh(shape: statements.Shape, **values) -> statements.Statement:
    return shape.build(**values)


def _fixed_on_postgresql(shape: statements.Shape) -> bool:
    return (shape._fixed is not None) == (connection.vendor == "postgresql")


@pytest.mark.parametrize(
    "values",
    [
        {"recipient": "+14155552671", "event_key": "login"},
        {"recipient": "login", "event_key": "login"},  # two equal values of one kind
        {"recipient": "+447700900123", "event_key": "+447700900123"},
    ],
)
def test_the_cancel_of_a_send_fills_in_as_compiled(values):
    filled = services._CANCELING(now=NOW, by=uuid.uuid4(), stream_id=7, **values)
    by = uuid.UUID(str(filled[1][0]))  # the first parameter is the replacing id
    assert _fixed_on_postgresql(services._CANCELING)
    assert filled == _fresh(services._CANCELING, now=NOW, by=by, stream_id=7, **values)


def test_the_approval_and_the_wrong_attempt_fill_in_as_compiled():
    pk = uuid.uuid4()
    later = NOW + timedelta(seconds=5)
    for shape in (services._APPROVING, models._COUNTING_SHORT_OF_LAST):
        assert shape(now=later, pk=pk) == _fresh(shape, now=later, pk=pk)
        assert _fixed_on_postgresql(shape)


@pytest.mark.parametrize("approved", [False, True])
def test_forgetting_codes_fills_in_as_compiled(approved):
    ids = "SELECT id FROM replaced"
    filled = gateway_services.forget_codes_statement(ids, now=NOW, approved=approved)
    shape = gateway_services._FORGETTING[(ids, approved)]
    assert _fixed_on_postgresql(shape)
    assert filled == _fresh(shape, now=NOW)


def test_a_shape_whose_value_the_orm_transforms_compiles_every_time():
    # The value is used only shifted: no parameter is the stand-in, so nothing is fixed.
    shape = statements.Shape(
        lambda now: ("SELECT %s", (now + timedelta(seconds=1),)), now="datetime"
    )
    assert shape(now=NOW) == ("SELECT %s", (NOW + timedelta(seconds=1),))
    assert shape._fixed is None


def test_an_insert_as_select_inserts_what_save_would(db, stream_and_token):
    stream, _ = stream_and_token
    verification = models.Verification(
        id=uuid.uuid4(),
        stream=stream,
        event_key="login",
        recipient="+14155552671",
        code_hash="x" * 64,
        max_attempts=5,
        expires_at=NOW,
        changed_at=NOW,
    )
    sql, params = statements.insert_select(verification, source="(SELECT 1) AS one")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    stored = models.Verification.objects.get(id=verification.id)
    assert (stored.recipient, stored.status, stored.expires_at) == ("+14155552671", "pending", NOW)
    assert stored.created_at is not None
