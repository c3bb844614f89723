"""The development outbox: the message row is the outbox entry, so sending is
recording. The embedded default when an account has no route."""

from .base import Adapter


class ConsoleAdapter(Adapter):
    kind = "console"
    voice = True
    idempotent = True  # the row is the outbox entry: sending twice shows it once

    def send(self, message) -> str:
        return f"console-{message.id.hex[:12]}"
