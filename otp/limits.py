"""The per-recipient send limit: at most N messages to a recipient, then nothing until
the cooldown has passed.

The counter row of (stream, recipient) is created or locked in one statement (an
upsert, which holds the row lock until the send's transaction ends), so concurrent auth
requests for one recipient are decided one after the other and exactly N get through.
A window that never reached the limit starts over once it is older than the cooldown.
"""

import math
from datetime import datetime, timedelta

from django.db import connection

from streams.models import Stream

from .errors import ErrorCode, OtpError
from .models import SendCounter


def reserve_send(*, stream: Stream, recipient: str, now: datetime) -> None:
    """Count one message to ``recipient``, or refuse with ``send_limit_reached``.
    Must run inside the transaction that writes the message."""
    if not stream.send_limit_enabled:
        return
    counter = _locked_counter(stream, recipient, now)
    cooldown = timedelta(minutes=stream.send_limit_cooldown_minutes)
    if counter.blocked_until is not None and now < counter.blocked_until:
        retry_after = math.ceil((counter.blocked_until - now).total_seconds())
        raise OtpError(
            ErrorCode.SEND_LIMIT_REACHED,
            f"This recipient has received {stream.send_limit_count} message(s); "
            f"the next can be sent in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            details={"retry_after": retry_after},
        )
    if counter.blocked_until is not None or now - counter.window_started_at >= cooldown:
        counter.count = 0
        counter.window_started_at = now
        counter.blocked_until = None
    counter.count += 1
    if counter.count >= stream.send_limit_count:
        counter.blocked_until = now + cooldown
    counter.save(update_fields=["count", "window_started_at", "blocked_until"])


def _locked_counter(stream: Stream, recipient: str, now: datetime) -> SendCounter:
    """The (stream, recipient) counter, inserted if new, row-locked either way: one
    round trip, where SELECT FOR UPDATE + INSERT would take two or three."""
    table = SendCounter._meta.db_table
    sql = (
        f"INSERT INTO {table} (stream_id, recipient, window_started_at, count) "  # noqa: S608
        "VALUES (%s, %s, %s, 0) "
        f"ON CONFLICT (stream_id, recipient) DO UPDATE SET count = {table}.count "
        "RETURNING id, stream_id, recipient, window_started_at, count, blocked_until"
    )
    params = [stream.pk, recipient, connection.ops.adapt_datetimefield_value(now)]
    return next(iter(SendCounter.objects.raw(sql, params)))
