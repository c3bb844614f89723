"""The one small interface every gateway adapter implements.

``send`` hands a message to the provider and returns the provider's message id, or
raises :class:`RetryableError` (timeouts, 5xx, throttling: try again later) or
:class:`PermanentError` (invalid number, rejected sender, bad credentials: trying again
will not help). ``parse_receipt`` turns a provider's delivery-report request into
:class:`Receipt` objects. ``lookup`` asks the provider whether it took a message whose
worker was lost during ``send``; ``idempotent`` says a second ``send`` of one message
reaches the recipient once. Adapters do no database work: the dispatcher does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar

import requests
import requests.adapters
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


@dataclass(frozen=True)
class Lookup:
    """What a provider says about one of our messages: ``taken`` True (with its id),
    False (never received it), or None (it cannot be asked)."""

    taken: bool | None
    provider_message_id: str = ""


UNKNOWN = Lookup(None)


@dataclass(frozen=True)
class SettingSpec:
    """One key of a gateway's ``settings`` (or, when ``secret``, its ``credentials``)."""

    name: str
    type: type = str
    required: bool = False
    secret: bool = False
    help: str = ""
    # The only values a text setting may take (empty: any).
    choices: tuple[str, ...] = ()

    @property
    def type_name(self) -> str:
        return {str: "text", int: "integer", float: "number", bool: "true/false"}[self.type]

    def accepts(self, value: object) -> bool:
        if self.type is float:  # JSON has no int/float split: 5 is a fine number of seconds
            return isinstance(value, int | float) and not isinstance(value, bool)
        if self.type is int:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, self.type)


# Keys every gateway takes in its settings, whatever its kind.
COMMON_SETTINGS = (
    SettingSpec("timeout", float, help="seconds, default `GATEWAY_HTTP_TIMEOUT`"),
    SettingSpec("max_retries", int, help="retries on this gateway, default `GATEWAY_MAX_RETRIES`"),
    SettingSpec("public_base_url", help="the address the provider reaches us at"),
)


class Adapter:
    kind = ""
    # What the adapter can carry: a gateway may not claim more.
    sms = True
    voice = False
    # A second send of one message reaches the recipient once (the provider
    # deduplicates by our idempotency key, or sending is only recording).
    idempotent = False
    # The keys of the gateway's ``settings`` and ``credentials`` (``secret=True``), beside
    # ``COMMON_SETTINGS``. The admin and ``Gateway.clean`` refuse anything else.
    specs: ClassVar[tuple[SettingSpec, ...]] = ()
    # The languages a voice call can be in (BCP 47 tags), ``None`` when the provider
    # takes any (it is told the language and decides).
    voice_languages: ClassVar[frozenset[str] | None] = None

    @classmethod
    def speaks(cls, language: str) -> str | None:
        """The tag this adapter uses for a call in ``language`` (``fr-CA`` may be read
        by its ``fr-CA`` voice, else its first ``fr`` one); ``None`` when it has none."""
        if cls.voice_languages is None or not language:
            return language
        if language in cls.voice_languages:
            return language
        base = language.split("-", 1)[0]
        matches = sorted(t for t in cls.voice_languages if t.split("-", 1)[0] == base)
        return matches[0] if matches else None

    @classmethod
    def setting_specs(cls) -> tuple[SettingSpec, ...]:
        return tuple(s for s in cls.specs if not s.secret) + COMMON_SETTINGS

    @classmethod
    def credential_specs(cls) -> tuple[SettingSpec, ...]:
        return tuple(s for s in cls.specs if s.secret)

    @classmethod
    def check(cls, values: object, specs: tuple[SettingSpec, ...]) -> list[str]:
        """What is wrong with ``values`` against ``specs``, one sentence per problem."""
        if not isinstance(values, dict):
            return ["Enter a JSON object."]
        known = {spec.name: spec for spec in specs}
        problems = [f"Unknown key {key!r}." for key in values if key not in known]
        for spec in specs:
            if spec.name not in values or values[spec.name] in ("", None):
                if spec.required:
                    problems.append(f"{spec.name!r} is required.")
            elif not spec.accepts(values[spec.name]):
                problems.append(f"{spec.name!r} must be {spec.type_name}.")
            elif spec.choices and values[spec.name] not in spec.choices:
                allowed = ", ".join(repr(c) for c in spec.choices)
                problems.append(f"{spec.name!r} must be one of {allowed}.")
        return problems

    def __init__(self, gateway: Gateway):
        self.gateway = gateway
        self.settings = gateway.settings or {}
        self.credentials = gateway.credentials or {}

    def send(self, message: OutboundMessage) -> str:
        raise NotImplementedError

    def lookup(self, message: OutboundMessage) -> Lookup:
        """Whether the provider took ``message`` (by our reference); ``UNKNOWN`` where
        the provider cannot be asked."""
        return UNKNOWN

    def bind_account(self) -> tuple | None:
        """The account at the provider that receipts arriving over a connection (not a
        URL) are addressed to: gateways that share it share their receipts (an SMSC
        hands a receipt to any bind of the account). ``None``: receipts come by URL."""
        return None

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
            response = _session(self.gateway.pk).request(
                method, url, timeout=self.timeout, **kwargs
            )
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


@lru_cache(maxsize=256)
def _session(gateway_id: int | None) -> requests.Session:
    """One HTTP session per gateway and process, shared by the batch's threads: its
    kept-alive connections save a TCP (and TLS) handshake per message."""
    session = requests.Session()
    pool = requests.adapters.HTTPAdapter(
        pool_connections=4, pool_maxsize=settings.GATEWAY_BATCH_CONCURRENCY
    )
    session.mount("http://", pool)
    session.mount("https://", pool)
    return session


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None
