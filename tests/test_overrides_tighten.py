"""Per-request code settings only tighten the stream's policy (issue 13's attack list):
a 6-digit / 5-minute / 5-attempt stream cannot be talked into 4 digits, a day and 20
attempts through a compatibility API or the engine; free text needs the admin's
"caller-supplied text"; VerifyNow's default length is the stream's."""

import re
from datetime import timedelta

import pytest

from compat.models import CompatCredential
from otp.errors import OtpError
from otp.models import Verification
from otp.services import CodeOverrides, send_otp
from tests.support.compat_clients import OctopushClient, VerifyNowClient, make_credential
from tests.support.otp_client import outbox

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+33611223344"
LOOSER = {"code_length": 4, "validity_period": 86400, "max_wrong_attempts": 20}


@pytest.fixture
def octopush(db):
    credential, key = make_credential(CompatCredential.Peer.OCTOPUSH, login="tight@example.org")
    return credential.stream, OctopushClient(credential.login, key)


def test_octopush_looser_settings_are_clamped_to_the_streams_with_warnings(octopush):
    stream, client = octopush
    assert (stream.code_length, stream.code_ttl_seconds, stream.max_attempts) == (6, 300, 5)
    sent = client.generate({"phone_number": PHONE, **LOOSER})
    assert sent.status_code == 201, sent.content
    assert sent.json()["warnings"] == [
        "code_length: 4 is below this account's policy; used 6.",
        "validity_period: 86400 is above this account's policy; used 300.",
        "max_wrong_attempts: 20 is above this account's policy; used 5.",
    ]
    verification = Verification.objects.get()
    assert verification.max_attempts == 5
    assert verification.expires_at - verification.created_at <= timedelta(seconds=301)
    [message] = outbox(PHONE)
    assert re.search(r"\b[0-9]{6}\b", message.text)


def test_octopush_tighter_settings_are_taken(octopush):
    _, client = octopush
    sent = client.generate(
        {"phone_number": PHONE, "code_length": 8, "validity_period": 60, "max_wrong_attempts": 2}
    )
    assert sent.status_code == 201 and sent.json()["warnings"] == []
    verification = Verification.objects.get()
    assert verification.max_attempts == 2
    assert verification.expires_at - verification.created_at <= timedelta(seconds=61)
    assert re.search(r"\b[0-9]{8}\b", outbox(PHONE)[0].text)


def test_octopush_free_text_needs_the_admins_caller_supplied_text(octopush):
    stream, client = octopush
    phishing = {"phone_number": PHONE, "text": "Log in at https://evil.example/{code}"}
    refused = client.generate(phishing)
    assert refused.status_code == 400
    assert set(refused.json()["fields"]) == {"text"}
    assert not outbox() and not Verification.objects.exists()

    stream.caller_text_allowed = True
    stream.save()
    allowed = client.generate({"phone_number": PHONE, "text": "Your code: {code}"})
    assert allowed.status_code == 201
    # Still carries the code, even when the caller's text forgot it.
    client.generate({"phone_number": PHONE, "text": "Welcome!"})
    assert re.search(r"Welcome! [0-9]{6}$", outbox(PHONE)[0].text)


def test_octopush_fewer_kinds_of_character_make_a_longer_code_not_a_weaker_one(octopush):
    stream, client = octopush
    stream.code_length, stream.code_upper = 8, True  # 36^8: about 2.8 x 10^12 codes
    stream.save()
    sent = client.generate(
        {"phone_number": PHONE, "allow_upper_case": False, "allow_lower_case": False}
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["warnings"] == [
        "code_length: 8 characters of this kind are easier to guess than this account's "
        "codes; used 13."
    ]
    assert re.search(r"\b[0-9]{13}\b", outbox(PHONE)[0].text)  # 10^13 codes


def test_the_engine_refuses_a_narrower_alphabet_that_leaves_fewer_codes(db):
    from tests.support import factories

    account = factories.make_account()
    stream, _ = factories.make_stream(
        account, code_length=8, code_upper=True, default_sender=factories.make_sender(account)
    )
    for overrides in (CodeOverrides(upper=False), CodeOverrides(upper=False, length=12)):
        with pytest.raises(OtpError) as refused:
            send_otp(stream=stream, recipient=PHONE, event_key="login", overrides=overrides)
        assert refused.value.fields == {"length": ["At least 13 with these characters."]}
    # As many codes as the stream's, or more: tighter, taken.
    send_otp(
        stream=stream,
        recipient=PHONE,
        event_key="login",
        overrides=CodeOverrides(upper=False, length=13),
    )
    assert Verification.objects.count() == 1


@pytest.fixture
def verifynow(db):
    credential, password = make_credential(CompatCredential.Peer.VERIFYNOW, login="C-TIGHT")
    client = VerifyNowClient(credential.login, password)
    assert client.token().status_code == 200
    return credential.stream, client


def test_verifynow_sends_the_streams_length_by_default_and_refuses_shorter(verifynow):
    _stream, client = verifynow
    assert client.send().status_code == 200
    assert re.search(r"\b[0-9]{6}\b", outbox()[0].text)
    for short in ("4", "5"):
        refused = client.send(otpLength=short)
        assert refused.status_code == 400, refused.content
        body = refused.json()
        assert (body["responseCode"], body["message"]) == (400, "BAD_REQUEST")
        assert "code length (6)" in body["data"]["errorMessage"]
    assert Verification.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (CodeOverrides(length=4), "length"),
        (CodeOverrides(ttl_seconds=86400), "ttl_seconds"),
        (CodeOverrides(max_attempts=20), "max_attempts"),
        # Shorter alphabet, same length: 4 digits on a 4-letter-and-digit stream.
        (CodeOverrides(upper=False, lower=False), "length"),
    ],
)
def test_the_engine_refuses_overrides_that_loosen_the_stream(db, overrides, field):
    from tests.support import factories

    stream, _ = factories.make_stream(code_length=6)
    if field == "length" and overrides.length is None:
        stream.code_length, stream.code_upper, stream.code_lower = 4, True, True
        stream.save()
    with pytest.raises(OtpError) as refused:
        send_otp(stream=stream, recipient=PHONE, event_key="login", overrides=overrides)
    assert refused.value.code == "invalid_request"
    assert set(refused.value.fields) == {field}
    assert not Verification.objects.exists()
