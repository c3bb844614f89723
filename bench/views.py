"""The realistic limit: send and verify doing the API's I/O — one Redis round trip
(both throttles and the stream lookup), the same SQL statements, the same batch trigger
— in raw SQL on one psycopg connection per process, with no ORM, no DRF and no phone
parsing. Served beside the bare ceiling only when ``OTP_BENCH_CEILING`` is set (never in
production): the API's figures are read against it.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from gateways.models import OutboundMessage
from gateways.services import trigger_batch
from otp import codes
from otp.models import Check, Verification
from streams import ratelimit
from streams.models import EventTemplate, SenderID, Stream
from streams.tokens import hash_token

V = Verification._meta.db_table
M = OutboundMessage._meta.db_table
C = Check._meta.db_table

_STREAM_SQL = f"""
SELECT s.id, s.account_id, s.status, s.code_length, s.code_ttl_seconds, s.max_attempts,
       snd.value, t.id, t.text
FROM {Stream._meta.db_table} s
JOIN {SenderID._meta.db_table} snd ON snd.id = s.default_sender_id
JOIN {EventTemplate._meta.db_table} t ON t.stream_id = s.id AND t.key = 'login'
WHERE s.token_hash = %s
"""  # noqa: S608 - our own table names
# The API's send on PostgreSQL: cancel the pending code, forget its message's code,
# insert the verification (after the cancel), then its message: one statement.
_SEND_SQL = f"""
WITH replaced AS (
    UPDATE {V} SET status = 'canceled', reason = 'replaced', decided_at = %(now)s,
        changed_at = %(now)s, sealed = '', replaced_by_id = %(vid)s
    WHERE stream_id = %(stream)s AND recipient = %(recipient)s AND event_key = 'login'
        AND status = 'pending'
    RETURNING id
), forgotten AS (
    UPDATE {M} SET status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
        text = CASE WHEN status = 'sending' OR masked_text = '' THEN text ELSE masked_text END,
        masked_text = CASE WHEN status = 'sending' THEN masked_text ELSE '' END,
        updated_at = %(now)s
    WHERE verification_id IN (SELECT id FROM replaced)
        AND (status IN ('queued', 'sending') OR masked_text <> '')
), inserted AS (
    INSERT INTO {V} (id, stream_id, event_template_id, event_key, recipient, country, channel,
        code_hash, status, attempts, max_attempts, expires_at, created_at, changed_at, reason,
        sealed, is_test, caller_ip, idempotency_key, locale)
    SELECT %(vid)s, %(stream)s, %(template)s, 'login', %(recipient)s, 'US', 'sms', %(hash)s,
        'pending', 0, %(max_attempts)s, %(expires)s, %(now)s, %(now)s, '', '', false, %(ip)s,
        '', 'en'
    FROM (SELECT count(*) FROM replaced) AS after_replacing
    RETURNING 1
)
INSERT INTO {M} (id, account_id, verification_id, channel, recipient, sender, text,
    masked_text, expires_at, encoding, segments, voice_language, voice_gender, voice, status,
    provider_message_id, attempts, last_error, route_position, hop_attempts, provider_status,
    test_outcome, possibly_duplicated, created_at, updated_at)
SELECT %(mid)s, %(account)s, %(vid)s, 'sms', %(recipient)s, %(sender)s, %(text)s, %(masked)s,
    %(expires)s, 'gsm7', 1, '', '', '{{}}', 'queued', '', 0, '', 0, 0, '', '', false, %(now)s,
    %(now)s
FROM inserted
"""  # noqa: S608 - our own table names
# The message texts are encrypted at rest, as the model's field writes them.
_TEXT = OutboundMessage._meta.get_field("text")
_FIND_SQL = f"""
SELECT code_hash, status, attempts, max_attempts, expires_at FROM {V}
WHERE id = %s AND stream_id = %s
"""  # noqa: S608
# A right code: approve it and forget its message's code, in one statement.
_APPROVE_SQL = f"""
WITH approved AS (
    UPDATE {V} SET status = 'approved', reason = 'approved', decided_at = %(now)s,
        changed_at = %(now)s, sealed = ''
    WHERE id = %(vid)s AND status = 'pending' AND expires_at > %(now)s
    RETURNING id
), forgotten AS (
    UPDATE {M} SET status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
        updated_at = %(now)s
    WHERE verification_id IN (SELECT id FROM approved)
        AND (status IN ('queued', 'sending') OR masked_text <> '')
)
SELECT count(*) FROM approved
"""  # noqa: S608
# A wrong code short of the last attempt, counted with its check row, in one statement.
_WRONG_SQL = f"""
WITH moved AS (
    UPDATE {V} SET attempts = attempts + 1, changed_at = %(now)s
    WHERE id = %(vid)s AND status = 'pending' AND expires_at > %(now)s
        AND attempts < max_attempts - 1
    RETURNING id, attempts
), checked AS (
    INSERT INTO {C} (verification_id, checked_at, result)
    SELECT id, %(now)s, 'wrong_code' FROM moved
)
SELECT attempts FROM moved
"""  # noqa: S608

_connection: psycopg.Connection | None = None


def _db() -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        db = settings.DATABASES["default"]
        _connection = psycopg.connect(
            dbname=db["NAME"],
            user=db["USER"],
            password=db["PASSWORD"],
            host=db["HOST"],
            port=db["PORT"] or 5432,
            autocommit=True,
        )
    return _connection


def _stream(request: HttpRequest) -> tuple[tuple | None, JsonResponse | None]:
    """The stream row of the bearer token, with both throttles hit, in one Redis round
    trip (the row cached as a tuple on a miss)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    token_hash = hash_token(token)
    counters = []
    for scope, rate, ident in (
        ("throttle:ip", settings.OTP_API_RATE_PER_IP, request.META.get("REMOTE_ADDR", "")),
        ("throttle:token", settings.OTP_API_RATE_PER_TOKEN, token_hash),
    ):
        if rate:
            limit, period = ratelimit.parse_rate(rate)
            counters.append(ratelimit.Counter(scope, ident, limit, period))
    key = f"bench-raw-stream:{token_hash}"
    found = ratelimit.hit_and_read(counters, read=key)
    if not all(d.allowed for d in found.decisions):
        return None, JsonResponse({"error": {"code": "throttled"}}, status=429)
    row = found.value
    if row is None:
        row = _db().execute(_STREAM_SQL, (token_hash,)).fetchone()
        if row is None:
            return None, JsonResponse({"error": {"code": "invalid_token"}}, status=401)
        ratelimit.remember(key, tuple(row), 300)
    if row[2] != Stream.Status.ACTIVE:
        return None, JsonResponse({"error": {"code": "stream_not_active"}}, status=403)
    return row, None


@csrf_exempt
def raw_send(request: HttpRequest) -> JsonResponse:
    row, refusal = _stream(request)
    if refusal is not None:
        return refusal
    stream_id, account_id, _, length, ttl, max_attempts, sender, template_id, text = row
    body = json.loads(request.body)
    recipient = body["recipient"]
    now = datetime.now(UTC)
    vid, mid = uuid.uuid4(), uuid.uuid4()
    code = codes.generate_code(length)
    expires_at = now + timedelta(seconds=ttl)
    _db().execute(
        _SEND_SQL,
        {
            "now": now,
            "vid": vid,
            "mid": mid,
            "stream": stream_id,
            "account": account_id,
            "template": template_id,
            "recipient": recipient,
            "hash": codes.hash_code(vid, code),
            "max_attempts": max_attempts,
            "expires": expires_at,
            "ip": request.META.get("REMOTE_ADDR"),
            "sender": sender,
            "text": _TEXT.get_prep_value(text.replace("{{code}}", code)),
            "masked": _TEXT.get_prep_value(text.replace("{{code}}", "*" * len(code))),
        },
    )
    trigger_batch("sms")  # as the API does after commit
    return JsonResponse({"id": str(vid), "status": "pending"}, status=201)


@csrf_exempt
def raw_verify(request: HttpRequest) -> JsonResponse:
    row, refusal = _stream(request)
    if refusal is not None:
        return refusal
    body = json.loads(request.body)
    vid = uuid.UUID(body["id"])
    now = datetime.now(UTC)
    conn = _db()
    found = conn.execute(_FIND_SQL, (vid, row[0])).fetchone()
    if found is None:
        return JsonResponse({"error": {"code": "verification_not_found"}}, status=404)
    code_hash, status, _, max_attempts, expires_at = found
    if status != "pending" or expires_at <= now:
        return JsonResponse({"error": {"code": "not_pending", "status": status}}, status=409)
    if codes.code_matches(vid, str(body["code"]).strip(), code_hash):
        if conn.execute(_APPROVE_SQL, {"now": now, "vid": vid}).fetchone()[0]:
            return JsonResponse({"id": str(vid), "status": "approved"})
        return JsonResponse({"error": {"code": "not_pending"}}, status=409)
    moved = conn.execute(_WRONG_SQL, {"now": now, "vid": vid}).fetchone()
    if moved is None:  # the last attempt (the API's own transaction) or decided meanwhile
        return JsonResponse({"error": {"code": "not_pending"}}, status=409)
    return JsonResponse(
        {"error": {"code": "wrong_code", "attempts_left": max_attempts - moved[0]}}, status=400
    )
