"""What both peers' endpoints share: reading parameters from the query string and the
body, the caller checks of the credential's stream, and turning any failure into the
peer's own error shape (a bug included: the client still gets JSON it can read)."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from streams.clients import client_address, ip_allowed
from streams.models import Stream

from ..api import CallerIPThrottle, to_otp_error
from ..errors import ErrorCode, OtpError

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[OtpError], HttpResponse]


def peer_endpoint(render_error: ErrorRenderer, methods: tuple[str, ...]):
    """Wrap a view of a peer API: CSRF-exempt (the peers' clients are servers), limited
    to ``methods``, throttled per caller address like our API, and every exception
    rendered by ``render_error`` -- never Django's HTML 500."""

    def decorate(view):
        # Error reports show no local variable of the view or below (the code, the
        # secret) and no form parameter (docs/security.md).
        view = sensitive_post_parameters()(sensitive_variables()(view))

        @csrf_exempt
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise OtpError(
                        ErrorCode.METHOD_NOT_ALLOWED,
                        f"Use {' or '.join(methods)}.",
                        headers={"Allow": ", ".join(methods)},
                    )
                throttle = CallerIPThrottle()
                if not throttle.allow_request(request, None):
                    wait = int(throttle.wait() or 1)
                    raise OtpError(
                        ErrorCode.THROTTLED,
                        f"Too many requests; retry in {wait} s.",
                        headers={"Retry-After": str(wait)},
                    )
                return view(request, *args, **kwargs)
            except Exception as exc:  # rendered in the peer's shape, never as HTML
                error = to_otp_error(exc)
                if error is None:
                    log.exception("compat endpoint failed", exc_info=exc)
                    error = OtpError(
                        "internal_error", "Something went wrong on our side.", status=500
                    )
                response = render_error(error)
                for name, value in error.headers.items():
                    response[name] = value
                return response

        return wrapped

    return decorate


def request_params(request: HttpRequest, *, query: bool) -> dict:
    """The request's parameters: the query string (when the peer sends them there,
    ``query``), then the body's (a JSON object or a form), the body winning. Refuses
    bodies above ``OTP_API_MAX_BODY_BYTES``; a body that is not a JSON object is an
    error, unless the parameters come in the query string and the body does not claim
    to be JSON (the peer's examples post an empty ``text/plain`` body)."""
    params: dict = {}
    if query:
        params.update(_flat(request.GET))
    limit = settings.OTP_API_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise OtpError(ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    body = request.body
    if len(body) > limit:
        raise OtpError(ErrorCode.PAYLOAD_TOO_LARGE, f"The body is larger than {limit} bytes.")
    if not body.strip():
        return params
    content_type = request.content_type or ""
    if content_type == "application/x-www-form-urlencoded":
        params.update(_flat(QueryDict(body, encoding="utf-8")))
        return params
    if content_type == "multipart/form-data":
        params.update(_flat(request.POST))
        return params
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        if query and content_type != "application/json":
            return params  # the parameters are in the query string; the body is noise
        raise OtpError(ErrorCode.MALFORMED_JSON, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        if query and content_type != "application/json":
            return params
        raise OtpError(ErrorCode.INVALID_REQUEST, "The body must be a JSON object.")
    params.update(data)
    return params


def _flat(query: QueryDict) -> dict[str, str]:
    return {key: query.get(key, "") for key in query}


def check_caller(request: HttpRequest, stream: Stream) -> str:
    """The caller's address, if the credential's stream is active and allows it."""
    if stream.status != Stream.Status.ACTIVE:
        raise OtpError(
            ErrorCode.STREAM_NOT_ACTIVE,
            f"The stream serving this credential is {stream.status}.",
        )
    ip = client_address(request)
    if not ip_allowed(ip, stream.allowed_ips):
        raise OtpError(
            ErrorCode.IP_NOT_ALLOWED,
            f"Calls from {ip or 'this address'} are not allowed: add the address to the "
            "allowed IPs of the stream serving this credential.",
        )
    return ip


def json_response(body: dict, status: int) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
