"""What both peers' endpoints share: a DRF base view wired with the engine's request
hooks (otp/api.py: the caller-address throttle before anything else, the stream's
caller check and throttle after authentication, bounded bodies), the parsers the
peers' clients need, and one exception handler that renders every failure in the
peer's own shape (a bug included: the client still gets JSON it can read)."""

from __future__ import annotations

import io
import json
import logging

from django.http import QueryDict
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from rest_framework import parsers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from otp import guard
from otp.api import (
    BoundedJSONParser,
    CallerIPThrottle,
    StreamAcceptsCaller,
    TokenThrottle,
    read_bounded_body,
    to_otp_error,
)
from otp.errors import ErrorCode, OtpError
from streams.clients import client_address

log = logging.getLogger(__name__)


# --- Parsers ------------------------------------------------------------------------


class PeerJSONParser(BoundedJSONParser):
    """A JSON body; a blank one carries no parameters."""

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded_body(stream, parser_context)
        if not body.strip():
            return {}
        return super().parse(io.BytesIO(body), media_type, parser_context)


class PeerFormParser(parsers.FormParser):
    """A form-encoded body, bounded like every body of the API."""

    def parse(self, stream, media_type=None, parser_context=None):
        return QueryDict(read_bounded_body(stream, parser_context), encoding="utf-8")


class PeerMultiPartParser(parsers.MultiPartParser):
    """A multipart form, refused by its Content-Length above the API's bound."""

    def parse(self, stream, media_type=None, parser_context=None):
        read_bounded_body(None, parser_context)  # checks the Content-Length only
        return super().parse(stream, media_type, parser_context).data


class UndeclaredJSONParser(parsers.BaseParser):
    """Any other content type (the peers' clients post JSON as ``text/plain``, or with
    no type at all): read as JSON, as the peers do."""

    media_type = "*/*"
    # VerifyNow's parameters are in the query string, and its examples post an empty
    # ``text/plain`` body: there, a body that is not a JSON object is noise to ignore.
    ignore_noise = False

    def parse(self, stream, media_type=None, parser_context=None):
        body = read_bounded_body(stream, parser_context)
        if not body.strip():
            return {}
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            if self.ignore_noise:
                return {}
            raise OtpError(ErrorCode.MALFORMED_JSON, "The body is not valid JSON.") from None
        if self.ignore_noise and not isinstance(data, dict):
            return {}
        return data


class QueryStringNoiseParser(UndeclaredJSONParser):
    ignore_noise = True


class AlwaysJSON(DefaultContentNegotiation):
    """The peers answer JSON whatever the client's ``Accept`` says, and their query
    strings are parameters (no ``?format=`` override)."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# --- The base view ------------------------------------------------------------------


@method_decorator(sensitive_post_parameters(), name="dispatch")
@method_decorator(sensitive_variables(), name="dispatch")
class PeerAPIView(APIView):
    """An endpoint of a peer API. A peer's base view sets its authentication (a DRF
    authentication class returning ``(credential, credential.stream)``) and its
    ``render_error``. The stream's caller check and throttle are the engine's, so the
    credential's stream is held to what its API token would be.

    Error reports show no local variable of the view or below (the code, the secret)
    and no form parameter (docs/security.md)."""

    permission_classes = [StreamAcceptsCaller]
    throttle_classes = [CallerIPThrottle, TokenThrottle]
    parser_classes = [PeerJSONParser, PeerFormParser, PeerMultiPartParser, UndeclaredJSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON
    schema = None  # not part of our OpenAPI schema: the peers document these
    # Whether the peer sends its parameters in the query string (then a body's win).
    query_parameters = False

    def get_throttles(self):
        # As the engine's API: the caller-address throttle runs before authentication
        # (``initial``), so a flood of bad credentials is cut off too.
        return [TokenThrottle()]

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            self.http_method_not_allowed(request)
        request.caller_ip = client_address(request)  # read by the throttles and the permission
        ip_throttle = CallerIPThrottle()
        if not ip_throttle.allow_request(request, self):
            self.throttled(request, ip_throttle.wait())
        super().initial(request, *args, **kwargs)

    def http_method_not_allowed(self, request, *args, **kwargs):
        allowed = [name.upper() for name in self.http_method_names if hasattr(self, name)]
        raise OtpError(
            ErrorCode.METHOD_NOT_ALLOWED,
            f"Use {' or '.join(allowed)}.",
            headers={"Allow": ", ".join(allowed)},
        )

    def params(self, request) -> dict:
        return peer_params(request, query=self.query_parameters)

    # --- Errors, in the peer's shape

    def render_error(self, error: OtpError) -> Response:
        raise NotImplementedError

    def get_exception_handler(self):
        return self.handle_peer_exception

    def handle_peer_exception(self, exc: Exception, context: dict) -> Response:
        guard.settle(exc)  # outside the view's transaction now: keep the guard's decision
        error = to_otp_error(exc)
        if error is None:
            log.exception("compat endpoint failed", exc_info=exc)
            error = OtpError("internal_error", "Something went wrong on our side.", status=500)
        return self.render_error(error)


def peer_params(request, *, query: bool) -> dict:
    """The request's parameters: the query string's (when the peer sends them there,
    ``query``), then the body's, the body winning. The body must be an object."""
    params = _flat(request.query_params) if query else {}
    data = request.data
    if isinstance(data, QueryDict):
        data = _flat(data)
    elif not isinstance(data, dict):
        raise OtpError(ErrorCode.INVALID_REQUEST, "The body must be a JSON object.")
    params.update(data)
    return params


def _flat(query: QueryDict) -> dict[str, str]:
    return {key: query.get(key, "") for key in query}
