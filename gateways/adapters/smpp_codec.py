"""What an SMPP ``submit_sm`` carries for a text, and what a delivery receipt says.

Pure functions, no sockets: :func:`submits` turns a text into the short messages (or
the one ``message_payload``) to submit, with the data coding, the ESM class and the
user data header of each; :func:`read_receipt` reads a ``deliver_sm``. The split is
:func:`gateways.sms.segment_texts`, so the parts sent are the segments billed.

Data coding 0 is "the SMSC's default alphabet", which SMSCs read differently: the
``alphabet`` setting says how to write it — GSM 03.38 one septet per octet (``gsm``,
what most SMSCs and Jasmin take), GSM 03.38 packed seven bits a septet
(``gsm-packed``), or ISO-8859-1 (``latin1``). A text the alphabet cannot carry goes
as UCS-2 (data coding 8, UTF-16BE: an emoji is a surrogate pair, never split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateways import sms

# GSM 03.38 default alphabet: the character at each septet value (0x1B escapes to the
# extension table).
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
ESCAPE = 0x1B
_SEPTET = {ch: i for i, ch in enumerate(GSM_BASIC) if i != ESCAPE}

ALPHABETS = ("gsm", "gsm-packed", "latin1")
LONG_MESSAGES = ("udh", "payload")

DEFAULT_ALPHABET = 0x00
UCS2 = 0x08
UDHI = 0x40  # esm_class: the short message starts with a user data header
RECEIPT = 0x04  # esm_class message type: SMSC delivery receipt


@dataclass(frozen=True)
class Submit:
    """One ``submit_sm``: its data coding, ESM class, and either a short message
    (with its header, when concatenated) or a ``message_payload``."""

    data_coding: int
    esm_class: int = 0
    short_message: bytes = b""
    message_payload: bytes = b""


def septets(text: str) -> list[int]:
    """The GSM 03.38 septets of ``text`` (an extension character is ESC + its code)."""
    out: list[int] = []
    for ch in text:
        if ch in GSM_EXTENSION:
            out += [ESCAPE, GSM_EXTENSION[ch]]
        else:
            out.append(_SEPTET[ch])
    return out


def pack(values: list[int], fill_bits: int = 0) -> bytes:
    """Septets packed seven bits each, least significant first (3GPP TS 23.038 6.1.2.1),
    after ``fill_bits`` zero bits (to start on a septet boundary after a header)."""
    bits, count, out = 0, fill_bits, bytearray()
    for value in values:
        bits |= value << count
        count += 7
        while count >= 8:
            out.append(bits & 0xFF)
            bits >>= 8
            count -= 8
    if count:
        out.append(bits & 0xFF)
    return bytes(out)


def unpack(data: bytes, count: int, fill_bits: int = 0) -> list[int]:
    """The inverse of :func:`pack`: ``count`` septets."""
    number = int.from_bytes(data, "little") >> fill_bits
    return [(number >> (7 * i)) & 0x7F for i in range(count)]


def decode_septets(values: list[int]) -> str:
    extension = {code: ch for ch, code in GSM_EXTENSION.items()}
    out, escaped = [], False
    for value in values:
        if escaped:
            out.append(extension.get(value, " "))
            escaped = False
        elif value == ESCAPE:
            escaped = True
        else:
            out.append(GSM_BASIC[value])
    return "".join(out)


def travels_as(text: str, alphabet: str) -> sms.Encoding:
    """GSM-7 when the text is GSM 03.38 (and, for ``latin1``, ISO-8859-1 too), else
    UCS-2."""
    if not sms.is_gsm7(text):
        return "ucs2"
    if alphabet == "latin1":
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return "ucs2"
    return "gsm7"


def submits(
    text: str, *, alphabet: str = "gsm", long_messages: str = "udh", reference: int = 0
) -> list[Submit]:
    """The ``submit_sm`` of ``text``: one when it fits one message (or when long
    messages go as one ``message_payload``), else one per segment, each with an 8-bit
    concatenation header (reference ``reference``, total, sequence from 1)."""
    encoding = travels_as(text, alphabet)
    coding = UCS2 if encoding == "ucs2" else DEFAULT_ALPHABET
    if sms.units_of(text, encoding) <= sms.SINGLE_LIMIT[encoding]:
        return [Submit(coding, short_message=_encode(text, encoding, alphabet, header=b""))]
    if long_messages == "payload":  # the SMSC splits it
        return [Submit(coding, message_payload=_encode(text, encoding, alphabet, header=b""))]
    parts = sms.segment_texts(text, encoding, sms.MULTIPART_LIMIT[encoding])
    if len(parts) > 255:
        raise ValueError("a text of more than 255 segments cannot be concatenated")
    out = []
    for number, part in enumerate(parts, start=1):
        header = bytes([0x05, 0x00, 0x03, reference & 0xFF, len(parts), number])
        out.append(Submit(coding, UDHI, short_message=_encode(part, encoding, alphabet, header)))
    return out


def _encode(text: str, encoding: str, alphabet: str, header: bytes) -> bytes:
    if encoding == "ucs2":
        return header + text.encode("utf-16-be")
    if alphabet == "latin1":
        return header + text.encode("latin-1")
    if alphabet == "gsm-packed":
        # The septets start on the first septet boundary after the header.
        fill = (7 - (len(header) * 8) % 7) % 7
        return header + pack(septets(text), fill_bits=fill)
    return header + bytes(septets(text))


# --- Delivery receipts ------------------------------------------------------------------

# The receipt text of SMPP 3.4 appendix B: "id:… sub:… dlvrd:… submit date:… done
# date:… stat:DELIVRD err:… text:…".
_RECEIPT_ID = re.compile(rb"\bid:(\S+)")
_RECEIPT_STAT = re.compile(rb"\bstat:(\w+)")
_RECEIPT_ERR = re.compile(rb"\berr:(\w+)")

# What a receipt's final state means for the message.
STAT_STATUS = {
    "DELIVRD": "delivered",
    "UNDELIV": "undelivered",
    "EXPIRED": "undelivered",
    "DELETED": "undelivered",
    "REJECTD": "undelivered",
    "ACCEPTD": "sent",
    "ENROUTE": "sent",
    "UNKNOWN": "sent",
}
# The message_state TLV (SMPP 3.4 5.2.28) by its value.
MESSAGE_STATE = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}


@dataclass(frozen=True)
class ReceiptFacts:
    smsc_message_id: str
    stat: str
    status: str
    error: str = ""


def read_receipt(
    *,
    esm_class: int,
    short_message: bytes | None,
    receipted_message_id: bytes | str | None = None,
    message_state: int | None = None,
) -> ReceiptFacts | None:
    """What a ``deliver_sm`` says about one of our messages; ``None`` when it is not
    a delivery receipt (a message from a phone) or names no message. The TLVs win over
    the text where both are present."""
    if esm_class & 0x3C != RECEIPT:
        return None
    text = short_message or b""
    found = _RECEIPT_ID.search(text)
    smsc_id = _text(receipted_message_id) or (found.group(1).decode("latin-1") if found else "")
    if not smsc_id:
        return None
    stat = MESSAGE_STATE.get(message_state or 0, "")
    if not stat:
        found_stat = _RECEIPT_STAT.search(text)
        stat = found_stat.group(1).decode("latin-1").upper() if found_stat else "UNKNOWN"
    status = STAT_STATUS.get(stat, "sent")
    found_err = _RECEIPT_ERR.search(text)
    error = ""
    if status == "undelivered":
        error = f"{stat} err:{found_err.group(1).decode('latin-1')}" if found_err else stat
    return ReceiptFacts(smsc_id, stat, status, error)


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\x00").decode("latin-1")
    return value or ""
