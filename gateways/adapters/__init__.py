"""Gateway adapters: one module per provider, one line per adapter in ``REGISTRY``."""

from . import smpp
from .base import (
    UNKNOWN,
    Adapter,
    Lookup,
    PermanentError,
    Receipt,
    ReceiptRefused,
    RetryableError,
    SettingSpec,
)
from .console import ConsoleAdapter
from .kannel import KannelAdapter
from .noop import NoopAdapter
from .smpp import SmppAdapter
from .twilio import TwilioAdapter
from .vonage import VonageAdapter
from .webhook import WebhookAdapter

REGISTRY: dict[str, type[Adapter]] = {
    "console": ConsoleAdapter,
    "noop": NoopAdapter,
    "kannel": KannelAdapter,
    "smpp": SmppAdapter,
    "twilio": TwilioAdapter,
    "vonage": VonageAdapter,
    "webhook": WebhookAdapter,
}


def adapter_for(gateway) -> Adapter:
    try:
        return REGISTRY[gateway.kind](gateway)
    except KeyError:
        raise PermanentError(f"no adapter for gateway kind {gateway.kind!r}") from None


__all__ = [
    "REGISTRY",
    "UNKNOWN",
    "Adapter",
    "Lookup",
    "PermanentError",
    "Receipt",
    "ReceiptRefused",
    "RetryableError",
    "SettingSpec",
    "adapter_for",
    "smpp",
]
