"""The OTP API's endpoints: parse, call one service, render."""

from django.http import JsonResponse
from django.utils import timezone
from django.views import defaults
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from streams.clients import client_address

from . import analytics, rollups, services
from .api import (
    BoundedJSONParser,
    CallerIPThrottle,
    StreamAcceptsCaller,
    StreamTokenAuthentication,
    TokenThrottle,
    prefetch_stream_and_throttles,
)
from .errors import ErrorCode, OtpError
from .serializers import (
    AnalyticsQuerySerializer,
    AnalyticsSerializer,
    ErrorSerializer,
    ResendRequestSerializer,
    SendRequestSerializer,
    VerificationDetailSerializer,
    VerificationSerializer,
    VerifyRequestSerializer,
)


def _errors(*codes: str) -> dict[int, OpenApiResponse]:
    """The documented refusals of an endpoint, grouped by HTTP status."""
    common = (
        ErrorCode.MISSING_TOKEN,
        ErrorCode.INVALID_TOKEN,
        ErrorCode.IP_NOT_ALLOWED,
        ErrorCode.STREAM_NOT_ACTIVE,
        ErrorCode.THROTTLED,
        ErrorCode.SERVICE_UNAVAILABLE,
    )
    by_status: dict[int, list[str]] = {}
    for code in ErrorCode:
        if code in common or code in codes:
            for status in (code.status, *code.other_statuses):
                by_status.setdefault(status, []).append(f"`{code}`: {code.description}")
    return {
        status: OpenApiResponse(ErrorSerializer, description="; ".join(lines))
        for status, lines in sorted(by_status.items())
    }


BODY_ERRORS = (
    ErrorCode.MALFORMED_JSON,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    ErrorCode.PAYLOAD_TOO_LARGE,
    ErrorCode.INVALID_REQUEST,
    ErrorCode.UNKNOWN_FIELD,
)


class OtpAPIView(APIView):
    authentication_classes = [StreamTokenAuthentication]
    permission_classes = [StreamAcceptsCaller]
    throttle_classes = [CallerIPThrottle, TokenThrottle]
    parser_classes = [BoundedJSONParser]

    def get_throttles(self):
        # The caller-IP throttle runs before authentication: a flood of bad tokens is
        # cut off too. The token throttle needs the stream, so it runs after.
        return [TokenThrottle()]

    def initial(self, request, *args, **kwargs):
        request.caller_ip = client_address(request)  # read by the throttle and the permission
        prefetch_stream_and_throttles(request)
        ip_throttle = CallerIPThrottle()
        if not ip_throttle.allow_request(request, self):
            self.throttled(request, ip_throttle.wait())
        super().initial(request, *args, **kwargs)


class SendView(OtpAPIView):
    @extend_schema(
        operation_id="send_otp",
        summary="Auth request: send a code",
        request=SendRequestSerializer,
        examples=[
            OpenApiExample(
                "A log-in code by SMS",
                value={"recipient": "+14155552671", "event": "login"},
                request_only=True,
            )
        ],
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Same as the body's `idempotency_key`.",
            )
        ],
        responses={
            201: VerificationSerializer,
            200: OpenApiResponse(
                VerificationSerializer,
                description="An idempotent retry: the first send's verification "
                "(header `Idempotent-Replayed: true`).",
            ),
            **_errors(
                *BODY_ERRORS,
                ErrorCode.INVALID_PHONE,
                ErrorCode.NOT_MOBILE,
                ErrorCode.COUNTRY_NOT_ALLOWED,
                ErrorCode.TEST_NUMBERS_ONLY,
                ErrorCode.UNKNOWN_EVENT,
                ErrorCode.SENDER_NOT_ALLOWED,
                ErrorCode.SENDER_REQUIRED,
                ErrorCode.UNKNOWN_SENDER,
                ErrorCode.CODE_REQUIRED,
                ErrorCode.CODE_NOT_ALLOWED,
                ErrorCode.INVALID_CODE_FORMAT,
                ErrorCode.MISSING_VARIABLE,
                ErrorCode.EMPTY_MESSAGE,
                ErrorCode.VOICE_LANGUAGE_UNSUPPORTED,
                ErrorCode.SEND_LIMIT_REACHED,
                ErrorCode.DESTINATION_NOT_ALLOWED,
                ErrorCode.BUDGET_EXHAUSTED,
                ErrorCode.SEND_BLOCKED,
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
            ),
        },
    )
    @sensitive_variables("data", "serializer")
    def post(self, request):
        serializer = SendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        key = data.get("idempotency_key", "")
        header_key = request.headers.get("Idempotency-Key", "").strip()
        if header_key and key and header_key != key:
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                "The Idempotency-Key header and the body's idempotency_key differ.",
                fields={"idempotency_key": "Differs from the Idempotency-Key header."},
            )
        if len(header_key) > 128:
            raise OtpError(
                ErrorCode.INVALID_REQUEST,
                "The Idempotency-Key header is longer than 128 characters.",
                fields={"idempotency_key": "At most 128 characters."},
            )
        result = services.send_otp(
            stream=request.auth,
            recipient=data["recipient"],
            country=data.get("country", ""),
            event_key=data["event"],
            channel=data["channel"],
            sender=data.get("sender", ""),
            code=data.get("code", ""),
            variables=data.get("variables"),
            locale=data.get("locale", ""),
            voice_language=data.get("voice_language", ""),
            voice_gender=data.get("voice_gender", ""),
            end_user_ip=data.get("end_user_ip"),
            caller_ip=request.caller_ip,
            idempotency_key=key or header_key,
        )
        body = VerificationSerializer(result.verification, context={"message": result.message}).data
        if result.replayed:
            return Response(body, status=200, headers={"Idempotent-Replayed": "true"})
        return Response(body, status=201)


class VerifyView(OtpAPIView):
    @extend_schema(
        operation_id="verify_otp",
        summary="Verification request: check a code",
        request=VerifyRequestSerializer,
        examples=[
            OpenApiExample(
                "By verification id",
                value={"id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "code": "123456"},
                request_only=True,
            ),
            OpenApiExample(
                "By recipient and event",
                value={"recipient": "+14155552671", "event": "login", "code": "123456"},
                request_only=True,
            ),
        ],
        responses={
            200: VerificationSerializer,
            **_errors(
                *BODY_ERRORS,
                ErrorCode.VERIFICATION_NOT_FOUND,
                ErrorCode.WRONG_CODE,
                ErrorCode.VERIFICATION_EXPIRED,
                ErrorCode.MAX_ATTEMPTS_REACHED,
                ErrorCode.ALREADY_APPROVED,
                ErrorCode.VERIFICATION_CANCELED,
                ErrorCode.VERIFICATION_FAILED,
            ),
        },
    )
    @sensitive_variables("data", "serializer")
    def post(self, request):
        serializer = VerifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        verification = services.check_code(
            stream=request.auth,
            code=data["code"],
            verification_id=data.get("id"),
            recipient=data.get("recipient", ""),
            event_key=data.get("event", ""),
            country=data.get("country", ""),
        )
        return Response(VerificationSerializer(verification, context={"message": None}).data)


class VerificationView(OtpAPIView):
    @extend_schema(
        operation_id="get_verification",
        summary="A verification's status and reason, with its timeline of sends, checks "
        "and fallbacks (answered for as long as the verification is retained)",
        responses={
            200: VerificationDetailSerializer,
            **_errors(ErrorCode.VERIFICATION_NOT_FOUND),
        },
    )
    def get(self, request, verification_id):
        verification = services.get_verification(
            stream=request.auth, verification_id=verification_id
        )
        return Response(VerificationDetailSerializer(verification).data)


class CancelView(OtpAPIView):
    @extend_schema(
        operation_id="cancel_verification",
        summary="Cancel a pending verification",
        request=None,
        responses={
            200: VerificationSerializer,
            **_errors(
                ErrorCode.VERIFICATION_NOT_FOUND,
                ErrorCode.VERIFICATION_EXPIRED,
                ErrorCode.MAX_ATTEMPTS_REACHED,
                ErrorCode.ALREADY_APPROVED,
                ErrorCode.VERIFICATION_CANCELED,
                ErrorCode.VERIFICATION_FAILED,
            ),
        },
    )
    def post(self, request, verification_id):
        verification = services.cancel_verification(
            stream=request.auth, verification_id=verification_id
        )
        return Response(VerificationSerializer(verification, context={"message": None}).data)


class ResendView(OtpAPIView):
    @extend_schema(
        operation_id="resend_verification",
        summary="Resend a pending verification's code, by the stream's resend policy",
        description="Policy *same code*: the same code again on the same verification "
        "(its lifetime unchanged). Policy *new code*: a new verification for the same "
        "recipient and event (the previous code valid for the stream's grace period). "
        "Either counts against the send limit and the budgets, and passes the destination "
        "policy. `channel` switches SMS and voice.",
        request=ResendRequestSerializer,
        responses={
            201: VerificationSerializer,
            **_errors(
                *BODY_ERRORS,
                ErrorCode.VERIFICATION_NOT_FOUND,
                ErrorCode.VERIFICATION_EXPIRED,
                ErrorCode.MAX_ATTEMPTS_REACHED,
                ErrorCode.ALREADY_APPROVED,
                ErrorCode.VERIFICATION_CANCELED,
                ErrorCode.VERIFICATION_FAILED,
                ErrorCode.NOT_MOBILE,
                ErrorCode.UNKNOWN_EVENT,
                ErrorCode.SEND_LIMIT_REACHED,
                ErrorCode.DESTINATION_NOT_ALLOWED,
                ErrorCode.BUDGET_EXHAUSTED,
                ErrorCode.SEND_BLOCKED,
            ),
        },
    )
    def post(self, request, verification_id):
        serializer = ResendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.resend_verification(
            stream=request.auth,
            verification_id=verification_id,
            channel=serializer.validated_data.get("channel", ""),
            caller_ip=request.caller_ip,
        )
        body = VerificationSerializer(result.verification, context={"message": result.message}).data
        return Response(body, status=201)


class AnalyticsView(OtpAPIView):
    @extend_schema(
        operation_id="stream_analytics",
        summary="The stream's numbers: funnel, series, countries, gateways, latencies",
        parameters=[AnalyticsQuerySerializer],
        responses={200: AnalyticsSerializer, **_errors(*BODY_ERRORS)},
    )
    def get(self, request):
        query = AnalyticsQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        data = query.validated_data
        stream = request.auth
        start, end = analytics.period_bounds(
            data["period"], now=timezone.now(), first=data.get("from"), last=data.get("to")
        )
        filters = analytics.Filters(
            start=start,
            end=end,
            stream_ids=(stream.pk,),
            event_key=data.get("event", ""),
            channel=data.get("channel", ""),
            country=data.get("country", ""),
            gateway_id=data.get("gateway"),
            period=data["period"],
        )
        rollups.refresh_if_stale()
        return Response(analytics.overview(stream.account, filters))


def not_found(request, exception=None):
    """404 in the API's error shape under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return _json_error(OtpError(ErrorCode.NOT_FOUND, "No such endpoint.", status=404))
    return defaults.page_not_found(request, exception)


def server_error(request):
    """A bug: the API still answers in its error shape (the traceback goes to the log)."""
    if request.path.startswith("/api/"):
        return _json_error(
            OtpError("internal_error", "Something went wrong on our side.", status=500)
        )
    return defaults.server_error(request)


def _json_error(error: OtpError) -> JsonResponse:
    return JsonResponse(error.as_dict(), status=error.status)


def bench_ceiling(request):
    """The benchmarks' ceiling: the cheapest JSON answer this stack can give, served
    only when ``OTP_BENCH_CEILING`` is set (never in production)."""
    return JsonResponse({"ok": True})
