"""Every refusal of the OTP API: one exception type, one stable code per reason.

Codes are for clients (stable, documented in the OpenAPI schema and docs/api.md);
messages are for humans. ``otp.api.exception_handler`` renders them all as
``{"error": {"code", "message", "fields", ...details}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ErrorCode(StrEnum):
    """A refusal's stable code (the enum's value), with its HTTP status and the
    description docs/api.md and the OpenAPI schema show: one table, checked against
    the docs by a test."""

    status: int
    description: str
    # Other statuses the code may come with (documented on the endpoints too).
    other_statuses: tuple[int, ...]

    def __new__(
        cls, value: str, status: int, description: str, other_statuses: tuple[int, ...] = ()
    ) -> ErrorCode:
        member = str.__new__(cls, value)
        member._value_ = value
        member.status = status
        member.description = description
        member.other_statuses = other_statuses
        return member

    # Authentication and the caller
    MISSING_TOKEN = (
        "missing_token",
        401,
        "No `Authorization: Bearer <token>` header.",
    )
    INVALID_TOKEN = (
        "invalid_token",
        401,
        "The token is unknown (never issued, or rotated).",
    )
    IP_NOT_ALLOWED = (
        "ip_not_allowed",
        403,
        "The caller's address is outside the stream's allowed IPs.",
    )
    STREAM_NOT_ACTIVE = (
        "stream_not_active",
        403,
        "The stream is a draft or disabled.",
    )
    THROTTLED = (
        "throttled",
        429,
        "Too many requests from this token or address; see Retry-After.",
    )
    # Request syntax
    MALFORMED_JSON = (
        "malformed_json",
        400,
        "The body is not valid JSON (or nested too deeply).",
    )
    UNSUPPORTED_MEDIA_TYPE = (
        "unsupported_media_type",
        415,
        "The body is not `application/json`.",
    )
    PAYLOAD_TOO_LARGE = (
        "payload_too_large",
        413,
        "The body is larger than the API accepts.",
    )
    INVALID_REQUEST = (
        "invalid_request",
        400,
        "A field is missing, of the wrong type or out of range.",
    )
    UNKNOWN_FIELD = (
        "unknown_field",
        400,
        "The body has a field the endpoint does not know.",
    )
    METHOD_NOT_ALLOWED = (
        "method_not_allowed",
        405,
        "The endpoint does not accept this HTTP method.",
    )
    NOT_FOUND = (
        "not_found",
        404,
        "No such endpoint.",
    )
    # Auth request rules
    INVALID_PHONE = (
        "invalid_phone",
        400,
        "The recipient is not a valid phone number.",
    )
    NOT_MOBILE = (
        "not_mobile",
        400,
        "SMS to a number that is not a mobile number.",
    )
    COUNTRY_NOT_ALLOWED = (
        "country_not_allowed",
        403,
        "The recipient's country is not allowed by the stream.",
    )
    TEST_NUMBERS_ONLY = (
        "test_numbers_only",
        403,
        "A test token sends only to the stream's test numbers.",
    )
    UNKNOWN_EVENT = (
        "unknown_event",
        400,
        "No enabled event template with this key.",
    )
    SENDER_NOT_ALLOWED = (
        "sender_not_allowed",
        400,
        "The stream has a default sender; `sender` is refused.",
    )
    SENDER_REQUIRED = (
        "sender_required",
        400,
        "The stream's sender is Customized; `sender` is needed.",
    )
    UNKNOWN_SENDER = (
        "unknown_sender",
        400,
        "`sender` is not one of the account's sender IDs.",
    )
    CODE_REQUIRED = (
        "code_required",
        400,
        "The stream says the client generates codes; send `code`.",
    )
    CODE_NOT_ALLOWED = (
        "code_not_allowed",
        400,
        "The platform generates the codes; `code` is refused.",
    )
    INVALID_CODE_FORMAT = (
        "invalid_code_format",
        400,
        "The code given is not 4-32 allowed characters.",
    )
    MISSING_VARIABLE = (
        "missing_variable",
        400,
        "A template placeholder has no value.",
    )
    VOICE_LANGUAGE_UNSUPPORTED = (
        "voice_language_unsupported",
        422,
        "No voice gateway of the account speaks the call's language.",
    )
    EMPTY_MESSAGE = (
        "empty_message",
        400,
        "The message would be empty (0 characters): nothing to send.",
    )
    SEND_LIMIT_REACHED = (
        "send_limit_reached",
        429,
        "The recipient's send limit is reached; see Retry-After.",
    )
    DESTINATION_NOT_ALLOWED = (
        "destination_not_allowed",
        403,
        "The stream does not send to this number: `rule` says why (number type, country "
        "or prefix).",
    )
    BUDGET_EXHAUSTED = (
        "budget_exhausted",
        429,
        "The send would exceed a budget of the stream or account; see Retry-After.",
    )
    SEND_BLOCKED = (
        "send_blocked",
        403,
        "The fraud guard blocked the send: `rule` and `reason` say why (429 with "
        "Retry-After while it only throttles).",
        (429,),
    )
    IDEMPOTENCY_KEY_REUSED = (
        "idempotency_key_reused",
        409,
        "The idempotency key was used for another request.",
    )
    # Verification request outcomes
    VERIFICATION_NOT_FOUND = (
        "verification_not_found",
        404,
        "No verification with this id (or recipient+event).",
    )
    WRONG_CODE = (
        "wrong_code",
        400,
        "The code is wrong; `attempts_left` says how many remain.",
    )
    VERIFICATION_EXPIRED = (
        "verification_expired",
        410,
        "The code's time to live has passed.",
    )
    MAX_ATTEMPTS_REACHED = (
        "max_attempts_reached",
        423,
        "Too many wrong codes: the verification is locked.",
    )
    ALREADY_APPROVED = (
        "already_approved",
        409,
        "The code was already used: codes are single use.",
    )
    VERIFICATION_CANCELED = (
        "verification_canceled",
        409,
        "The verification was canceled (or replaced).",
    )
    VERIFICATION_FAILED = (
        "verification_failed",
        409,
        "The message could not be delivered.",
    )
    # The platform
    SERVICE_UNAVAILABLE = (
        "service_unavailable",
        503,
        "A dependency (database, cache) is down; retry later.",
    )


# (code, HTTP status, when) for the schema and the endpoints' documented refusals.
ERROR_CATALOGUE: list[tuple[str, int, str]] = [
    (code.value, code.status, code.description) for code in ErrorCode
]


def _status_of(code: str) -> int:
    # A compatibility API's own codes are not ours; they say their status themselves.
    try:
        return ErrorCode(code).status
    except ValueError:
        return 400


class OtpError(Exception):
    """A refusal: ``code`` from :class:`ErrorCode`, a human ``message``, the offending
    ``fields`` (name -> messages), extra ``details`` (e.g. ``attempts_left``) and
    response ``headers`` (e.g. ``Retry-After``)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: Mapping[str, list[str] | str] | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        details: Mapping[str, object] | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = {k: [v] if isinstance(v, str) else list(v) for k, v in (fields or {}).items()}
        self.status = status or _status_of(code)
        self.headers = dict(headers or {})
        self.details = dict(details or {})

    def as_dict(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "fields": self.fields,
                **self.details,
            }
        }
