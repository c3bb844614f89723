"""VerifyNow (Message Central) clients against OTP Streams: the documented token /
send / validateOtp calls replayed with only the base URL changed, the full flow
through the outbox, and every refusal in the peer's envelope and codes."""

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compat.credentials import rotate_secret
from compat.models import CompatCredential
from otp.models import Verification
from streams.models import Stream
from tests.support import factories
from tests.support.compat_clients import VerifyNowClient, make_credential
from tests.support.otp_client import code_from, outbox

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+919990655875"
SEND_DATA_KEYS = {
    "verificationId",
    "mobileNumber",
    "responseCode",
    "errorMessage",
    "timeout",
    "smsCLI",
    "transactionId",
}
VALIDATE_DATA_KEYS = {
    "verificationId",
    "mobileNumber",
    "verificationStatus",
    "responseCode",
    "errorMessage",
    "transactionId",
    "authToken",
}


@pytest.fixture
def credential(db):
    return make_credential(CompatCredential.Peer.VERIFYNOW, login="C-F9DBF9664CE5487")


@pytest.fixture
def client(credential):
    credential, password = credential
    client = VerifyNowClient(credential.login, password)
    assert client.token().status_code == 200
    return client


def send_and_read(client, **params) -> tuple[str, str]:
    sent = client.send(**params)
    assert sent.status_code == 200, sent.content
    return sent.json()["data"]["verificationId"], code_from(outbox()[0].text)


def envelope(response) -> tuple[int, str]:
    body = response.json()
    return body["responseCode"], body["message"]


# --- The documented examples ---------------------------------------------------------


def test_documented_flow_token_send_validate(credential):
    credential, password = credential
    client = VerifyNowClient(credential.login, password)

    token = client.token(country="91", email="test@messagecentral.com")
    assert token.status_code == 200
    body = token.json()
    assert body["status"] == 200
    # A JWT, as the peer's: clients read `exp` to know when to ask again.
    payload = body["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == credential.login
    assert claims["exp"] > time.time() + 3600

    sent = client.send()
    assert sent.status_code == 200, sent.content
    body = sent.json()
    assert (body["responseCode"], body["message"]) == (200, "SUCCESS")
    assert set(body["data"]) == SEND_DATA_KEYS
    data = body["data"]
    assert re.fullmatch(r"[0-9]+", data["verificationId"])
    assert data["mobileNumber"] == "9990655875"
    assert data["responseCode"] == "200"
    assert data["errorMessage"] is None
    assert data["timeout"] == "300"  # the stream's code time to live, in seconds

    [message] = outbox(PHONE)
    code = code_from(message.text)
    # otpLength defaults to the stream's length (issue 13; the peer's default is 4)
    assert re.fullmatch(r"[0-9]{6}", code)

    validated = client.validate(
        data["verificationId"], code, countryCode="91", mobileNumber="9990655875"
    )
    assert validated.status_code == 200, validated.content
    body = validated.json()
    assert (body["responseCode"], body["message"]) == (200, "SUCCESS")
    assert set(body["data"]) == VALIDATE_DATA_KEYS
    assert body["data"]["verificationStatus"] == "VERIFICATION_COMPLETED"
    assert body["data"]["verificationId"] == data["verificationId"]
    assert body["data"]["mobileNumber"] == "9990655875"
    assert Verification.objects.get().status == "approved"


@pytest.mark.parametrize("length", [6, 7, 8])  # issue 13: at least the stream's 6
def test_otp_length_overrides_the_streams_within_4_to_8(client, length):
    _, code = send_and_read(client, otpLength=str(length))
    assert re.fullmatch(rf"[0-9]{{{length}}}", code)
    assert Verification.objects.get().stream.code_length == 6


@pytest.mark.parametrize("length", ["3", "9", "abc", "-4", "4.0"])
def test_otp_length_outside_4_to_8_is_a_bad_request(client, length):
    sent = client.send(otpLength=length)
    assert sent.status_code == 400
    assert envelope(sent) == (400, "BAD_REQUEST")
    assert "otpLength" in sent.json()["data"]["errorMessage"]
    assert not outbox()


def test_version_3_paths_and_validate_by_post(client):
    sent = client.send(version=3, otpLength="6")
    assert sent.status_code == 200
    verification_id = sent.json()["data"]["verificationId"]
    code = code_from(outbox()[0].text)
    validated = client.validate(verification_id, code, version=3, method="POST", flowType="SMS")
    assert validated.status_code == 200
    assert validated.json()["data"]["verificationStatus"] == "VERIFICATION_COMPLETED"


def test_the_credentials_event_template_gives_the_text(db):
    account = factories.make_account()
    sender = factories.make_sender(account, "Shop")
    stream, _ = factories.make_stream(
        account, default_sender=sender, templates={"signup": "Shop sign-up code is {{code}}."}
    )
    credential, password = make_credential(
        CompatCredential.Peer.VERIFYNOW, stream=stream, event_key="signup"
    )
    client = VerifyNowClient(credential.login, password)
    client.token()
    client.send()
    [message] = outbox(PHONE)
    assert message.text.startswith("Shop sign-up code is ")
    assert message.sender == "Shop"
    assert Verification.objects.get().event_key == "signup"


# --- Validation outcomes -------------------------------------------------------------


def test_wrong_code_then_limit_reached(client):
    verification_id, code = send_and_read(client)
    wrong = "0000" if code != "0000" else "1111"
    for _ in range(4):
        refused = client.validate(verification_id, wrong)
        assert refused.status_code == 400
        assert envelope(refused) == (702, "WRONG_OTP_PROVIDED")
        assert refused.json()["data"]["verificationId"] == verification_id
    locked = client.validate(verification_id, wrong)
    assert envelope(locked) == (702, "WRONG_OTP_PROVIDED")
    after = client.validate(verification_id, code)
    assert envelope(after) == (800, "MAXIMUM_LIMIT_REACHED")
    assert Verification.objects.get().status == "max_attempts_reached"


def test_a_code_is_verified_once(client):
    verification_id, code = send_and_read(client)
    assert client.validate(verification_id, code).status_code == 200
    again = client.validate(verification_id, code)
    assert envelope(again) == (703, "ALREADY_VERIFIED")


def test_expired_code(client):
    verification_id, code = send_and_read(client)
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.validate(verification_id, code)
    assert envelope(expired) == (705, "VERIFICATION_EXPIRED")


def test_a_new_send_replaces_the_earlier_code(client):
    first_id, first_code = send_and_read(client)
    send_and_read(client)
    replaced = client.validate(first_id, first_code)
    assert envelope(replaced) == (700, "VERIFICATION_FAILED")


@pytest.mark.parametrize("verification_id", ["999", "abc", "", "1" * 30])
def test_unknown_verification_id(client, verification_id):
    refused = client.validate(verification_id, "1234")
    assert envelope(refused) == (505, "INVALID_VERIFICATION_ID")


def test_another_customers_verification_is_invalid(client):
    verification_id, code = send_and_read(client)
    other, password = make_credential(CompatCredential.Peer.VERIFYNOW)
    stranger = VerifyNowClient(other.login, password)
    stranger.token()
    refused = stranger.validate(verification_id, code)
    assert envelope(refused) == (505, "INVALID_VERIFICATION_ID")
    assert Verification.objects.get().attempts == 0


def test_code_is_required(client):
    verification_id, _ = send_and_read(client)
    refused = client.validate(verification_id, "")
    assert envelope(refused) == (400, "BAD_REQUEST")


# --- Send refusals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"countryCode": "999"}, (511, "INVALID_COUNTRY_CODE")),
        ({"countryCode": "IN"}, (511, "INVALID_COUNTRY_CODE")),
        ({"countryCode": ""}, (511, "INVALID_COUNTRY_CODE")),
        ({"mobileNumber": "99906-55875"}, (400, "BAD_REQUEST")),
        ({"mobileNumber": "12345"}, (400, "BAD_REQUEST")),
        ({"mobileNumber": ""}, (400, "BAD_REQUEST")),
        ({"flowType": "WHATSAPP"}, (400, "BAD_REQUEST")),
        ({"customerId": "C-SOMEONE-ELSE"}, (501, "INVALID_CUSTOMER_ID")),
    ],
)
def test_bad_send_parameters(client, params, expected):
    sent = client.send(**params)
    assert envelope(sent) == expected
    assert 400 <= sent.status_code < 500
    assert not Verification.objects.exists()


def test_country_outside_the_streams_list(db):
    credential, password = make_credential(
        CompatCredential.Peer.VERIFYNOW, allowed_countries=["US"]
    )
    client = VerifyNowClient(credential.login, password)
    client.token()
    assert envelope(client.send()) == (511, "INVALID_COUNTRY_CODE")


def test_the_streams_send_limit_answers_maximum_limit_reached(db):
    credential, password = make_credential(
        CompatCredential.Peer.VERIFYNOW, send_limit_enabled=True, send_limit_count=2
    )
    client = VerifyNowClient(credential.login, password)
    client.token()
    assert client.send().status_code == 200
    assert client.send().status_code == 200
    limited = client.send()
    assert limited.status_code == 429
    assert envelope(limited) == (800, "MAXIMUM_LIMIT_REACHED")
    assert int(limited["Retry-After"]) > 0
    assert len(outbox()) == 2


# --- Credentials and tokens ----------------------------------------------------------


def test_token_with_a_wrong_key_or_customer_is_401(credential):
    credential, password = credential
    for customer_id, secret in (
        (credential.login, password + "x"),
        ("C-UNKNOWN", password),
    ):
        response = VerifyNowClient(customer_id, secret).token()
        assert response.status_code == 401
        assert response.json()["status"] == 401
        assert "token" not in response.json()


def test_a_customer_id_with_a_nul_byte_is_an_unknown_customer_not_an_outage(credential):
    # PostgreSQL refuses NUL in a query parameter: it used to answer 503.
    credential, password = credential
    response = VerifyNowClient(credential.login + "\x00", password).token()
    assert response.status_code == 401
    assert "token" not in response.json()


@pytest.mark.parametrize(
    "params", [{"customerId": ""}, {"key": ""}, {"key": "%%%"}, {"scope": "OLD"}]
)
def test_token_refuses_missing_or_bad_parameters(credential, params):
    credential, password = credential
    response = VerifyNowClient(credential.login, password).token(**params)
    assert response.status_code in (400, 401)
    assert response.json()["status"] == response.status_code


def test_key_whose_plus_became_a_space_in_the_query_string(credential):
    credential, password = credential
    client = VerifyNowClient(credential.login, password)
    client.key = client.key.replace("+", " ")
    assert client.token().status_code == 200


@pytest.mark.parametrize("auth_token", [None, "", "garbage", "a.b.c"])
def test_send_without_a_valid_token_is_401(client, auth_token):
    headers = {} if auth_token is None else {"HTTP_AUTHTOKEN": auth_token}
    client.auth_token = ""
    response = client.call("POST", "/verification/v2/verification/send", {}, **headers)
    assert response.status_code == 401
    assert envelope(response) == (401, "UNAUTHORIZED")


def test_rotating_the_password_revokes_its_tokens(client, credential):
    rotate_secret(credential=credential[0])
    assert envelope(client.send()) == (401, "UNAUTHORIZED")


def test_expired_token_is_refused(client, settings):
    settings.COMPAT_VERIFYNOW_TOKEN_TTL_SECONDS = -1
    client.token()
    assert envelope(client.send()) == (401, "UNAUTHORIZED")


def _signed(header: dict, claims: dict, key: bytes, digest=hashlib.sha256) -> str:
    """A JWT built by hand, as the previous release's own encoder did."""

    def part(data: dict) -> str:
        text = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(text).rstrip(b"=").decode()

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(key, signing_input.encode(), digest).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def _token_key(credential) -> bytes:
    """The signing key of a credential's tokens (unchanged since the first release)."""
    message = f"verifynow-token:{credential.secret_hash}".encode()
    return hmac.new(django_settings.OTP_HASH_KEY.encode(), message, hashlib.sha256).digest()


def test_a_token_issued_before_the_upgrade_still_works(client, credential):
    credential, _password = credential
    now = int(time.time())
    client.auth_token = _signed(
        {"alg": "HS256", "typ": "JWT"},
        {"sub": credential.login, "iat": now, "exp": now + 3600},
        _token_key(credential),
    )
    assert client.send().status_code == 200


@pytest.mark.parametrize(
    "forge",
    [
        "alg_none",
        "hs512",
        "another_customer",
        "no_exp",
    ],
)
def test_forged_tokens_are_refused(client, credential, forge):
    credential, _password = credential
    other, _ = make_credential(CompatCredential.Peer.VERIFYNOW, login="C-OTHER")
    now = int(time.time())
    claims = {"sub": credential.login, "iat": now, "exp": now + 3600}
    key = _token_key(credential)
    if forge == "alg_none":
        token = _signed({"alg": "none", "typ": "JWT"}, claims, key).rsplit(".", 1)[0] + "."
    elif forge == "hs512":
        token = _signed({"alg": "HS512", "typ": "JWT"}, claims, key, hashlib.sha512)
    elif forge == "another_customer":  # signed with our key, naming someone else
        token = _signed({"alg": "HS256", "typ": "JWT"}, {**claims, "sub": other.login}, key)
    else:
        del claims["exp"]
        token = _signed({"alg": "HS256", "typ": "JWT"}, claims, key)
    client.auth_token = token
    assert envelope(client.send()) == (401, "UNAUTHORIZED")
    assert not Verification.objects.exists()


def test_disabled_credential_is_refused(client, credential):
    CompatCredential.objects.update(enabled=False)
    assert envelope(client.send()) == (401, "UNAUTHORIZED")


def test_caller_outside_the_streams_allowed_ips_is_403(credential):
    credential, password = credential
    client = VerifyNowClient(credential.login, password, remote_addr="203.0.113.9")
    assert client.token().status_code == 403


def test_disabled_stream_is_403(client, credential):
    Stream.objects.update(status=Stream.Status.DISABLED)
    refused = client.send()
    assert refused.status_code == 403
    assert envelope(refused) == (403, "FORBIDDEN")


def test_wrong_method_is_refused_in_the_envelope(client):
    response = client.call("GET", "/verification/v2/verification/send", {})
    assert response.status_code == 405
    assert envelope(response) == (400, "BAD_REQUEST")


def test_credential_needs_a_platform_stream_with_a_default_sender_and_event(db):
    account = factories.make_account()
    customized, _ = factories.make_stream(account)
    client_codes, _ = factories.make_stream(
        account, code_generator=Stream.CodeGenerator.CLIENT, default_sender=None
    )
    for stream, event_key in ((customized, "login"), (client_codes, "login")):
        credential = CompatCredential(
            account=account, peer="verifynow", login="C-1", stream=stream, event_key=event_key
        )
        with pytest.raises(ValidationError) as error:
            credential.full_clean(exclude=["secret_hash"])
        assert "stream" in error.value.message_dict
    sender = factories.make_sender(account, "Acme")
    good, _ = factories.make_stream(account, default_sender=sender)
    credential = CompatCredential(
        account=account, peer="verifynow", login="C-1", stream=good, event_key="nope"
    )
    with pytest.raises(ValidationError) as error:
        credential.full_clean(exclude=["secret_hash"])
    assert "event_key" in error.value.message_dict


# --- Never a 500 ---------------------------------------------------------------------

PARAM_NAMES = ["customerId", "countryCode", "mobileNumber", "flowType", "otpLength",
               "verificationId", "code", "key", "scope", "email", "langId"]  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    params=st.dictionaries(
        st.sampled_from(PARAM_NAMES) | st.text(min_size=1, max_size=8),
        st.text(max_size=20),
        max_size=6,
    ),
    body=st.binary(max_size=40),
)
def test_random_requests_never_get_a_500(client, params, body):
    for method, path in (
        ("GET", "/auth/v1/authentication/token"),
        ("POST", "/verification/v2/verification/send"),
        ("GET", "/verification/v2/verification/validateOtp"),
        ("POST", "/verification/v3/validateOtp"),
    ):
        response = client.call(
            method, path, params, **({"data": body, "content_type": "application/json"}
                                      if method == "POST" else {})
        )  # fmt: skip
        assert response.status_code < 500, response.content
        response.json()


# --- The admin -----------------------------------------------------------------------


def test_admin_issues_the_secret_once_and_it_works(db, django_user_model):
    from django.test import Client

    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456")
    account = factories.make_account()
    sender = factories.make_sender(account, "Acme")
    stream, _ = factories.make_stream(account, default_sender=sender)
    browser = Client()
    browser.force_login(admin)
    response = browser.post(
        "/admin/compat/compatcredential/add/",
        {
            "account": account.pk,
            "peer": "verifynow",
            "login": "C-ADMIN",
            "stream": stream.pk,
            "event_key": "login",
            "enabled": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    [note] = [str(m) for m in response.context["messages"] if "not shown again" in str(m)]
    password = re.search(r"password (\S+) ", note).group(1)
    key = re.search(r"key is its base64: (\S+)\)", note).group(1)
    assert base64.b64decode(key).decode() == password
    credential = CompatCredential.objects.get(login="C-ADMIN")
    assert password not in credential.secret_hash
    assert VerifyNowClient("C-ADMIN", password).token().status_code == 200
    listing = browser.get("/admin/compat/compatcredential/")
    assert password not in listing.content.decode()


def test_unknown_paths_answer_in_the_envelope(client):
    response = client.call("GET", "/verification/v9/whatever", {})
    assert response.status_code == 404
    assert envelope(response) == (400, "BAD_REQUEST")
