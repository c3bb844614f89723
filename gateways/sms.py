"""SMS encoding and segmentation (3GPP TS 23.038 / 23.040).

One function, :func:`sms_parts`, decides how a text travels: GSM-7 when every
character is in the GSM 03.38 default alphabet or its extension table (extension
characters take two septets), UCS-2 otherwise. The wizard's counter, the API and
the dispatcher all use it, so what the console shows is what the gateway bills.
"""

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Reached through the escape character: each costs two septets.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

Encoding = Literal["gsm7", "ucs2"]

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


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def sms_parts(text: str) -> SmsParts:
    """How ``text`` is encoded and into how many segments it is split."""
    if is_gsm7(text):
        encoding: Encoding = "gsm7"
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    else:
        encoding = "ucs2"
        # Characters outside the BMP (most emoji) are a surrogate pair: two units.
        units = len(text.encode("utf-16-le")) // 2
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
    """Segments of a concatenated message, and the units used in the last one.

    An escape pair (GSM-7) or a surrogate pair (UCS-2) is never split across two
    segments, so a part may carry one unit less."""
    segments, used = 1, 0
    for ch in text:
        if encoding == "gsm7":
            size = 2 if ch in GSM7_EXTENSION else 1
        else:
            size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > per_segment:
            segments += 1
            used = 0
        used += size
    return segments, used
