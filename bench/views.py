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
from otp.models import Verification
from streams import ratelimit
from streams.models import EventTemplate, SenderID, Stream
from streams.tokens import hash_token

V = Verification._meta.db_table
M = OutboundMessage._meta.db_table

_STREAM_SQL = f"""
SELECT s.id, s.account_id, s.status, s.code_length, s.code_ttl_seconds, s.max_attempts,
       snd.value, t.id, t.text
FROM {Stream._meta.db_table} s
JOIN {SenderID._meta.db_table} snd ON snd.id = s.default_sender_id
JOIN {EventTemplate._meta.db_table} t ON t.stream_id = s.id AND t.key = 'login'
WHERE s.token_hash = %s
"""  # noqa: S608 - our own table names
_CANCEL_SQL = f"""
UPDATE {V} SET status = 'canceled', decided_at = %s
WHERE stream_id = %s AND recipient = %s AND event_key = %s AND status = 'pending'
"""  # noqa: S608
_INSERT_VERIFICATION_SQL = f"""
INSERT INTO {V} (id, stream_id, event_template_id, event_key, recipient, channel, code_hash,
    status, attempts, max_attempts, expires_at, created_at, caller_ip, idempotency_key)
VALUES (%s, %s, %s, %s, %s, 'sms', %s, 'pending', 0, %s, %s, %s, %s, '')
"""  # noqa: S608
_INSERT_MESSAGE_SQL = f"""
INSERT INTO {M} (id, account_id, verification_id, channel, recipient, sender, text,
    masked_text, expires_at, encoding, segments, voice_language, voice_gender, status,
    provider_message_id, attempts, last_error, route_position, hop_attempts, provider_status,
    possibly_duplicated, created_at, updated_at)
VALUES (%s, %s, %s, 'sms', %s, %s, %s, %s, %s, 'gsm7', 1, '', '', 'queued', '', 0, '', 0, 0, '',
    false, %s, %s)
"""  # noqa: S608
# The message texts are encrypted at rest, as the model's field writes them.
_TEXT = OutboundMessage._meta.get_field("text")
_FIND_SQL = f"""
SELECT code_hash, status, attempts, max_attempts, expires_at FROM {V}
WHERE id = %s AND stream_id = %s
"""  # noqa: S608
_APPROVE_SQL = f"""
UPDATE {V} SET status = 'approved', decided_at = %s
WHERE id = %s AND status = 'pending' AND expires_at > %s
"""  # noqa: S608
# What forget_codes does to an approved code's message (mask it, cancel it if queued).
_FORGET_SQL = f"""
UPDATE {M} SET status = CASE WHEN status = 'queued' THEN 'canceled' ELSE status END,
    updated_at = %s
WHERE verification_id = %s AND (status IN ('queued', 'sending') OR masked_text <> '')
"""  # noqa: S608
_WRONG_SQL = f"""
UPDATE {V} SET attempts = attempts + 1,
    status = CASE WHEN attempts + 1 >= max_attempts THEN 'max_attempts_reached' ELSE status END,
    decided_at = CASE WHEN attempts + 1 >= max_attempts THEN %s ELSE decided_at END
WHERE id = %s AND status = 'pending' AND expires_at > %s AND attempts < max_attempts
RETURNING attempts, status
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
    conn = _db()
    with conn.transaction():
        conn.execute(_CANCEL_SQL, (now, stream_id, recipient, "login"))
        conn.execute(
            _INSERT_VERIFICATION_SQL,
            (
                vid,
                stream_id,
                template_id,
                "login",
                recipient,
                codes.hash_code(vid, code),
                max_attempts,
                now + timedelta(seconds=ttl),
                now,
                request.META.get("REMOTE_ADDR"),
            ),
        )
        expires_at = now + timedelta(seconds=ttl)
        conn.execute(
            _INSERT_MESSAGE_SQL,
            (
                mid,
                account_id,
                vid,
                recipient,
                sender,
                _TEXT.get_prep_value(text.replace("{{code}}", code)),
                _TEXT.get_prep_value(text.replace("{{code}}", "*" * len(code))),
                expires_at,
                now,
                now,
            ),
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
        if conn.execute(_APPROVE_SQL, (now, vid, now)).rowcount:
            conn.execute(_FORGET_SQL, (now, vid))
            return JsonResponse({"id": str(vid), "status": "approved"})
        return JsonResponse({"error": {"code": "not_pending"}}, status=409)
    moved = conn.execute(_WRONG_SQL, (now, vid, now)).fetchone()
    if moved is None:
        return JsonResponse({"error": {"code": "not_pending"}}, status=409)
    return JsonResponse(
        {"error": {"code": "wrong_code", "attempts_left": max_attempts - moved[0]}}, status=400
    )
