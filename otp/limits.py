"""The per-recipient send limit: at most N messages to a recipient, then nothing until
the cooldown has passed.

The whole decision is one statement: an upsert on the (stream, recipient) counter that
counts the send, opens a new window or starts the cooldown, or — when the recipient is
in its cooldown — leaves the row as it was. Concurrent sends to one recipient are
serialised by the row lock the upsert takes (held until the send's transaction ends),
so exactly N get through. A window that never reached the limit starts over once it
is older than the cooldown.
"""

import math
from datetime import datetime, timedelta

from django.db import connection

from streams.models import Stream

from .errors import ErrorCode, OtpError
from .models import SendCounter

# %(blocked)s: the row is in its cooldown; %(fresh)s: its window is over, start anew.
_BLOCKED = "c.blocked_until > %(now)s"
_FRESH = "c.blocked_until IS NOT NULL OR c.window_started_at <= %(window_floor)s"
_COUNT_SQL = f"""
INSERT INTO {SendCounter._meta.db_table} AS c
    (stream_id, recipient, window_started_at, count, blocked_until)
VALUES (%(stream)s, %(recipient)s, %(now)s, 1, %(first_block)s)
ON CONFLICT (stream_id, recipient) DO UPDATE SET
    count = CASE WHEN {_BLOCKED} THEN c.count WHEN {_FRESH} THEN 1 ELSE c.count + 1 END,
    window_started_at = CASE
        WHEN {_BLOCKED} THEN c.window_started_at WHEN {_FRESH} THEN %(now)s
        ELSE c.window_started_at END,
    blocked_until = CASE
        WHEN {_BLOCKED} THEN c.blocked_until
        WHEN {_FRESH} THEN %(first_block)s
        WHEN c.count + 1 >= %(limit)s THEN %(until)s
        ELSE NULL END
RETURNING id, stream_id, recipient, window_started_at, count, blocked_until
"""  # noqa: S608 - the only interpolation is our own table name


def reserve_send(*, stream: Stream, recipient: str, now: datetime) -> None:
    """Count one message to ``recipient``, or refuse with ``send_limit_reached``.
    Must run inside the transaction that writes the message."""
    if not stream.send_limit_enabled:
        return
    cooldown = timedelta(minutes=stream.send_limit_cooldown_minutes)
    until = now + cooldown
    adapt = connection.ops.adapt_datetimefield_value
    params = {
        "stream": stream.pk,
        "recipient": recipient,
        "now": adapt(now),
        "window_floor": adapt(now - cooldown),
        "limit": stream.send_limit_count,
        "until": adapt(until),
        "first_block": adapt(until) if stream.send_limit_count <= 1 else None,
    }
    counter = next(iter(SendCounter.objects.raw(_COUNT_SQL, params)))
    # Counted sends leave no block, or the block this send started (ending at `until`);
    # a block that ends at any other time was there before: the send is refused.
    blocked = counter.blocked_until
    if blocked is not None and blocked > now and blocked != until:
        retry_after = math.ceil((blocked - now).total_seconds())
        raise OtpError(
            ErrorCode.SEND_LIMIT_REACHED,
            f"This recipient has received {stream.send_limit_count} message(s); "
            f"the next can be sent in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            details={"retry_after": retry_after},
        )
