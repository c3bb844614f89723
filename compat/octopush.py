"""Octopush compatibility: the OTP generate and validate calls of
https://api.octopush.com/v1/public/service/otp/, under ``/compat/octopush/``.

``api-login`` and ``api-key`` headers name a
:class:`~compat.models.CompatCredential`. The body's settings (length, alphabet,
validity, wrong attempts, text, sender, channel, voice) become ``CodeOverrides`` of the
credential's stream; ``compat.leniency`` reads them the way the peer promises,
reporting every conversion in the answer's ``warnings``.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from datetime import timedelta

from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.response import Response

from otp import services
from otp.errors import ErrorCode, OtpError
from otp.models import Verification
from streams import placeholders, policy
from streams.models import Stream

from .common import PeerAPIView
from .credentials import find_credential
from .leniency import Reader, Refused
from .models import CompatCredential

PEER = CompatCredential.Peer.OCTOPUSH

# The peer's documented codes; refusals it documents none for carry the HTTP status.
SUCCESS = 0
LOGIN_INCORRECT = 101
SENDER_INCORRECT = 106
LOGIN_MISSING = 108
KEY_MISSING = 109
INVALID_NUMBER = 150
TOKEN_OR_PHONE_REQUIRED = 194
CODE_REQUIRED = 195
MAX_WRONG_ATTEMPTS = 196
OTP_EXPIRED = 197
OTP_NOT_FOUND = 198
WRONG_CODE = 199

PEER_CODES = {
    ErrorCode.INVALID_PHONE: INVALID_NUMBER,
    ErrorCode.NOT_MOBILE: INVALID_NUMBER,
    ErrorCode.COUNTRY_NOT_ALLOWED: INVALID_NUMBER,
    ErrorCode.DESTINATION_NOT_ALLOWED: INVALID_NUMBER,
    ErrorCode.SENDER_REQUIRED: SENDER_INCORRECT,
    ErrorCode.UNKNOWN_SENDER: SENDER_INCORRECT,
    ErrorCode.SENDER_NOT_ALLOWED: SENDER_INCORRECT,
    ErrorCode.WRONG_CODE: WRONG_CODE,
    ErrorCode.MAX_ATTEMPTS_REACHED: MAX_WRONG_ATTEMPTS,
    ErrorCode.VERIFICATION_EXPIRED: OTP_EXPIRED,
    ErrorCode.VERIFICATION_NOT_FOUND: OTP_NOT_FOUND,
    ErrorCode.VERIFICATION_CANCELED: OTP_NOT_FOUND,
    ErrorCode.ALREADY_APPROVED: OTP_NOT_FOUND,
    ErrorCode.VERIFICATION_FAILED: OTP_NOT_FOUND,
}
# The validate call answers every refusal of a code with 400, as the peer documents.
VALIDATION_OUTCOMES = {WRONG_CODE, MAX_WRONG_ATTEMPTS, OTP_EXPIRED, OTP_NOT_FOUND}

CHANNELS = {"sms": "sms", "text_sms": "sms", "voice_sms": "voice", "sms_voice": "voice"}
UNSUPPORTED_CHANNELS = {"whatsapp", "email", "imessage"}
VOICE_LANGUAGES = [
    "en-US", "en-GB", "el-GR", "pl-PL", "hu-HU", "sv-SE", "de-DE",
    "es-ES", "es-LA", "fr-FR", "it-IT", "pt-BR", "ru-RU",
]  # fmt: skip
VOICE_GENDERS = ["male", "female"]
TEXT_MAX_LENGTH = 1224
PEER_CODE_RE = re.compile(r"(?<!\{)\{code\}(?!\})")
EXPIRY_PLACEHOLDER = "{hh:mm:ss}"
SENDER_FORBIDDEN_RE = re.compile(r"[^A-Za-z0-9]")
PHONE_FORMATTING_RE = re.compile(r"[\s.\-()/]")
TOKEN_RE = re.compile(r"^otp_([0-9a-f]{32})$")

GENERATE_PARAMS = {
    "phone_number", "text", "channel", "sender", "code_length", "allow_digits",
    "allow_upper_case", "allow_lower_case", "allow_special_chars",
    "remove_confusing_characters", "validity_period", "max_wrong_attempts",
    "recipient_ip", "voice_language", "voice_gender",
}  # fmt: skip
VALIDATE_PARAMS = {"phone_number", "code", "otp_request_token"}


def _refusal(
    code: int, message: str, reader: Reader | None, *, status: int = 400, field: str = ""
) -> OtpError:
    return OtpError(
        ErrorCode.INVALID_REQUEST,
        message,
        fields={field: message} if field else None,
        status=status,
        details={"octopush_code": code, "warnings": reader.warnings if reader else []},
    )


# --- Authentication and the base view --------------------------------------------


class ApiKeyAuthentication(BaseAuthentication):
    """The ``api-login`` and ``api-key`` headers: ``request.user`` is the credential,
    ``request.auth`` the stream serving it."""

    def authenticate(self, request):
        login = request.headers.get("api-login", "").strip()
        key = request.headers.get("api-key", "").strip()
        if not login:
            raise _refusal(LOGIN_MISSING, "The api-login header is missing.", None, status=401)
        if not key:
            raise _refusal(KEY_MISSING, "The api-key header is missing.", None, status=401)
        credential = find_credential(peer=PEER, login=login, secret=key)
        if credential is None:
            raise _refusal(LOGIN_INCORRECT, "api-login or api-key is incorrect.", None, status=401)
        return credential, credential.stream


class OctopushView(PeerAPIView):
    """A JSON (or form) body; refusals as ``{code, message, [fields], warnings}`` with
    the peer's codes, or the HTTP status where it documents none."""

    authentication_classes = [ApiKeyAuthentication]
    # The validate call answers every refusal of a code with 400, as the peer documents.
    validation = False

    def render_error(self, error: OtpError) -> Response:
        code = error.details.get("octopush_code") or PEER_CODES.get(error.code) or error.status
        body = {"code": code, "message": error.message}
        if code == WRONG_CODE:
            body["remaining_number_of_attempts"] = error.details.get("attempts_left", 0)
        if error.fields:
            body["fields"] = error.fields
        body["warnings"] = error.details.get("warnings", [])
        status = 400 if self.validation and code in VALIDATION_OUTCOMES else error.status
        return Response(body, status=status, headers=error.headers)


# --- Generate -----------------------------------------------------------------------


class GenerateView(OctopushView):
    """Send a code: ``phone_number`` and the optional settings the peer documents."""

    http_method_names = ["post"]

    def post(self, request) -> Response:
        credential: CompatCredential = request.user
        stream = credential.stream
        reader = Reader(self.params(request))
        try:
            send = _send_arguments(reader, stream)
        except Refused as refused:
            raise _refusal(
                INVALID_NUMBER
                if refused.name == "phone_number"
                else SENDER_INCORRECT
                if refused.name == "sender"
                else 400,
                refused.message,
                reader,
                field=refused.name,
            ) from None
        try:
            result = services.send_otp(
                stream=stream, event_key=credential.event_key, caller_ip=request.caller_ip, **send
            )
        except OtpError as refusal:
            refusal.details["warnings"] = reader.warnings
            raise
        verification = result.verification
        ticket = result.message.id.hex if result.message else verification.id.hex
        return Response(
            {
                "code": SUCCESS,
                "message": "success",
                "ticket_number": f"otp{ticket}",
                "otp_request_token": f"otp_{verification.id.hex}",
                "warnings": reader.warnings,
            },
            status=201,
        )


def _send_arguments(reader: Reader, stream: Stream) -> dict:
    """``send_otp``'s arguments from the body, or :class:`Refused`."""
    reader.ignore_unknown(GENERATE_PARAMS)
    phone = reader.text("phone_number")
    if not phone:
        raise Refused("phone_number", "phone_number is required (+XXZZZZZ).")
    cleaned = PHONE_FORMATTING_RE.sub("", phone)
    if cleaned != phone:
        reader.warn("phone_number", f"removed spaces and punctuation: {cleaned!r}.")
    if not cleaned.startswith("+"):
        raise Refused(
            "phone_number", "phone_number must be international, +XXZZZZZ (e.g. +33611223344)."
        )

    channel_name = reader.text("channel")
    if channel_name.lower() in UNSUPPORTED_CHANNELS:
        raise Refused("channel", f"channel {channel_name} is not supported: use sms or voice_sms.")
    channel = reader.choice("channel", CHANNELS) or "sms"

    length = reader.integer("code_length", **_bounds(policy.CODE_LENGTH))
    switches = {
        "digits": reader.boolean("allow_digits"),
        "upper": reader.boolean("allow_upper_case"),
        "lower": reader.boolean("allow_lower_case"),
        "special": reader.boolean("allow_special_chars"),
    }
    effective = [
        value if value is not None else getattr(stream, f"code_{kind}")
        for kind, value in switches.items()
    ]
    if not any(effective):
        raise Refused("allow_digits", "allow_* leave no kind of character for the code.")
    if reader.present("remove_confusing_characters"):
        reader.warn("remove_confusing_characters", "not supported, ignored.")
    ttl = reader.integer("validity_period", **_bounds(policy.CODE_TTL_SECONDS))
    max_attempts = reader.integer(
        "max_wrong_attempts", string_ok=True, **_bounds(policy.MAX_ATTEMPTS)
    )
    # The peer promises leniency, so a setting looser than the stream's is clamped to
    # the stream's (with a warning) rather than refused: a request only tightens.
    length = _tighten(reader, "code_length", length, stream.code_length, floor=True)
    length, switches = _keep_code_space(reader, stream, length, switches)
    ttl = _tighten(reader, "validity_period", ttl, stream.code_ttl_seconds, floor=False)
    max_attempts = _tighten(
        reader, "max_wrong_attempts", max_attempts, stream.max_attempts, floor=False
    )

    recipient_ip = reader.text("recipient_ip")
    if recipient_ip in ("", "0"):
        recipient_ip = None
    else:
        try:
            recipient_ip = str(ipaddress.ip_address(recipient_ip))
        except ValueError:
            raise Refused("recipient_ip", "recipient_ip must be an IPv4 or IPv6 address.") from None

    voice_language = reader.choice("voice_language", {v: v for v in VOICE_LANGUAGES}) or ""
    voice_gender = reader.choice("voice_gender", {v: v for v in VOICE_GENDERS}) or ""
    if channel != "voice":
        for name, value in (("voice_language", voice_language), ("voice_gender", voice_gender)):
            if value:
                reader.warn(name, "only used by the voice_sms channel, ignored.")
        voice_language = voice_gender = ""

    return {
        "recipient": cleaned,
        "channel": channel,
        "sender": _sender(reader, stream),
        "voice_language": voice_language,
        "voice_gender": voice_gender,
        "end_user_ip": recipient_ip,
        "overrides": services.CodeOverrides(
            length=length,
            ttl_seconds=ttl,
            max_attempts=max_attempts,
            text=_text(reader, stream, ttl or stream.code_ttl_seconds),
            **switches,
        ),
    }


def _tighten(
    reader: Reader, name: str, value: int | None, streams: int, *, floor: bool
) -> int | None:
    """``value``, or the stream's own when ``value`` would loosen it (below the
    stream's when ``floor``, above it otherwise)."""
    if value is None:
        return None
    if (value < streams) if floor else (value > streams):
        reader.warn(
            name,
            f"{value} is {'below' if floor else 'above'} this account's policy; used {streams}.",
        )
        return streams
    return value


def _keep_code_space(
    reader: Reader, stream: Stream, length: int | None, switches: dict[str, bool | None]
) -> tuple[int | None, dict[str, bool | None]]:
    """Fewer kinds of character than the stream's would make codes easier to guess:
    the code is made longer to keep as many possible codes as the stream's (or, when
    no length does, the stream's characters are used), with a warning."""
    if not stream.platform_generates_code:
        return length, switches
    kinds = {k: v if v is not None else getattr(stream, f"code_{k}") for k, v in switches.items()}
    size = len(policy.alphabet(**kinds))
    asked = length or stream.code_length
    if size**asked >= stream.code_space:
        return length, switches
    longer = policy.shortest_length(size, stream.code_space)
    if longer is not None:
        reader.warn(
            "code_length",
            f"{asked} characters of this kind are easier to guess than this account's "
            f"codes; used {longer}.",
        )
        return longer, switches
    reader.warn(
        "allow_digits", "these characters are too few for this account's codes; used its own."
    )
    return length, dict.fromkeys(switches)


def _bounds(allowed: policy.Range) -> dict[str, int]:
    """A request cannot go beyond what a stream may."""
    return {"minimum": allowed.minimum, "maximum": allowed.maximum}


def _sender(reader: Reader, stream: Stream) -> str:
    sender = reader.text("sender")
    if not sender:
        return ""
    cleaned = SENDER_FORBIDDEN_RE.sub("", sender)
    if cleaned != sender:
        reader.warn("sender", f"removed characters other than a-z, A-Z, 0-9: {cleaned!r}.")
    if not 3 <= len(cleaned) <= 11:
        raise Refused("sender", "sender must have 3 to 11 characters a-z, A-Z, 0-9.")
    if not stream.is_customized_sender:
        reader.warn("sender", f"this account sends from {stream.default_sender.value!r}; ignored.")
        return ""
    return cleaned


def _text(reader: Reader, stream: Stream, ttl_seconds: int) -> str | None:
    """The message text in our template syntax, or ``None`` for the event template.
    Only streams whose admin allowed caller-supplied text take one (free text is how a
    stolen key sends phishing links); it still carries the code."""
    text = reader.text("text")
    if not text:
        return None
    if not stream.caller_text_allowed:
        raise Refused(
            "text",
            "This account does not accept a message text from the caller: leave text "
            "out (its own template is used) or ask its admin to allow caller-supplied text.",
        )
    if len(text) > TEXT_MAX_LENGTH:
        raise Refused("text", f"text has {len(text)} characters; at most {TEXT_MAX_LENGTH}.")
    # The peer's {code}; our own {{code}} is left as it is.
    text = PEER_CODE_RE.sub(placeholders.placeholder(placeholders.CODE), text)
    if placeholders.CODE not in placeholders.placeholders_in(text):
        code = placeholders.placeholder(placeholders.CODE)
        text = text + code if text.endswith(" ") else f"{text} {code}"
        reader.warn("text", "has no {code} placeholder; the code was added at the end.")
    expiry = (timezone.now() + timedelta(seconds=ttl_seconds)).strftime("%H:%M:%S")
    return text.replace(EXPIRY_PLACEHOLDER, f"{expiry} UTC")


# --- Validate -----------------------------------------------------------------------


class ValidateView(OctopushView):
    """Check a code: ``code`` with ``otp_request_token`` or ``phone_number``."""

    http_method_names = ["put", "post"]
    validation = True

    def put(self, request) -> Response:
        credential: CompatCredential = request.user
        reader = Reader(self.params(request))
        reader.ignore_unknown(VALIDATE_PARAMS)
        try:
            code = reader.text("code")
            token = reader.text("otp_request_token")
            phone = reader.text("phone_number")
        except Refused as refused:
            raise _refusal(400, refused.message, reader, field=refused.name) from None
        if not token and not phone:
            raise _refusal(
                TOKEN_OR_PHONE_REQUIRED,
                "At least phone number or request token is mandatory.",
                reader,
            )
        if not code:
            raise _refusal(CODE_REQUIRED, "The code field is mandatory.", reader)
        try:
            verification_id = _verification_id(credential, token, phone)
            services.check_code(
                stream=credential.stream,
                code=code,
                verification_id=verification_id,
                recipient=phone if verification_id is None else "",
                event_key=credential.event_key,
            )
        except OtpError as refusal:
            refusal.details["warnings"] = reader.warnings
            raise
        return Response({"code": SUCCESS, "message": "success", "warnings": reader.warnings}, 200)

    post = put


def _verification_id(credential: CompatCredential, token: str, phone: str) -> uuid.UUID | None:
    """The verification a token names (checked against the phone number when both are
    given); ``None`` to look up the recipient's latest code by phone number."""
    if not token:
        return None
    match = TOKEN_RE.match(token)
    recipient = (
        Verification.objects.filter(stream=credential.stream, id=uuid.UUID(match.group(1)))
        .values_list("recipient", flat=True)
        .first()
        if match
        else None
    )
    if recipient is None:
        raise OtpError(ErrorCode.VERIFICATION_NOT_FOUND, "OTP Request not found.")
    if phone and services.normalize_recipient(phone, channel="voice") != recipient:
        raise OtpError(
            ErrorCode.VERIFICATION_NOT_FOUND, "OTP Request not found for this phone number."
        )
    return uuid.UUID(match.group(1))


class NotFoundView(OctopushView):
    """Any other path under the prefix: a 404 in the peer's shape, not an HTML page."""

    authentication_classes = []
    permission_classes = []
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get(self, request, *args, **kwargs) -> Response:
        raise OtpError(ErrorCode.NOT_FOUND, "No such endpoint.", status=404)

    post = put = patch = delete = head = options = get
