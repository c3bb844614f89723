"""What the SMPP adapter puts in a submit_sm and reads from a receipt: tables of cases,
and properties over generated text (tests/test_smpp.py runs it against Jasmin)."""

import pytest
import smpplib.gsm
from hypothesis import given
from hypothesis import strategies as st

from gateways import sms
from gateways.adapters import smpp_codec
from gateways.adapters.smpp import SmppAdapter, source_ton_npi
from gateways.adapters.smpp_codec import (
    GSM_BASIC,
    GSM_EXTENSION,
    decode_septets,
    pack,
    read_receipt,
    septets,
    submits,
    unpack,
)

GSM_TEXT = st.text(alphabet=sorted(sms.GSM7_BASIC | sms.GSM7_EXTENSION), max_size=600)


def test_the_gsm_table_is_the_one_the_segment_counter_uses():
    assert len(GSM_BASIC) == 128
    assert set(GSM_BASIC) - {"\x1b"} == sms.GSM7_BASIC
    assert set(GSM_EXTENSION) == sms.GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "packed"),
    [
        ("hellohello", "E8329BFD4697D9EC37"),  # 3GPP TS 23.038's example
        ("", ""),
        ("@", "00"),
        ("12345678", "31D98C56B3DD70"),
    ],
)
def test_packing_matches_known_vectors(text, packed):
    assert pack(septets(text)).hex().upper() == packed


@given(GSM_TEXT)
def test_gsm_septets_pack_and_unpack_to_the_text(text):
    values = septets(text)
    assert decode_septets(unpack(pack(values), len(values))) == text
    assert decode_septets(unpack(pack(values, fill_bits=1), len(values), fill_bits=1)) == text


@given(GSM_TEXT.filter(lambda t: "§" not in t and "\f" not in t))
def test_unpacked_gsm_is_what_smpplib_encodes(text):
    # smpplib's table lacks "§" (it has "`" there) and the form feed; otherwise an
    # independent oracle.
    assert submits(text, reference=7)[0].data_coding == 0
    encoded = b"".join(
        part.short_message[6:] if part.esm_class else part.short_message
        for part in submits(text, reference=7)
    )
    assert encoded == smpplib.gsm.gsm_encode(text)


@given(st.text(max_size=400))
def test_parts_are_the_billed_segments_and_reassemble_to_the_text(text):
    counted = sms.sms_parts(text)
    parts = submits(text, reference=200)
    assert len(parts) == max(1, counted.segments)
    if len(parts) == 1:
        assert parts[0].esm_class == 0
        return
    assert {p.short_message[:5] for p in parts} == {bytes([5, 0, 3, 200, len(parts)])}
    assert [p.short_message[5] for p in parts] == list(range(1, len(parts) + 1))
    assert all(p.esm_class == 0x40 and len(p.short_message) <= 140 + 13 for p in parts)
    data = b"".join(p.short_message[6:] for p in parts)
    if counted.encoding == "ucs2":
        assert all(p.data_coding == 8 and len(p.short_message) <= 140 for p in parts)
        assert data.decode("utf-16-be") == text  # no surrogate pair cut: each part decodes
        for p in parts:
            p.short_message[6:].decode("utf-16-be")
    else:
        assert decode_septets(list(data)) == text


def test_latin1_alphabet_sends_latin1_bytes_and_falls_back_to_ucs2_for_what_it_lacks():
    [latin] = submits("Café 1234 @ £", alphabet="latin1")
    assert (latin.data_coding, latin.short_message) == (0, "Café 1234 @ £".encode("latin-1"))
    [euro] = submits("Code 1234 €", alphabet="latin1")
    assert (euro.data_coding, euro.short_message) == (8, "Code 1234 €".encode("utf-16-be"))


def test_payload_mode_sends_a_long_text_once_without_header():
    text = "x" * 400
    [payload] = submits(text, long_messages="payload")
    assert payload.short_message == b""
    assert payload.message_payload == text.encode()
    assert payload.esm_class == 0


def test_a_text_of_more_than_255_segments_is_refused():
    with pytest.raises(ValueError, match="255"):
        submits("x" * 153 * 256)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Jasmin's relay: text and TLVs.
        (
            {
                "esm_class": 0x04,
                "short_message": b"id:5ae3 submit date:2611301053 done date:2611301053 "
                b"stat:DELIVRD err:000",
                "receipted_message_id": b"5ae3",
                "message_state": 2,
            },
            ("5ae3", "DELIVRD", "delivered", ""),
        ),
        # Text only, lower-case stat.
        (
            {"esm_class": 0x04, "short_message": b"id:77 sub:001 dlvrd:000 stat:undeliv err:034"},
            ("77", "UNDELIV", "undelivered", "UNDELIV err:034"),
        ),
        # The TLVs win over a text that says otherwise.
        (
            {
                "esm_class": 0x04,
                "short_message": b"id:1 stat:DELIVRD",
                "receipted_message_id": "2",
                "message_state": 3,
            },
            ("2", "EXPIRED", "undelivered", "EXPIRED"),
        ),
        (
            {"esm_class": 0x04, "short_message": b"id:9 stat:ENROUTE"},
            ("9", "ENROUTE", "sent", ""),
        ),
        (
            {"esm_class": 0x04, "short_message": b"id:9 stat:REJECTD err:0B"},
            ("9", "REJECTD", "undelivered", "REJECTD err:0B"),
        ),
    ],
)
def test_receipts_are_read_from_their_tlvs_or_their_text(fields, expected):
    facts = read_receipt(**fields)
    assert (facts.smsc_message_id, facts.stat, facts.status, facts.error) == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"esm_class": 0x00, "short_message": b"id:1 stat:DELIVRD"},  # a phone's message
        {"esm_class": 0x04, "short_message": b"no id here"},
    ],
)
def test_what_is_not_a_receipt_is_not_read_as_one(fields):
    assert read_receipt(**fields) is None


@pytest.mark.parametrize(
    ("sender", "overrides", "expected"),
    [
        ("Acme", {}, (5, 0)),
        ("+14155550100", {}, (1, 1)),
        ("447700900123", {}, (1, 1)),
        ("12345", {}, (3, 0)),
        ("", {}, (5, 0)),
        ("12345", {"source_ton": 2, "source_npi": 9}, (2, 9)),
    ],
)
def test_source_ton_and_npi_follow_the_kind_of_sender(sender, overrides, expected):
    assert source_ton_npi(sender, overrides) == expected


def test_settings_outside_their_choices_are_refused():
    specs = SmppAdapter.setting_specs()
    base = {"host": "smsc", "port": 2775, "system_id": "otp"}
    assert SmppAdapter.check(base, specs) == []
    assert SmppAdapter.check({**base, "alphabet": "utf8"}, specs) == [
        "'alphabet' must be one of 'gsm', 'gsm-packed', 'latin1'."
    ]
    assert SmppAdapter.check({**base, "port": "2775"}, specs) == ["'port' must be integer."]
    assert smpp_codec.LONG_MESSAGES == ("udh", "payload")


def test_a_bind_receipt_moves_a_message_of_its_smsc_account_only(db):
    """An SMSC hands a receipt to any bind of the account: one read on gateway B's bind
    moves a message sent through gateway A when both bind as the same account, and a
    bind of another account (C) moves nothing, whatever ids it names."""
    from gateways import services
    from gateways.adapters import Receipt
    from gateways.models import Gateway, OutboundMessage
    from tests.support import factories

    def gateway(name: str, system_id: str) -> Gateway:
        settings = {"host": "smsc.example", "port": 2775, "system_id": system_id}
        return Gateway.objects.create(name=name, kind="smpp", settings=settings)

    a, b, c = gateway("a", "otp"), gateway("b", "otp"), gateway("c", "other")
    message = OutboundMessage.objects.create(
        account=factories.make_account(),
        channel="sms",
        recipient="+33612345678",
        text="x",
        status="sending",
    )
    OutboundMessage.objects.filter(id=message.id).mark_sent(gateway=a, provider_message_id="S1")

    def read_on(bind: Gateway, provider_id: str, status: str) -> str | None:
        account = SmppAdapter(bind).bind_account()
        return services.apply_bound_receipt(bind.pk, list(account), Receipt(provider_id, status))

    assert read_on(c, "S1", "undelivered") is None
    assert read_on(c, str(message.id), "undelivered") is None
    message.refresh_from_db()
    assert message.status == "sent"
    assert read_on(b, "S1", "delivered") == "delivered"
