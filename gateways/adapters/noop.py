"""Accepts every message at once and sends nothing: the benchmarks' gateway."""

from .base import Adapter


class NoopAdapter(Adapter):
    kind = "noop"
    voice = True
    idempotent = True  # sends nothing

    def send(self, message) -> str:
        return f"noop-{message.id.hex}"
