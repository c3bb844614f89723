"""Octopush clients against OTP Streams: the documented generate / validate calls
replayed with only the base URL changed, the full flow through the outbox, the
peer's leniency done safely (every conversion reported), and every refusal."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat.models import CompatCredential
from gateways.models import OutboundMessage
from otp.models import Verification
from streams.models import Stream
from tests.support import factories
from tests.support.compat_clients import OctopushClient, make_credential
from tests.support.otp_client import outbox

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+33611223344"
LOGIN = "******@email.org"


@pytest.fixture
def credential(db):
    # The peer's documented example asks for 15-minute codes and its own text: the
    # account's admin allows both (a request may only tighten the stream's policy).
    return make_credential(
        CompatCredential.Peer.OCTOPUSH,
        login=LOGIN,
        code_ttl_seconds=900,
        caller_text_allowed=True,
    )


@pytest.fixture
def client(credential):
    credential, key = credential
    return OctopushClient(credential.login, key)


def generated(response) -> dict:
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == 0 and body["message"] == "success"
    return body


def last_text() -> str:
    return outbox()[0].text


def code_in(text: str, prefix: str) -> str:
    return text.split(prefix, 1)[1].split()[0]


# --- The documented examples ---------------------------------------------------------


def test_generate_then_validate_as_documented(client):
    body = generated(
        client.generate(
            {
                "phone_number": PHONE,
                "text": "Votre code de verification Animigo : {code}",
                "channel": "sms",
                "code_length": 6,
                "validity_period": 900,
            }
        )
    )
    assert set(body) == {"code", "message", "ticket_number", "otp_request_token", "warnings"}
    assert re.fullmatch(r"otp_[0-9a-f]{32}", body["otp_request_token"])
    assert body["ticket_number"]
    assert body["warnings"] == []

    [message] = outbox(PHONE)
    code = code_in(message.text, "Animigo : ")
    assert re.fullmatch(r"[0-9]{6}", code)
    verification = Verification.objects.get()
    assert verification.expires_at - verification.created_at == pytest.approx(
        timedelta(seconds=900), abs=timedelta(seconds=2)
    )

    validated = client.validate({"code": code, "otp_request_token": body["otp_request_token"]})
    assert validated.status_code == 200
    assert validated.json() == {"code": 0, "message": "success", "warnings": []}
    assert Verification.objects.get().status == "approved"


def test_validate_documented_errors_shape(client):
    body = generated(client.generate({"phone_number": PHONE}))
    wrong = client.validate({"code": "TRQXSDYNJY", "otp_request_token": body["otp_request_token"]})
    assert wrong.status_code == 400
    assert wrong.json() == {
        "code": 199,
        "message": wrong.json()["message"],
        "remaining_number_of_attempts": 4,
        "fields": {"code": ["Wrong code."]},
        "warnings": [],
    }
    neither = client.validate({"code": "123456"})
    assert neither.status_code == 400
    assert neither.json()["code"] == 194
    assert neither.json()["message"] == "At least phone number or request token is mandatory."
    no_code = client.validate({"otp_request_token": body["otp_request_token"]})
    assert (no_code.status_code, no_code.json()["code"]) == (400, 195)
    assert no_code.json()["message"] == "The code field is mandatory."


def test_text_without_placeholder_gets_the_code_and_a_warning(client):
    body = generated(
        client.generate(
            {
                "channel": "sms",
                "code_length": 6,
                "phone_number": PHONE,
                "text": "Your verification code: ",
            }
        )
    )
    assert body["warnings"] == ["text: has no {code} placeholder; the code was added at the end."]
    code = code_in(last_text(), "Your verification code: ")
    # The client validates with token and phone number together.
    validated = client.validate(
        {"code": code, "otp_request_token": body["otp_request_token"], "phone_number": PHONE}
    )
    assert validated.status_code == 200


@pytest.mark.parametrize("text", ["Code: {code}", "Code: {{code}}", "Code: {{ code }}"])
def test_the_peers_and_our_code_placeholders(client, text):
    body = generated(client.generate({"phone_number": PHONE, "text": text}))
    assert body["warnings"] == []
    assert re.fullmatch(r"Code: [0-9]{6}", last_text())


def test_no_text_uses_the_credentials_event_template(client):
    generated(client.generate({"phone_number": PHONE}))
    assert re.fullmatch(r"Your code is [0-9]{6}", last_text())  # the stream's defaults


def test_expiry_placeholder_is_the_codes_expiry_time(client):
    generated(client.generate({"phone_number": PHONE, "text": "{code} valid until {hh:mm:ss}"}))
    assert re.fullmatch(r"[0-9]{6} valid until \d\d:\d\d:\d\d UTC", last_text())
    expires = Verification.objects.get().expires_at
    around = {(expires + timedelta(seconds=s)).strftime("%H:%M:%S") for s in (-2, -1, 0, 1)}
    assert last_text().split("until ")[1][:8] in around


def test_a_code_sent_as_a_number_is_read_with_a_warning(client):
    body = generated(client.generate({"phone_number": PHONE, "text": "c {code}"}))
    code = code_in(last_text(), "c ")
    if code.startswith("0"):
        code = None  # a number cannot carry the leading zero: nothing to show here
    if code:
        validated = client.validate(
            {"code": int(code), "otp_request_token": body["otp_request_token"]}
        )
        assert validated.status_code == 200
        assert validated.json()["warnings"] == [
            f"code: converted the number {int(code)} to the string '{code}'."
        ]


def test_phone_number_only_validates_the_latest_code(client):
    generated(client.generate({"phone_number": PHONE, "text": "first {code}"}))
    first = code_in(last_text(), "first ")
    generated(client.generate({"phone_number": PHONE, "text": "second {code}"}))
    second = code_in(last_text(), "second ")
    if first != second:
        assert client.validate({"phone_number": PHONE, "code": first}).json()["code"] == 199
    assert client.validate({"phone_number": PHONE, "code": second}).status_code == 200


# --- Code settings -------------------------------------------------------------------


def test_alphabet_switches_and_length(client):
    generated(
        client.generate(
            {
                "phone_number": PHONE,
                "text": "code {code}",
                "code_length": 12,
                "allow_digits": False,
                "allow_upper_case": True,
                "allow_lower_case": False,
                "allow_special_chars": False,
            }
        )
    )
    assert re.fullmatch(r"[A-Z]{12}", code_in(last_text(), "code "))


def test_special_characters_and_32_long_codes(client):
    generated(
        client.generate(
            {"phone_number": PHONE, "text": "code {code}", "code_length": 32,
             "allow_special_chars": True, "allow_digits": False}
        )
    )  # fmt: skip
    code = code_in(last_text(), "code ")
    assert len(code) == 32 and not any(c.isdigit() for c in code)


def test_max_wrong_attempts_and_recipient_ip(client):
    body = generated(
        client.generate(
            {"phone_number": PHONE, "max_wrong_attempts": "2", "recipient_ip": "198.51.100.7"}
        )
    )
    verification = Verification.objects.get()
    assert verification.max_attempts == 2
    assert verification.end_user_ip == "198.51.100.7"
    token = body["otp_request_token"]
    first = client.validate({"code": "x", "otp_request_token": token})
    assert first.json()["remaining_number_of_attempts"] == 1
    second = client.validate({"code": "x", "otp_request_token": token})
    assert second.json()["remaining_number_of_attempts"] == 0
    locked = client.validate({"code": "x", "otp_request_token": token})
    assert (locked.status_code, locked.json()["code"]) == (400, 196)


def test_expired_and_unknown_requests(client):
    body = generated(client.generate({"phone_number": PHONE}))
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.validate({"code": "123456", "otp_request_token": body["otp_request_token"]})
    assert (expired.status_code, expired.json()["code"]) == (400, 197)
    for token in ("otp_" + "0" * 32, "otp_111111dab2222222aaa33333", "nope"):
        unknown = client.validate({"code": "123456", "otp_request_token": token})
        assert (unknown.status_code, unknown.json()["code"]) == (400, 198)
    other_phone = client.validate(
        {
            "code": "1",
            "otp_request_token": body["otp_request_token"],
            "phone_number": "+33612345678",
        }
    )
    assert other_phone.json()["code"] == 198


def test_a_used_code_is_not_found_again(client):
    body = generated(client.generate({"phone_number": PHONE, "text": "c {code}"}))
    code = code_in(last_text(), "c ")
    token = body["otp_request_token"]
    assert client.validate({"code": code, "otp_request_token": token}).status_code == 200
    assert client.validate({"code": code, "otp_request_token": token}).json()["code"] == 198


def test_voice_channel_with_language_and_gender(client):
    generated(
        client.generate(
            {
                "phone_number": PHONE,
                "channel": "voice_sms",
                "voice_language": "fr-FR",
                "voice_gender": "female",
            }
        )
    )
    [message] = outbox(PHONE)
    assert (message.channel, message.voice_language, message.voice_gender) == (
        "voice",
        "fr-FR",
        "female",
    )


def test_voice_options_are_ignored_with_a_warning_on_sms(client):
    body = generated(client.generate({"phone_number": PHONE, "voice_gender": "male"}))
    assert body["warnings"] == ["voice_gender: only used by the voice_sms channel, ignored."]
    assert outbox(PHONE)[0].voice_gender == ""


# --- Leniency: conversions reported ---------------------------------------------------


def test_conversions_and_ignored_fields_are_reported(client):
    body = generated(
        client.generate(
            {
                "phone_number": "+33 6 11.22-33-44",
                "text": "code {code}",
                "channel": "TEXT_SMS",
                "code_length": "8",
                "allow_upper_case": "true",
                "allow_digits": 1,
                "validity_period": 600.0,
                "remove_confusing_characters": True,
                "simulation_mode": True,
            }
        )
    )
    assert body["warnings"] == [
        "simulation_mode: unknown parameter, ignored.",
        "phone_number: removed spaces and punctuation: '+33611223344'.",
        "channel: read 'TEXT_SMS' as 'sms'.",
        "code_length: converted the string '8' to the integer 8.",
        "allow_digits: converted 1 to the boolean true.",
        "allow_upper_case: converted 'true' to the boolean true.",
        "remove_confusing_characters: not supported, ignored.",
        "validity_period: converted 600.0 to the integer 600.",
    ]
    assert re.fullmatch(r"[0-9A-Z]{8}", code_in(outbox(PHONE)[0].text, "code "))


def test_sender_is_stripped_and_must_be_one_of_the_accounts(db):
    account = factories.make_account()
    factories.make_sender(account, "MyShop")
    stream, _ = factories.make_stream(account)  # Customized sender
    credential, key = make_credential(CompatCredential.Peer.OCTOPUSH, stream=stream)
    client = OctopushClient(credential.login, key)
    body = generated(client.generate({"phone_number": PHONE, "sender": "My-Shop!"}))
    assert body["warnings"] == ["sender: removed characters other than a-z, A-Z, 0-9: 'MyShop'."]
    assert outbox(PHONE)[0].sender == "MyShop"
    unknown = client.generate({"phone_number": PHONE, "sender": "PayPal"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, 106)
    missing = client.generate({"phone_number": PHONE})
    assert missing.json()["code"] == 106


def test_sender_is_ignored_when_the_stream_has_a_default_one(client):
    body = generated(client.generate({"phone_number": PHONE, "sender": "Animigo"}))
    assert body["warnings"] == ["sender: this account sends from 'Acme'; ignored."]
    assert outbox(PHONE)[0].sender == "Acme"


# --- Refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, 150, "phone_number"),
        ({"phone_number": "0611223344"}, 150, "phone_number"),
        ({"phone_number": "+336"}, 150, None),
        ({"phone_number": "+33144556677"}, 150, None),  # a landline: SMS refused
        ({"phone_number": ["+33611223344"]}, 150, "phone_number"),
        ({"code_length": 3}, 400, "code_length"),
        ({"code_length": 33}, 400, "code_length"),
        ({"code_length": True}, 400, "code_length"),
        ({"code_length": "six"}, 400, "code_length"),
        ({"code_length": 6.5}, 400, "code_length"),
        ({"allow_digits": "maybe"}, 400, "allow_digits"),
        ({"allow_digits": False}, 400, "allow_digits"),  # nothing left to draw from
        ({"validity_period": 10}, 400, "validity_period"),
        ({"validity_period": 10000000}, 400, "validity_period"),
        ({"max_wrong_attempts": 50}, 400, "max_wrong_attempts"),
        ({"max_wrong_attempts": "-1"}, 400, "max_wrong_attempts"),
        ({"channel": "whatsapp"}, 400, "channel"),
        ({"channel": "pigeon"}, 400, "channel"),
        ({"voice_language": "xx-XX", "channel": "voice_sms"}, 400, "voice_language"),
        ({"voice_gender": "robot", "channel": "voice_sms"}, 400, "voice_gender"),
        ({"recipient_ip": "not-an-ip"}, 400, "recipient_ip"),
        ({"text": "x" * 1225}, 400, "text"),
        ({"text": {"a": 1}}, 400, "text"),
        ({"text": "Hi {{first_name}} {code}"}, 400, "variables.first_name"),
        ({"sender": "ab"}, 106, "sender"),
    ],
)
def test_ambiguous_or_dangerous_values_are_errors(client, body, code, field):
    body = {"phone_number": PHONE, **body} if "phone_number" not in body and body else body
    response = client.generate(body)
    assert response.status_code in (400, 403), response.content
    assert response.json()["code"] == code
    if field:
        assert field in response.json()["fields"]
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [("{not json", "application/json"), ("[1, 2]", "application/json"), ("a=b", "text/plain")],
)
def test_bodies_that_are_not_json_objects(client, raw, content_type):
    response = client.generate(raw=raw, content_type=content_type)
    assert response.status_code == 400
    assert response.json()["code"] == 400


def test_form_encoded_body_is_read(client):
    response = client.generate(raw="phone_number=%2B33611223344", content_type=
                               "application/x-www-form-urlencoded")  # fmt: skip
    generated(response)


def test_send_limit_is_429(db):
    credential, key = make_credential(
        CompatCredential.Peer.OCTOPUSH, send_limit_enabled=True, send_limit_count=1
    )
    client = OctopushClient(credential.login, key)
    generated(client.generate({"phone_number": PHONE}))
    limited = client.generate({"phone_number": PHONE, "code_length": "6"})
    assert limited.status_code == 429
    assert limited.json()["code"] == 429
    assert limited.json()["warnings"] == ["code_length: converted the string '6' to the integer 6."]


# --- Credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "key", "code"),
    [(None, "k", 108), ("", "k", 108), (LOGIN, None, 109), (LOGIN, "wrong", 101),
     ("other@email.org", "k", 101)],
)  # fmt: skip
def test_missing_or_wrong_credentials_are_401(credential, login, key, code):
    client = OctopushClient(login, key)
    for response in (client.generate({"phone_number": PHONE}), client.validate({"code": "1"})):
        assert response.status_code == 401
        assert response.json()["code"] == code
    assert not OutboundMessage.objects.exists()


def test_valid_key_from_outside_the_allowlist_is_403(credential):
    credential, key = credential
    client = OctopushClient(credential.login, key, remote_addr="203.0.113.9")
    response = client.generate({"phone_number": PHONE})
    assert (response.status_code, response.json()["code"]) == (403, 403)


def test_disabled_stream_is_403(client):
    Stream.objects.update(status=Stream.Status.DISABLED)
    assert client.generate({"phone_number": PHONE}).status_code == 403


def test_a_verifynow_credential_is_not_an_octopush_one(db):
    credential, secret = make_credential(CompatCredential.Peer.VERIFYNOW)
    response = OctopushClient(credential.login, secret).generate({"phone_number": PHONE})
    assert response.status_code == 401


# --- Never a 500 ----------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
field_names = st.sampled_from(
    ["phone_number", "text", "channel", "sender", "code_length", "allow_digits",
     "allow_upper_case", "allow_lower_case", "allow_special_chars", "validity_period",
     "max_wrong_attempts", "recipient_ip", "voice_language", "voice_gender", "code",
     "otp_request_token", "remove_confusing_characters"]
) | st.text(max_size=10)  # fmt: skip


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=st.dictionaries(field_names, json_values, max_size=6) | json_values)
def test_random_bodies_never_get_a_500(client, body):
    for response in (client.generate(body), client.validate(body)):
        assert response.status_code < 500, response.content
        assert isinstance(response.json()["code"], int)


def test_unknown_paths_answer_in_the_peers_shape(client):
    response = client.call("POST", "/service/otp/nope", {})
    assert response.status_code == 404
    assert response.json()["code"] == 404
