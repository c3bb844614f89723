"""Every refusal of the OTP API: one exception type, one stable code per reason.

Codes are for clients (stable, documented in the OpenAPI schema and docs/api.md);
messages are for humans. ``otp.api.exception_handler`` renders them all as
``{"error": {"code", "message", "fields", ...details}}``.
"""

from __future__ import annotations

from collections.abc import Mapping


class ErrorCode:
    # Authentication and the caller
    MISSING_TOKEN = "missing_token"  # noqa: S105 - an error code, not a secret
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    IP_NOT_ALLOWED = "ip_not_allowed"
    STREAM_NOT_ACTIVE = "stream_not_active"
    THROTTLED = "throttled"
    # Request syntax
    MALFORMED_JSON = "malformed_json"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_REQUEST = "invalid_request"
    UNKNOWN_FIELD = "unknown_field"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_FOUND = "not_found"
    # Auth request rules
    INVALID_PHONE = "invalid_phone"
    NOT_MOBILE = "not_mobile"
    COUNTRY_NOT_ALLOWED = "country_not_allowed"
    UNKNOWN_EVENT = "unknown_event"
    SENDER_NOT_ALLOWED = "sender_not_allowed"
    SENDER_REQUIRED = "sender_required"
    UNKNOWN_SENDER = "unknown_sender"
    CODE_REQUIRED = "code_required"
    CODE_NOT_ALLOWED = "code_not_allowed"
    INVALID_CODE_FORMAT = "invalid_code_format"
    MISSING_VARIABLE = "missing_variable"
    SEND_LIMIT_REACHED = "send_limit_reached"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    # Verification request outcomes
    VERIFICATION_NOT_FOUND = "verification_not_found"
    WRONG_CODE = "wrong_code"
    VERIFICATION_EXPIRED = "verification_expired"
    MAX_ATTEMPTS_REACHED = "max_attempts_reached"
    ALREADY_APPROVED = "already_approved"
    VERIFICATION_CANCELED = "verification_canceled"
    VERIFICATION_FAILED = "verification_failed"
    # The platform
    SERVICE_UNAVAILABLE = "service_unavailable"


# (code, HTTP status, when) for the schema and docs/api.md: one table, no drift.
ERROR_CATALOGUE: list[tuple[str, int, str]] = [
    (ErrorCode.MISSING_TOKEN, 401, "No `Authorization: Bearer <token>` header."),
    (ErrorCode.INVALID_TOKEN, 401, "The token is unknown (never issued, or rotated)."),
    (ErrorCode.IP_NOT_ALLOWED, 403, "The caller's address is outside the stream's allowed IPs."),
    (ErrorCode.STREAM_NOT_ACTIVE, 403, "The stream is a draft or disabled."),
    (ErrorCode.THROTTLED, 429, "Too many requests from this token or address; see Retry-After."),
    (ErrorCode.MALFORMED_JSON, 400, "The body is not valid JSON (or nested too deeply)."),
    (ErrorCode.UNSUPPORTED_MEDIA_TYPE, 415, "The body is not `application/json`."),
    (ErrorCode.PAYLOAD_TOO_LARGE, 413, "The body is larger than the API accepts."),
    (ErrorCode.INVALID_REQUEST, 400, "A field is missing, of the wrong type or out of range."),
    (ErrorCode.UNKNOWN_FIELD, 400, "The body has a field the endpoint does not know."),
    (ErrorCode.METHOD_NOT_ALLOWED, 405, "The endpoint does not accept this HTTP method."),
    (ErrorCode.NOT_FOUND, 404, "No such endpoint."),
    (ErrorCode.INVALID_PHONE, 400, "The recipient is not a valid phone number."),
    (ErrorCode.NOT_MOBILE, 400, "SMS to a number that is not a mobile number."),
    (ErrorCode.COUNTRY_NOT_ALLOWED, 403, "The recipient's country is not allowed by the stream."),
    (ErrorCode.UNKNOWN_EVENT, 400, "No enabled event template with this key."),
    (ErrorCode.SENDER_NOT_ALLOWED, 400, "The stream has a default sender; `sender` is refused."),
    (ErrorCode.SENDER_REQUIRED, 400, "The stream's sender is Customized; `sender` is needed."),
    (ErrorCode.UNKNOWN_SENDER, 400, "`sender` is not one of the account's sender IDs."),
    (ErrorCode.CODE_REQUIRED, 400, "The stream says the client generates codes; send `code`."),
    (ErrorCode.CODE_NOT_ALLOWED, 400, "The platform generates the codes; `code` is refused."),
    (ErrorCode.INVALID_CODE_FORMAT, 400, "The code given is not 4-32 allowed characters."),
    (ErrorCode.MISSING_VARIABLE, 400, "A template placeholder has no value."),
    (ErrorCode.SEND_LIMIT_REACHED, 429, "The recipient's send limit is reached; see Retry-After."),
    (ErrorCode.IDEMPOTENCY_KEY_REUSED, 409, "The idempotency key was used for another request."),
    (ErrorCode.VERIFICATION_NOT_FOUND, 404, "No verification with this id (or recipient+event)."),
    (ErrorCode.WRONG_CODE, 400, "The code is wrong; `attempts_left` says how many remain."),
    (ErrorCode.VERIFICATION_EXPIRED, 410, "The code's time to live has passed."),
    (ErrorCode.MAX_ATTEMPTS_REACHED, 423, "Too many wrong codes: the verification is locked."),
    (ErrorCode.ALREADY_APPROVED, 409, "The code was already used: codes are single use."),
    (ErrorCode.VERIFICATION_CANCELED, 409, "The verification was canceled (or replaced)."),
    (ErrorCode.VERIFICATION_FAILED, 409, "The message could not be delivered."),
    (ErrorCode.SERVICE_UNAVAILABLE, 503, "A dependency (database, cache) is down; retry later."),
]
STATUS_BY_CODE = {code: status for code, status, _ in ERROR_CATALOGUE}


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
        self.status = status or STATUS_BY_CODE.get(code, 400)
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
