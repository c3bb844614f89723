"""VerifyNow (Message Central) compatibility: the token, send and validateOtp calls of
https://cpaas.messagecentral.com, under ``/compat/verifynow/``.

Parameters come in the query string (as the peer's examples send them; a JSON or form
body is read too). Answers use the peer's envelope ``{responseCode, message, data}``
with its response codes and status strings. The customer id is a
:class:`~compat.models.CompatCredential`; its stream and event serve the traffic.
"""

from __future__ import annotations

import base64
import binascii
import re

from django.conf import settings
from django.db import transaction
from rest_framework.authentication import BaseAuthentication
from rest_framework.response import Response

from otp import services
from otp.errors import ErrorCode, OtpError
from otp.models import Verification
from streams import phones

from .common import (
    PeerAPIView,
    PeerFormParser,
    PeerJSONParser,
    PeerMultiPartParser,
    QueryStringNoiseParser,
    peer_params,
)
from .credentials import credential_for_token, find_credential, issue_token
from .models import CompatCredential, CompatReference

PEER = CompatCredential.Peer.VERIFYNOW

# The peer's response codes (``responseCode`` and ``message``).
SUCCESS = (200, "SUCCESS")
BAD_REQUEST = (400, "BAD_REQUEST")
UNAUTHORIZED = (401, "UNAUTHORIZED")
FORBIDDEN = (403, "FORBIDDEN")
SERVER_ERROR = (500, "SERVER_ERROR")
INVALID_CUSTOMER_ID = (501, "INVALID_CUSTOMER_ID")
INVALID_VERIFICATION_ID = (505, "INVALID_VERIFICATION_ID")
INVALID_COUNTRY_CODE = (511, "INVALID_COUNTRY_CODE")
VERIFICATION_FAILED = (700, "VERIFICATION_FAILED")
WRONG_OTP_PROVIDED = (702, "WRONG_OTP_PROVIDED")
ALREADY_VERIFIED = (703, "ALREADY_VERIFIED")
VERIFICATION_EXPIRED = (705, "VERIFICATION_EXPIRED")
MAXIMUM_LIMIT_REACHED = (800, "MAXIMUM_LIMIT_REACHED")

VERIFICATION_COMPLETED = "VERIFICATION_COMPLETED"

# Our refusals in the peer's codes; anything else is a BAD_REQUEST.
PEER_CODES = {
    ErrorCode.MISSING_TOKEN: UNAUTHORIZED,
    ErrorCode.INVALID_TOKEN: UNAUTHORIZED,
    ErrorCode.IP_NOT_ALLOWED: FORBIDDEN,
    ErrorCode.STREAM_NOT_ACTIVE: FORBIDDEN,
    ErrorCode.COUNTRY_NOT_ALLOWED: INVALID_COUNTRY_CODE,
    ErrorCode.SEND_LIMIT_REACHED: MAXIMUM_LIMIT_REACHED,
    ErrorCode.DESTINATION_NOT_ALLOWED: FORBIDDEN,
    ErrorCode.BUDGET_EXHAUSTED: MAXIMUM_LIMIT_REACHED,
    ErrorCode.THROTTLED: MAXIMUM_LIMIT_REACHED,
    ErrorCode.VERIFICATION_NOT_FOUND: INVALID_VERIFICATION_ID,
    ErrorCode.WRONG_CODE: WRONG_OTP_PROVIDED,
    ErrorCode.VERIFICATION_EXPIRED: VERIFICATION_EXPIRED,
    ErrorCode.MAX_ATTEMPTS_REACHED: MAXIMUM_LIMIT_REACHED,
    ErrorCode.ALREADY_APPROVED: ALREADY_VERIFIED,
    ErrorCode.VERIFICATION_CANCELED: VERIFICATION_FAILED,
    ErrorCode.VERIFICATION_FAILED: VERIFICATION_FAILED,
    ErrorCode.SERVICE_UNAVAILABLE: SERVER_ERROR,
    "internal_error": SERVER_ERROR,
    "invalid_customer_id": INVALID_CUSTOMER_ID,
    "invalid_country_code": INVALID_COUNTRY_CODE,
}

OTP_LENGTH_RANGE = range(4, 9)
COUNTRY_CODE_RE = re.compile(r"^\+?([0-9]{1,4})$")
MOBILE_NUMBER_RE = re.compile(r"^[0-9]{4,15}$")
VERIFICATION_ID_RE = re.compile(r"^[0-9]{1,16}$")


class PeerError(OtpError):
    """A refusal that only the peer's API has (no engine code)."""


# --- Authentication and the base view --------------------------------------------


class AuthTokenAuthentication(BaseAuthentication):
    """The ``authToken`` header, a token from the token call: ``request.user`` is the
    credential that asked for it, ``request.auth`` the stream serving it."""

    def authenticate(self, request):
        auth_token = request.headers.get("authToken", "").strip()
        if not auth_token:
            raise PeerError(ErrorCode.MISSING_TOKEN, "Send the token in the authToken header.")
        credential = credential_for_token(auth_token)
        if credential is None:
            raise PeerError(
                ErrorCode.INVALID_TOKEN,
                "The authToken is invalid or expired: "
                "ask /auth/v1/authentication/token for a new one.",
            )
        return credential, credential.stream


class CustomerKeyAuthentication(BaseAuthentication):
    """The token call's sign-in: ``customerId`` and ``key`` (the base64 of the
    credential's password) among its parameters."""

    def authenticate(self, request):
        params = peer_params(request, query=True)
        customer_id, key = _text(params, "customerId"), _text(params, "key")
        missing = [name for name, value in (("customerId", customer_id), ("key", key)) if not value]
        if missing:
            raise PeerError(ErrorCode.INVALID_REQUEST, f"{' and '.join(missing)} required.")
        credential = find_credential(peer=PEER, login=customer_id, secret=_password(key))
        if credential is None:
            raise PeerError(ErrorCode.INVALID_TOKEN, "customerId or key is invalid.", status=401)
        return credential, credential.stream


class VerifyNowView(PeerAPIView):
    """Parameters in the query string (a body's are read too); refusals in the
    envelope ``{responseCode, message, data}``."""

    authentication_classes = [AuthTokenAuthentication]
    query_parameters = True
    parser_classes = [PeerJSONParser, PeerFormParser, PeerMultiPartParser, QueryStringNoiseParser]

    def render_error(self, error: OtpError) -> Response:
        response_code, name = PEER_CODES.get(error.code, BAD_REQUEST)
        data = {"responseCode": str(response_code), "errorMessage": error.message}
        data.update(error.details.get("verifynow_data", {}))
        return Response(
            {"responseCode": response_code, "message": name, "data": data},
            status=error.status,
            headers=error.headers,
        )


# --- Token --------------------------------------------------------------------------


class TokenView(VerifyNowView):
    """``/auth/v1/authentication/token?customerId&key&scope=NEW[&country][&email]``:
    ``key`` is the base64 of the credential's password."""

    authentication_classes = [CustomerKeyAuthentication]
    http_method_names = ["get", "post"]

    def render_error(self, error: OtpError) -> Response:
        """The token call answers ``{status, error}`` rather than the envelope."""
        return Response(
            {"status": error.status, "error": error.message},
            status=error.status,
            headers=error.headers,
        )

    def get(self, request) -> Response:
        scope = _text(self.params(request), "scope")
        if scope and scope.upper() != "NEW":
            raise PeerError(ErrorCode.INVALID_REQUEST, "scope must be NEW.")
        ttl = settings.COMPAT_VERIFYNOW_TOKEN_TTL_SECONDS
        auth_token, _expires = issue_token(request.user, ttl_seconds=ttl)
        return Response({"status": 200, "token": auth_token, "expiresIn": ttl}, status=200)

    post = get


def _password(key: str) -> str:
    """The password in ``key``: base64 (standard or URL-safe; a ``+`` that an unencoded
    query string turned into a space is read back as ``+``)."""
    text = key.strip().replace(" ", "+")
    text += "=" * (-len(text) % 4)
    altchars = b"-_" if ("-" in text or "_" in text) else None
    try:
        return base64.b64decode(text, altchars=altchars, validate=True).decode()
    except (binascii.Error, ValueError):
        return ""


# --- Send ---------------------------------------------------------------------------


class SendView(VerifyNowView):
    """Send a code: ``countryCode``, ``mobileNumber``, ``flowType=SMS``, ``otpLength``
    (4-8, default 4) with the ``authToken`` header."""

    http_method_names = ["post"]

    def post(self, request) -> Response:
        credential: CompatCredential = request.user
        params = self.params(request)
        _check_customer(credential, params)
        flow_type = _text(params, "flowType").upper() or "SMS"
        if flow_type != "SMS":
            raise PeerError(
                ErrorCode.INVALID_REQUEST, f"flowType {flow_type} is not supported: use SMS."
            )
        country_code = _text(params, "countryCode")
        match = COUNTRY_CODE_RE.match(country_code)
        if not match or not phones.is_calling_code(int(match.group(1))):
            raise PeerError(
                "invalid_country_code", f"countryCode {country_code!r} is not a calling code."
            )
        mobile_number = _text(params, "mobileNumber")
        if not MOBILE_NUMBER_RE.match(mobile_number):
            raise PeerError(
                ErrorCode.INVALID_PHONE, "mobileNumber must be the national number's digits."
            )
        length = _otp_length(params, credential.stream)
        with transaction.atomic():
            result = services.send_otp(
                stream=credential.stream,
                recipient=f"+{match.group(1)}{mobile_number}",
                event_key=credential.event_key,
                caller_ip=request.caller_ip,
                overrides=services.CodeOverrides(
                    length=length, digits=True, upper=False, lower=False, special=False
                ),
            )
            reference = CompatReference.objects.create(verification=result.verification)
        return Response(
            {
                "responseCode": SUCCESS[0],
                "message": SUCCESS[1],
                "data": {
                    "verificationId": str(reference.id),
                    "mobileNumber": mobile_number,
                    "responseCode": str(SUCCESS[0]),
                    "errorMessage": None,
                    "timeout": str(credential.stream.code_ttl_seconds),
                    "smsCLI": None,
                    "transactionId": None,
                },
            },
            status=200,
        )


def _otp_length(params: dict, stream) -> int | None:
    """The requested length, or ``None`` for the stream's (the peer's default is 4
    digits; ours is the stream's policy). Shorter than the stream's is refused: the
    peer promises no leniency, and a request only tightens the policy."""
    value = _text(params, "otpLength")
    if not value:
        return None
    if not value.isdigit() or int(value) not in OTP_LENGTH_RANGE:
        raise PeerError(ErrorCode.INVALID_REQUEST, "otpLength must be a number from 4 to 8.")
    if int(value) < stream.code_length:
        raise PeerError(
            ErrorCode.INVALID_REQUEST,
            f"otpLength must be at least this account's code length ({stream.code_length}).",
        )
    return int(value)


# --- Validate -----------------------------------------------------------------------


class ValidateView(VerifyNowView):
    """Check a code: ``verificationId`` and ``code`` with the ``authToken`` header."""

    http_method_names = ["get", "post"]

    def get(self, request) -> Response:
        credential: CompatCredential = request.user
        params = self.params(request)
        _check_customer(credential, params)
        verification_id, code = _text(params, "verificationId"), _text(params, "code")
        if not code:
            raise PeerError(ErrorCode.INVALID_REQUEST, "code is required.")
        reference = None
        if VERIFICATION_ID_RE.match(verification_id):
            reference = (
                CompatReference.objects.filter(
                    id=int(verification_id), verification__stream=credential.stream
                )
                .select_related("verification")
                .first()
            )
        if reference is None:
            raise PeerError(
                ErrorCode.VERIFICATION_NOT_FOUND, "verificationId is unknown.", status=404
            )
        data = {
            "verificationId": verification_id,
            "mobileNumber": _national_number(reference.verification),
        }
        try:
            services.check_code(
                stream=credential.stream, code=code, verification_id=reference.verification_id
            )
        except OtpError as refusal:
            refusal.details["verifynow_data"] = data
            raise
        return Response(
            {
                "responseCode": SUCCESS[0],
                "message": SUCCESS[1],
                "data": {
                    **data,
                    "verificationStatus": VERIFICATION_COMPLETED,
                    "responseCode": str(SUCCESS[0]),
                    "errorMessage": None,
                    "transactionId": None,
                    "authToken": None,
                },
            },
            status=200,
        )

    post = get


class NotFoundView(VerifyNowView):
    """Any other path under the prefix: a 404 in the envelope, not an HTML page."""

    authentication_classes = []
    permission_classes = []
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get(self, request, *args, **kwargs) -> Response:
        raise OtpError(ErrorCode.NOT_FOUND, "No such endpoint.", status=404)

    post = put = patch = delete = head = options = get


# --- Helpers ------------------------------------------------------------------------


def _check_customer(credential: CompatCredential, params: dict) -> None:
    customer_id = _text(params, "customerId")
    if customer_id and customer_id != credential.login:
        raise PeerError("invalid_customer_id", "customerId does not match the authToken.")


def _text(params: dict, name: str) -> str:
    value = params.get(name)
    if value is None or isinstance(value, bool | dict | list):
        return ""
    return str(value).strip()


def _national_number(verification: Verification) -> str:
    try:
        return phones.parse_phone(verification.recipient).national_number
    except phones.PhoneNumberError:
        return verification.recipient
