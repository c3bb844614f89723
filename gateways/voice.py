"""A voice call people can follow: an introduction in the call's language, then the
message with the code read character by character, a pause after each, the whole
repeated ``repeat`` times at the stream's speech rate.

The script travels with the outbound message (``OutboundMessage.voice``, without the
code: see :meth:`VoiceScript.as_dict`); each
voice-capable adapter turns it into what its provider takes: SSML inside Twilio's
``<Say>`` (``<prosody>``, ``<break>``), the script and the SSML in the webhook's JSON,
the plain text (:meth:`VoiceScript.plain_text`) in the console's outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

RATES = ("x-slow", "slow", "medium", "fast")
DIGIT_PAUSE_MS = 400  # after each character of the code
REPEAT_PAUSE_MS = 1000  # between two readings


@dataclass(frozen=True)
class VoiceScript:
    intro: str
    pieces: tuple[str, ...]  # the message's text around each occurrence of the code
    code: str
    repeat: int = 2
    rate: str = "slow"

    def as_dict(self) -> dict:
        """The script as kept with the message (``OutboundMessage.voice``): all but the
        code, which stays only in the message's text (encrypted, and masked once the
        code stops counting), and the code's length to read it back from there."""
        return {
            "intro": self.intro,
            "pieces": list(self.pieces),
            "length": len(self.code),
            "repeat": self.repeat,
            "rate": self.rate,
        }

    @classmethod
    def from_message(cls, voice: dict, text: str) -> VoiceScript:
        """The script of a voice message, its code read back from the first reading in
        the text (:meth:`plain_text`'s layout)."""
        intro, pieces = voice.get("intro", ""), tuple(voice.get("pieces", ("",)))
        length = int(voice.get("length", 0))
        start = (len(intro) + 1 if intro else 0) + len(pieces[0])
        spelled = text[start : start + max(0, 3 * length - 2)]
        return cls(
            intro=intro,
            pieces=pieces,
            code=spelled[::3],  # "4, 8, 2, 1": every third character
            repeat=int(voice.get("repeat", 2)),
            rate=voice.get("rate", "slow"),
        )

    def _reading(self, code_as) -> list[str]:
        parts = [self.pieces[0]]
        for piece in self.pieces[1:]:
            parts += [code_as, piece]
        return parts

    def reading_text(self) -> str:
        """One reading as text: the code spelled with commas ("1, 2, 3")."""
        spelled = ", ".join(self.code)
        return "".join(spelled if p is None else p for p in self._reading(None))

    def plain_text(self) -> str:
        """What the whole call says, as text: the readings as sentences of their own."""
        reading = self.reading_text().rstrip()
        if reading and reading[-1] not in ".!?。":
            reading += "."
        return " ".join([p for p in (self.intro, *[reading] * self.repeat) if p])

    def ssml(self) -> str:
        """SSML for a ``<Say>`` (or any SSML engine): breaks after each character of
        the code and between readings, all at the stream's rate."""
        pause = f'<break time="{DIGIT_PAUSE_MS}ms"/>'
        spelled = "".join(f"{escape(ch)}{pause}" for ch in self.code)
        reading = "".join(spelled if p is None else escape(p) for p in self._reading(None))
        between = f'<break time="{REPEAT_PAUSE_MS}ms"/>'
        body = escape(self.intro) + between + between.join([reading] * self.repeat)
        return f"<prosody rate={quoteattr(self.rate)}>{body}</prosody>"
