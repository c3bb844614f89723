"""SMPP 3.4 to an SMSC (a carrier, an aggregator, or Jasmin), on smpplib.

The adapter turns a message into its ``submit_sm`` (``smpp_codec``) and hands them to
this worker process's bound session for the gateway (``smpp_session``), which keeps
the bind across tasks and reads the delivery receipts.

An SMPP SMSC can neither be asked about a message by our reference nor deduplicate,
so the dispatcher sends one SMPP message at a time per batch and settles a lost
worker's claim by the gateway's delivery guarantee; a submit the SMSC never answered
is retried on an at-least-once gateway and failed over on an at-most-once one.
"""

from __future__ import annotations

from . import smpp_codec
from .base import Adapter, SettingSpec
from .smpp_session import close_all, session_for

# Source address type of number and numbering plan, by the kind of sender.
ALPHANUMERIC = (5, 0)
INTERNATIONAL = (1, 1)
SHORT_CODE = (3, 0)


class SmppAdapter(Adapter):
    kind = "smpp"
    specs = (
        SettingSpec("host", required=True, help="the SMSC's address"),
        SettingSpec("port", int, required=True, help="the SMSC's SMPP port (often 2775)"),
        SettingSpec("system_id", required=True, help="the ESME account the SMSC gave us"),
        SettingSpec("system_type", help="sent in the bind when the SMSC asks for one"),
        SettingSpec(
            "alphabet",
            choices=smpp_codec.ALPHABETS,
            help="how data coding 0 is written: `gsm` (GSM 03.38, a septet an octet; "
            "default), `gsm-packed` (7 bits a septet) or `latin1` (ISO-8859-1)",
        ),
        SettingSpec(
            "long_messages",
            choices=smpp_codec.LONG_MESSAGES,
            help="`udh` (parts with a concatenation header; default) or `payload` "
            "(one `message_payload`, the SMSC splits)",
        ),
        SettingSpec("window", int, help="unanswered `submit_sm` at most, default 10"),
        SettingSpec("throughput", float, help="`submit_sm` a second on a bind, 0 = no cap"),
        SettingSpec("enquire_link_interval", float, help="idle seconds between `enquire_link`"),
        SettingSpec("source_ton", int, help="overrides the sender's type of number"),
        SettingSpec("source_npi", int, help="overrides the sender's numbering plan"),
        SettingSpec("password", required=True, secret=True),
    )

    def send(self, message) -> str:
        session = session_for(self.gateway)
        ton, npi = source_ton_npi(message.sender, self.settings)
        submits = smpp_codec.submits(
            message.text,
            alphabet=self.settings.get("alphabet") or "gsm",
            long_messages=self.settings.get("long_messages") or "udh",
            reference=session.next_reference(),
        )
        ids = session.submit_all(
            submits,
            own_id=str(message.id),
            source=(ton, npi, message.sender or ""),
            destination=message.recipient.lstrip("+"),
        )
        return ids[0]

    def bind_account(self) -> tuple:
        return (
            "smpp",
            self.settings.get("host"),
            self.settings.get("port"),
            self.settings.get("system_id"),
        )


def source_ton_npi(sender: str, settings: dict) -> tuple[int, int]:
    """Alphanumeric sender 5/0, a number in international form 1/1, a short code 3/0
    (unless the settings say otherwise)."""
    digits = sender.lstrip("+")
    if not digits.isdigit():
        ton, npi = ALPHANUMERIC
    elif sender.startswith("+") or len(digits) > 8:
        ton, npi = INTERNATIONAL
    else:
        ton, npi = SHORT_CODE
    ton = settings["source_ton"] if settings.get("source_ton") is not None else ton
    npi = settings["source_npi"] if settings.get("source_npi") is not None else npi
    return ton, npi


__all__ = ["SmppAdapter", "close_all", "session_for", "source_ton_npi"]
