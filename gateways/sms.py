# ruff: noqa: RUF003 - the comments show the look-alike characters smart encoding replaces
"""SMS encoding and segmentation (3GPP TS 23.038 / 23.040).

One function, :func:`sms_parts`, decides how a text travels: GSM-7 when every
character is in the GSM 03.38 default alphabet or its extension table (extension
characters take two septets), UCS-2 otherwise. The wizard's counter, the API and
the dispatcher all use it, so what the console shows is what the gateway bills.

:func:`smart_encode` is the stream option "smart encoding": it replaces look-alike
characters that would force UCS-2 (curly quotes, long dashes, non-breaking spaces, the
ellipsis, ...) with their GSM-7 equivalents, so a text typed in a word processor still
travels as GSM-7. It only ever touches the characters of :data:`SMART_REPLACEMENTS`
(documented in docs/api.md); a character with no GSM-7 equivalent stays as it is.
The console's counter (static/js/console.js) follows both functions exactly; a test
runs it in node against this module over generated Unicode.

The empty text is 0 characters in GSM-7 and 0 segments: nothing can be sent, so the
API refuses an empty message and the counter says so.
"""

import math
from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape character: each costs two septets.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

Encoding = Literal["gsm7", "ucs2"]

# Look-alikes of GSM-7 characters (mostly what word processors and phones' keyboards
# put in), and what smart encoding writes instead. Every value is GSM-7.
SMART_REPLACEMENTS: dict[str, str] = {
    "\u2018": "'",  # ‘ left single quotation mark
    "\u2019": "'",  # ’ right single quotation mark, the curly apostrophe
    "\u201a": "'",  # ‚ single low-9 quotation mark
    "\u201b": "'",  # ‛ single high-reversed-9 quotation mark
    "\u2032": "'",  # ′ prime
    "\u02bc": "'",  # ʼ modifier letter apostrophe
    "\u00b4": "'",  # ´ acute accent
    "`": "'",  # grave accent (not in GSM-7)
    "\u201c": '"',  # “ left double quotation mark
    "\u201d": '"',  # ” right double quotation mark
    "\u201e": '"',  # „ double low-9 quotation mark
    "\u201f": '"',  # ‟ double high-reversed-9 quotation mark
    "\u2033": '"',  # ″ double prime
    "\u00ab": '"',  # « left-pointing double angle quotation mark
    "\u00bb": '"',  # » right-pointing double angle quotation mark
    "\u2039": "<",  # ‹ single left-pointing angle quotation mark
    "\u203a": ">",  # › single right-pointing angle quotation mark
    "\u2010": "-",  # ‐ hyphen
    "\u2011": "-",  # ‑ non-breaking hyphen
    "\u2012": "-",  # ‒ figure dash
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2015": "-",  # ― horizontal bar
    "\u2212": "-",  # − minus sign
    "\u2026": "...",  # … horizontal ellipsis
    "\u2024": ".",  # ․ one dot leader
    "\u02c6": "^",  # ˆ modifier letter circumflex
    "\u02dc": "~",  # ˜ small tilde
    "\u00a0": " ",  # no-break space
    "\u2002": " ",  # en space
    "\u2003": " ",  # em space
    "\u2004": " ",  # three-per-em space
    "\u2005": " ",  # four-per-em space
    "\u2006": " ",  # six-per-em space
    "\u2007": " ",  # figure space
    "\u2008": " ",  # punctuation space
    "\u2009": " ",  # thin space
    "\u200a": " ",  # hair space
    "\u202f": " ",  # narrow no-break space
    "\u205f": " ",  # medium mathematical space
    "\u3000": " ",  # ideographic space
}
_SMART_TABLE = str.maketrans(SMART_REPLACEMENTS)

# Units per message: septets for GSM-7, UTF-16 code units for UCS-2. A concatenated
# message loses room to its user data header (6 octets).
SINGLE_LIMIT = {"gsm7": 160, "ucs2": 70}
MULTIPART_LIMIT = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class SmsParts:
    encoding: Encoding
    characters: int  # as a person counts them (code points)
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int  # the limit that applies to this text: 160/153 or 70/67
    remaining: int  # units left in the last segment

    @property
    def is_unicode(self) -> bool:
        return self.encoding == "ucs2"

    @property
    def payload_bytes(self) -> int:
        """Octets of user data on the air: 7 bits a septet, 2 octets a UTF-16 unit. One
        segment carries at most 140 (the SMS Retriever limit)."""
        return math.ceil(self.units * 7 / 8) if self.encoding == "gsm7" else self.units * 2


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def smart_encode(text: str) -> str:
    """``text`` with every look-alike of :data:`SMART_REPLACEMENTS` replaced; any other
    character is kept as it is."""
    return text.translate(_SMART_TABLE)


def sms_parts(text: str) -> SmsParts:
    """How ``text`` is encoded and into how many segments it is split."""
    # Characters outside the BMP (most emoji) are a surrogate pair: two UCS-2 units.
    encoding: Encoding = "gsm7" if is_gsm7(text) else "ucs2"
    units = units_of(text, encoding)
    if units <= SINGLE_LIMIT[encoding]:
        per_segment = SINGLE_LIMIT[encoding]
        segments, used_in_last = (1 if units else 0), units
    else:
        per_segment = MULTIPART_LIMIT[encoding]
        segments, used_in_last = _split(text, encoding, per_segment)
    return SmsParts(
        encoding=encoding,
        characters=len(text),
        units=units,
        segments=segments,
        per_segment=per_segment,
        remaining=per_segment - used_in_last,
    )


def _split(text: str, encoding: Encoding, per_segment: int) -> tuple[int, int]:
    """Segments of a concatenated message, and the units used in the last one."""
    parts = segment_texts(text, encoding, per_segment)
    return len(parts), units_of(parts[-1], encoding)


def segment_texts(text: str, encoding: Encoding, per_segment: int) -> list[str]:
    """The text of each segment of a concatenated message (the SMPP adapter sends
    these). An escape pair (GSM-7) or a surrogate pair (UCS-2) is never split across
    two segments, so a part may carry one unit less."""
    parts, current, used = [], [], 0
    for ch in text:
        size = _unit_size(ch, encoding)
        if used + size > per_segment:
            parts.append("".join(current))
            current, used = [], 0
        current.append(ch)
        used += size
    parts.append("".join(current))
    return parts


def units_of(text: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) of ``text``."""
    return sum(_unit_size(ch, encoding) for ch in text)


def _unit_size(ch: str, encoding: Encoding) -> int:
    if encoding == "gsm7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1
