"""The one small interface every gateway adapter implements.

``send`` hands a message to the provider and returns the provider's message id, or
raises :class:`RetryableError` (timeouts, 5xx, throttling: try again later) or
:class:`PermanentError` (invalid number, rejected sender, bad credentials: trying again
will not help). ``parse_receipt`` turns a provider's delivery-report request into
:class:`Receipt` objects. Adapters do no database work: the dispatcher does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from gateways.models import Gateway, OutboundMessage


class GatewayError(Exception):
    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RetryableError(GatewayError):
    """Try again later, on this gateway (up to the retry limit), then fail over."""


class PermanentError(GatewayError):
    """Do not try this gateway again for this message: fail over or fail."""


class ReceiptRefused(Exception):
    """A delivery report that does not authenticate: answered 403, changes nothing."""


@dataclass(frozen=True)
class Receipt:
    provider_message_id: str
    status: str  # an OutboundMessage.Status value: sent, delivered, undelivered, failed
    error: str = ""
    raw_status: str = ""


class Adapter:
    kind = ""
    sms = True
    voice = False

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.settings = gateway.settings or {}
        self.credentials = gateway.credentials or {}

    def send(self, message: OutboundMessage) -> str:
        raise NotImplementedError

    def parse_receipt(self, request: HttpRequest) -> list[Receipt]:
        raise ReceiptRefused("this gateway does not take delivery reports")

    def receipt_response(self) -> HttpResponse:
        return HttpResponse("OK", content_type="text/plain")

    # --- helpers for HTTP providers

    def receipt_url(self, message: OutboundMessage | None = None) -> str:
        from django.urls import reverse

        path = reverse(
            "gateways:receipt",
            kwargs={"gateway_id": self.gateway.pk, "secret": self.gateway.receipt_secret},
        )
        # A gateway may reach us under another address than the public one (a private
        # network): its own "public_base_url" setting wins.
        base = self.settings.get("public_base_url") or settings.PUBLIC_BASE_URL
        return base.rstrip("/") + path

    @property
    def timeout(self) -> float:
        return float(self.settings.get("timeout", settings.GATEWAY_HTTP_TIMEOUT))

    def http(self, method: str, url: str, **kwargs) -> requests.Response:
        """One HTTP call; network trouble and 5xx/429 become retryable errors."""
        try:
            response = requests.request(method, url, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            raise RetryableError(f"timeout after {self.timeout} s") from exc
        except requests.RequestException as exc:
            raise RetryableError(f"connection failed: {exc.__class__.__name__}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = _seconds(response.headers.get("Retry-After"))
            raise RetryableError(
                f"HTTP {response.status_code}: {response.text[:200]}", retry_after=retry_after
            )
        return response


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
