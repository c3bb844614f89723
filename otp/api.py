"""DRF hooks of the OTP API: stream-token authentication, the caller check, request
throttles, the JSON parser's limits and the one exception handler.

Everything a view can refuse ends here as ``{"error": {"code", "message", "fields"}}``
with a stable code (``otp.errors.ErrorCode``) — including DRF's own refusals and a
database or cache that is down (503), so no input produces a 500.
"""

from __future__ import annotations

import io
import logging
import math

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from django.db import connection as db_connection
from rest_framework import exceptions, parsers, permissions, serializers, throttling
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.response import Response

from streams import ratelimit
from streams.clients import client_address, ip_allowed
from streams.models import Stream
from streams.tokens import hash_token

from . import guard
from .errors import ErrorCode, OtpError
from .stream_cache import stream_and_hits, stream_for_token_hash

log = logging.getLogger(__name__)


# --- Authentication and the caller -------------------------------------------------


class StreamTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <stream token>``: the token identifies the stream
    (``request.auth``). Looked up by its keyed hash through a unique index, so a
    rotated token finds nothing at once."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            raise OtpError(
                ErrorCode.MISSING_TOKEN,
                "Send the stream's API token as `Authorization: Bearer <token>`.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if len(header) != 2 or header[0].lower() != b"bearer":
            raise OtpError(
                ErrorCode.INVALID_TOKEN,
                "The Authorization header must be `Bearer <token>`.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            token = ""
        if hasattr(request, "prefetched_stream"):  # see prefetch_stream_and_throttles
            stream = request.prefetched_stream
        else:
            stream = stream_for_token_hash(hash_token(token)) if token else None
        if stream is None:
            raise OtpError(
                ErrorCode.INVALID_TOKEN,
                "The token is not valid: it was never issued or has been rotated.",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return (None, stream)

    def authenticate_header(self, request) -> str:
        return "Bearer"


def bearer_token_hash(request) -> str | None:
    """The keyed hash of a well-formed ``Bearer`` token, or ``None`` (authentication
    then says what is wrong with the header)."""
    header = get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() != b"bearer":
        return None
    try:
        return hash_token(header[1].decode("ascii"))
    except UnicodeDecodeError:
        return None


def prefetch_stream_and_throttles(request) -> None:
    """The stream of the request's token and both throttles' counts, in one round trip
    to the shared cache (on a cached stream): authentication and the throttles below
    then read them from the request instead of asking again."""
    token_hash = bearer_token_hash(request)
    counters = []
    for throttle in (CallerIPThrottle(), TokenThrottle()):
        rate = getattr(settings, throttle.setting, "")
        ident = throttle.identity_before_authentication(request, token_hash)
        if rate and ident is not None:
            limit, period = ratelimit.parse_rate(rate)
            counters.append(ratelimit.Counter(f"throttle:{throttle.scope}", ident, limit, period))
    if token_hash is None:
        decisions = ratelimit.hit_and_read(counters).decisions
    else:
        request.prefetched_stream, decisions = stream_and_hits(token_hash, counters)
    request.throttle_decisions = {
        c.scope.removeprefix("throttle:"): d for c, d in zip(counters, decisions, strict=True)
    }


class StreamAcceptsCaller(permissions.BasePermission):
    """The stream is active and the caller's address is in its allowlist."""

    def has_permission(self, request, view) -> bool:
        stream: Stream = request.auth
        if stream.status != Stream.Status.ACTIVE:
            raise OtpError(
                ErrorCode.STREAM_NOT_ACTIVE,
                f"The stream is {stream.status}: only active streams accept calls.",
                details={"stream_status": stream.status},
            )
        ip = getattr(request, "caller_ip", None) or client_address(request)
        if not ip_allowed(ip, stream.allowed_ips):
            raise OtpError(
                ErrorCode.IP_NOT_ALLOWED,
                f"Calls from {ip or 'this address'} are not allowed for this stream; add "
                "the address to the stream's allowed IPs.",
            )
        request.caller_ip = ip
        return True


# --- Throttles ---------------------------------------------------------------------


class FixedWindowThrottle(throttling.BaseThrottle):
    """A counter per (scope, identity, window) in the shared cache (``streams.ratelimit``):
    one hit per request, exact across processes and machines with Redis. Over the rate
    the caller gets 429 ``throttled`` with ``Retry-After`` until the window ends."""

    scope = ""
    setting = ""

    def identity(self, request) -> str | None:
        raise NotImplementedError

    def identity_before_authentication(self, request, token_hash: str | None) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        decision = getattr(request, "throttle_decisions", {}).get(self.scope)
        if decision is None:
            rate = getattr(settings, self.setting, "")
            ident = self.identity(request)
            if not rate or ident is None:
                return True
            limit, period = ratelimit.parse_rate(rate)
            decision = ratelimit.hit(f"throttle:{self.scope}", ident, limit=limit, period=period)
        if not decision.allowed:
            self.retry_after = decision.retry_after_seconds
        return decision.allowed

    def wait(self) -> float | None:
        return getattr(self, "retry_after", None)


class TokenThrottle(FixedWindowThrottle):
    scope = "token"
    setting = "OTP_API_RATE_PER_TOKEN"

    # By the token's hash, so the count can be taken with the stream lookup, before
    # authentication: one count per stream token (a rotated token starts afresh).
    def identity(self, request) -> str | None:
        return request.auth.token_hash if isinstance(request.auth, Stream) else None

    def identity_before_authentication(self, request, token_hash: str | None) -> str | None:
        return token_hash


class CallerIPThrottle(FixedWindowThrottle):
    scope = "ip"
    setting = "OTP_API_RATE_PER_IP"

    def identity(self, request) -> str | None:
        return (getattr(request, "caller_ip", None) or client_address(request)) or None

    def identity_before_authentication(self, request, token_hash: str | None) -> str | None:
        return self.identity(request)


# --- Input --------------------------------------------------------------------------


def read_bounded_body(stream, parser_context) -> bytes:
    """A parser's body, up to ``OTP_API_MAX_BODY_BYTES``: a larger one is refused (413
    ``payload_too_large``) by its Content-Length before it is read, or once the limit is
    read. For every parser of the API and of the compatibility APIs."""
    request = (parser_context or {}).get("request")
    limit = settings.OTP_API_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
    except ValueError:
        length = 0
    if length > limit:
        raise OtpError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The body is {length} bytes; the API accepts at most {limit}.",
        )
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise OtpError(ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    return body


class BoundedJSONParser(parsers.JSONParser):
    """JSON bodies up to ``OTP_API_MAX_BODY_BYTES``; a larger body is refused before
    it is read, a body nested too deeply is refused as malformed."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded_body(stream, parser_context)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError:
            raise OtpError(ErrorCode.MALFORMED_JSON, "The JSON is nested too deeply.") from None


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, by name: a typo must not be ignored."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                "The body must be a JSON object.",
                fields={"non_field_errors": "Expected a JSON object."},
            )
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise OtpError(
                ErrorCode.UNKNOWN_FIELD,
                "Unknown field(s): " + ", ".join(map(str, unknown)) + ".",
                fields={str(name): "Unknown field." for name in unknown},
            )
        return super().to_internal_value(data)


# --- Errors -------------------------------------------------------------------------


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list) and detail and all(isinstance(d, str) for d in detail):
        return {prefix or "non_field_errors": [str(d) for d in detail]}
    if isinstance(detail, list):
        out = {}
        for index, value in enumerate(detail):
            out.update(_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


DRF_CODES = {
    exceptions.ParseError: ErrorCode.MALFORMED_JSON,
    exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    exceptions.NotFound: ErrorCode.NOT_FOUND,
    exceptions.NotAuthenticated: ErrorCode.MISSING_TOKEN,
    exceptions.AuthenticationFailed: ErrorCode.INVALID_TOKEN,
    exceptions.Throttled: ErrorCode.THROTTLED,
}


def to_otp_error(exc: Exception) -> OtpError | None:
    if isinstance(exc, OtpError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        return OtpError(
            ErrorCode.INVALID_REQUEST,
            "The request has invalid fields.",
            fields=_flatten(exc.detail),
        )
    if isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait or 1)
        return OtpError(
            ErrorCode.THROTTLED,
            f"Too many requests; retry in {wait} s.",
            headers={"Retry-After": str(wait)},
            details={"retry_after": wait},
        )
    for kind, code in DRF_CODES.items():
        if isinstance(exc, kind):
            return OtpError(code, str(exc.detail), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return OtpError(ErrorCode.PAYLOAD_TOO_LARGE, "The body is too large.")
    if isinstance(exc, RecursionError):
        return OtpError(ErrorCode.MALFORMED_JSON, "The JSON is nested too deeply.")
    if isinstance(exc, OperationalError | InterfaceError) or ratelimit.cache_is_down(exc):
        log.error("dependency down: %s", exc.__class__.__name__, exc_info=exc)
        if not db_connection.in_atomic_block:
            # A dead connection (no health check before each request) goes now, not
            # with the next request that would find it dead too.
            close_old_connections()
        return OtpError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The service is briefly unavailable; retry in a few seconds.",
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, DatabaseError):
        log.exception("database error", exc_info=exc)
        return OtpError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The request could not be stored; retry in a few seconds.",
            headers={"Retry-After": "5"},
        )
    return None


def exception_handler(exc, context):
    guard.settle(exc)  # outside every transaction now: keep the guard's decision
    error = to_otp_error(exc)
    if error is None:
        return None  # a bug: let Django report it
    return Response(error.as_dict(), status=error.status, headers=error.headers)
