"""The OTP API through HTTP, as an integrator sees it: every rule of the stream, every
refusal with its stable code."""

import json
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateways.models import OutboundMessage
from otp.models import SendCounter, Verification
from streams import services as stream_services
from streams.models import Contact, ContactField, Stream
from tests.support import factories
from tests.support.errors import error_code
from tests.support.otp_client import OtpClient, code_from, latest_code, outbox

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"
OTHER_PHONE = "+14155550123"


@pytest.fixture
def stream(account):
    sender = factories.make_sender(account, "Acme")
    stream, token = factories.make_stream(account, default_sender=sender)
    stream.token = token
    return stream


@pytest.fixture
def api(stream):
    return OtpClient(stream.token)


# --- Auth request and verification request ------------------------------------------


def test_code_sent_by_sms_arrives_in_the_outbox_and_verifies(api):
    sent = api.send(recipient=PHONE)
    assert sent.status_code == 201, sent.content
    body = sent.json()
    assert body["status"] == "pending"
    assert body["channel"] == "sms"
    assert body["recipient"] == PHONE
    assert body["event"] == "login"
    assert body["attempts_left"] == 5
    assert body["message"]["encoding"] == "gsm7"
    assert body["message"]["segments"] == 1
    assert "code" not in body and "code_hash" not in json.dumps(body)

    [message] = outbox(PHONE)
    assert message.sender == "Acme"
    code = code_from(message.text)
    assert len(code) == 6 and code.isdigit()
    assert code not in sent.content.decode()

    verified = api.verify(id=body["id"], code=code)
    assert verified.status_code == 200, verified.content
    assert verified.json()["status"] == "approved"


def test_codes_follow_the_streams_length_and_alphabet(account):
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        code_length=12,
        code_digits=False,
        code_upper=True,
    )
    OtpClient(token).send(recipient=PHONE)
    code = latest_code(PHONE)
    assert len(code) == 12 and code.isalpha() and code.isupper()


def test_national_number_with_country_is_read_as_e164(api):
    sent = api.send(recipient="(415) 555-2671", country="US")
    assert sent.status_code == 201
    assert sent.json()["recipient"] == PHONE


def test_voice_call_reads_the_code_digit_by_digit(api):
    sent = api.send(recipient=PHONE, channel="voice", voice_language="en-GB", voice_gender="female")
    assert sent.status_code == 201, sent.content
    [message] = outbox(PHONE)
    assert message.channel == "voice"
    assert message.voice_language == "en-GB" and message.voice_gender == "female"
    spoken = message.text.split("code is ")[1].split(".")[0]
    assert len(spoken.split(", ")) == 6
    assert api.verify(id=sent.json()["id"], code=spoken.replace(", ", "")).status_code == 200


def test_voice_options_are_refused_for_sms(api):
    response = api.send(recipient=PHONE, voice_gender="male")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert "voice_gender" in response.json()["error"]["fields"]
    assert not Verification.objects.exists()


def test_verification_by_recipient_and_event(api):
    api.send(recipient=PHONE)
    response = api.verify(recipient=PHONE, event="login", code=latest_code(PHONE))
    assert response.status_code == 200
    assert response.json()["status"] == "approved"


def test_wrong_code_says_attempts_left_then_locks(api):
    sent = api.send(recipient=PHONE).json()
    code = latest_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = api.verify(id=sent["id"], code=wrong)
        assert response.status_code == 400
        assert error_code(response) == "wrong_code"
        assert response.json()["error"]["attempts_left"] == left
    last = api.verify(id=sent["id"], code=wrong)
    assert last.json()["error"]["attempts_left"] == 0
    assert last.json()["error"]["status"] == "max_attempts_reached"
    locked = api.verify(id=sent["id"], code=code)
    assert locked.status_code == 423
    assert error_code(locked) == "max_attempts_reached"
    assert Verification.objects.get().attempts == 5


def test_codes_are_single_use(api):
    sent = api.send(recipient=PHONE).json()
    code = latest_code(PHONE)
    assert api.verify(id=sent["id"], code=code).status_code == 200
    again = api.verify(id=sent["id"], code=code)
    assert again.status_code == 409
    assert error_code(again) == "already_approved"


def test_expired_code_is_refused(api):
    sent = api.send(recipient=PHONE).json()
    Verification.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.status(sent["id"]).json()["status"] == "expired"
    response = api.verify(id=sent["id"], code=latest_code(PHONE))
    assert response.status_code == 410
    assert error_code(response) == "verification_expired"
    assert Verification.objects.get().status == "expired"


def test_a_new_send_cancels_the_earlier_code(api):
    first = api.send(recipient=PHONE).json()
    first_code = latest_code(PHONE)
    second = api.send(recipient=PHONE).json()
    second_code = latest_code(PHONE)
    refused = api.verify(id=first["id"], code=first_code)
    assert refused.status_code == 409
    assert error_code(refused) == "verification_canceled"
    assert api.verify(id=second["id"], code=second_code).status_code == 200


def test_cancel_a_pending_verification(api):
    sent = api.send(recipient=PHONE).json()
    canceled = api.cancel(sent["id"])
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    assert error_code(api.verify(id=sent["id"], code=latest_code(PHONE))) == (
        "verification_canceled"
    )
    assert error_code(api.cancel(sent["id"])) == "verification_canceled"


def test_status_shows_the_messages_delivery(api):
    sent = api.send(recipient=PHONE).json()
    status = api.status(sent["id"])
    assert status.status_code == 200
    body = status.json()
    assert body["status"] == "pending"
    assert body["message"]["status"] == "sent"
    assert body["message"]["id"] == sent["message"]["id"]


def test_unknown_verification_is_404(api):
    import uuid

    assert error_code(api.status(uuid.uuid4())) == "verification_not_found"
    response = api.verify(id=str(uuid.uuid4()), code="123456")
    assert response.status_code == 404
    assert error_code(response) == "verification_not_found"
    missing = api.verify(recipient=OTHER_PHONE, event="login", code="123456")
    assert error_code(missing) == "verification_not_found"


def test_another_streams_verification_is_not_found(api, account):
    sent = api.send(recipient=PHONE).json()
    _, other_token = factories.make_stream(
        factories.make_account(), default_sender=None, templates={"login": "{{code}}"}
    )
    other = OtpClient(other_token)
    assert other.status(sent["id"]).status_code == 404
    assert other.verify(id=sent["id"], code=latest_code(PHONE)).status_code == 404
    assert other.cancel(sent["id"]).status_code == 404
    assert Verification.objects.get().status == "pending"


# --- Who generates the code ----------------------------------------------------------


@pytest.fixture
def client_code_api(account):
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), code_generator="client"
    )
    return OtpClient(token)


def test_client_generated_code_is_sent_and_verified(client_code_api):
    sent = client_code_api.send(recipient=PHONE, code="AB12cd")
    assert sent.status_code == 201, sent.content
    assert "AB12cd" in outbox(PHONE)[0].text
    assert "AB12cd" not in sent.content.decode()
    assert client_code_api.verify(id=sent.json()["id"], code="AB12cd").status_code == 200


@pytest.mark.parametrize(
    ("code", "expected"),
    [("", "code_required"), ("12", "invalid_code_format"), ("12 34", "invalid_code_format")],
)
def test_client_generated_code_is_checked(client_code_api, code, expected):
    body = {"recipient": PHONE} | ({"code": code} if code else {})
    response = client_code_api.send(**body)
    assert response.status_code == 400
    assert error_code(response) == expected
    assert response.json()["error"]["fields"] == {
        "code": response.json()["error"]["fields"]["code"]
    }


def test_platform_generated_stream_refuses_a_code(api):
    response = api.send(recipient=PHONE, code="123456")
    assert error_code(response) == "code_not_allowed"
    assert not OutboundMessage.objects.exists()


# --- Sender, event, recipient --------------------------------------------------------


def test_stream_with_default_sender_refuses_a_sender(api):
    response = api.send(recipient=PHONE, sender="Other")
    assert response.status_code == 400
    assert error_code(response) == "sender_not_allowed"


def test_customized_sender_must_be_one_of_the_accounts(account):
    factories.make_sender(account, "Shop")
    _, token = factories.make_stream(account, default_sender=None)
    api = OtpClient(token)
    assert error_code(api.send(recipient=PHONE)) == "sender_required"
    assert error_code(api.send(recipient=PHONE, sender="Nope")) == "unknown_sender"
    assert api.send(recipient=PHONE, sender="Shop").status_code == 201
    assert outbox(PHONE)[0].sender == "Shop"


def test_unknown_or_disabled_event_is_refused(api, stream):
    assert error_code(api.send(recipient=PHONE, event="signup")) == "unknown_event"
    for template in stream.templates.all():  # as the console does: save() each
        template.enabled = False
        template.save()
    response = api.send(recipient=PHONE)
    assert error_code(response) == "unknown_event"
    assert response.json()["error"]["fields"] == {"event": ["Unknown or disabled event key."]}


@pytest.mark.parametrize("recipient", ["hello", "+1415555", "+999123456789", "4155552671"])
def test_invalid_numbers_are_refused(api, recipient):
    response = api.send(recipient=recipient)
    assert response.status_code == 400
    assert error_code(response) == "invalid_phone"
    assert "recipient" in response.json()["error"]["fields"]


def test_sms_to_a_landline_is_refused_but_voice_is_fine(api):
    landline = "+442079460000"  # a London fixed line
    response = api.send(recipient=landline)
    assert error_code(response) == "not_mobile"
    assert api.send(recipient=landline, channel="voice").status_code == 201


def test_countries_outside_the_streams_list_are_refused(account):
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), allowed_countries=["US"]
    )
    api = OtpClient(token)
    response = api.send(recipient="+447400123456")
    assert response.status_code == 403
    assert error_code(response) == "country_not_allowed"
    assert api.send(recipient=PHONE).status_code == 201
    assert OutboundMessage.objects.count() == 1


# --- Message text ----------------------------------------------------------------------


@pytest.fixture
def greeting_api(account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        templates={"login": "Hi {{first_name}} ({{plan}}), your code is {{code}}"},
    )
    return OtpClient(token)


def test_text_uses_the_contacts_fields_and_the_requests_variables(account, greeting_api):
    Contact.objects.create(
        account=account, phone=PHONE, first_name="Ada", custom_fields={"plan": "Pro"}
    )
    greeting_api.send(recipient=PHONE)
    assert outbox(PHONE)[0].text.startswith("Hi Ada (Pro), your code is ")
    greeting_api.send(recipient=PHONE, variables={"first_name": "Countess"})
    assert outbox(PHONE)[0].text.startswith("Hi Countess (Pro), your code is ")


def test_missing_variable_is_a_clear_400(greeting_api):
    response = greeting_api.send(recipient=PHONE, variables={"first_name": "Ada"})
    assert response.status_code == 400
    assert error_code(response) == "missing_variable"
    assert response.json()["error"]["fields"] == {"variables.plan": ["Required by the template."]}
    assert not Verification.objects.exists()


def test_variables_must_be_placeholders_of_the_template(api):
    response = api.send(recipient=PHONE, variables={"code": "1234", "frist_name": "x"})
    assert error_code(response) == "invalid_request"
    assert set(response.json()["error"]["fields"]) == {"variables.code", "variables.frist_name"}


def test_unicode_text_is_ucs2_with_its_segments(account):
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        templates={"login": "Ваш код {{code}}. " + "ж" * 70},
    )
    sent = OtpClient(token).send(recipient=PHONE).json()
    assert sent["message"]["encoding"] == "ucs2"
    assert sent["message"]["segments"] == 2


# --- Authentication and callers ------------------------------------------------------


def test_missing_and_invalid_tokens_are_401(stream):
    missing = OtpClient(None).send(recipient=PHONE)
    assert missing.status_code == 401
    assert error_code(missing) == "missing_token"
    assert missing["WWW-Authenticate"].startswith("Bearer")
    invalid = OtpClient("ots_not-a-token").send(recipient=PHONE)
    assert invalid.status_code == 401
    assert error_code(invalid) == "invalid_token"
    basic = OtpClient(None, HTTP_AUTHORIZATION="Basic YTpi").send(recipient=PHONE)
    assert error_code(basic) == "invalid_token"


def test_rotated_token_stops_working_at_once(stream, api):
    assert api.send(recipient=PHONE).status_code == 201
    new_token = stream_services.rotate_token(stream=stream)
    assert error_code(api.send(recipient=PHONE)) == "invalid_token"
    assert OtpClient(new_token).send(recipient=PHONE).status_code == 201


@pytest.mark.parametrize("status", ["draft", "disabled"])
def test_draft_and_disabled_streams_refuse_calls(stream, api, status):
    Stream.objects.filter(pk=stream.pk).update(status=status)
    response = api.send(recipient=PHONE)
    assert response.status_code == 403
    assert error_code(response) == "stream_not_active"
    assert not Verification.objects.exists()


@pytest.mark.parametrize(
    ("allowed", "caller", "ok"),
    [
        (["203.0.113.7"], "203.0.113.7", True),
        (["203.0.113.7"], "203.0.113.8", False),
        (["198.51.100.0/24"], "198.51.100.200", True),
        (["198.51.100.0/24"], "198.51.101.1", False),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::1"], "2001:db9::1", False),
        (["203.0.113.7"], "::ffff:203.0.113.7", True),
        ([], "127.0.0.1", False),
    ],
)
def test_ip_allowlist(account, allowed, caller, ok):
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), allowed_ips=allowed
    )
    response = OtpClient(token, remote_addr=caller).send(recipient=PHONE)
    if ok:
        assert response.status_code == 201, response.content
    else:
        assert response.status_code == 403
        assert error_code(response) == "ip_not_allowed"


def test_forwarded_for_is_ignored_unless_from_a_trusted_proxy(account, settings):
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), allowed_ips=["203.0.113.7"]
    )
    spoofed = OtpClient(token, remote_addr="198.51.100.9", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert error_code(spoofed.send(recipient=PHONE)) == "ip_not_allowed"

    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    via_proxy = OtpClient(
        token, remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7, 10.0.0.3"
    )
    sent = via_proxy.send(recipient=PHONE)
    assert sent.status_code == 201, sent.content
    assert Verification.objects.get().caller_ip == "203.0.113.7"
    # The client cannot push an allowed address in front of its own through the proxy.
    forged = OtpClient(
        token, remote_addr="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.9"
    )
    assert error_code(forged.send(recipient=OTHER_PHONE)) == "ip_not_allowed"


# --- Idempotency --------------------------------------------------------------------


def test_idempotent_retry_answers_with_the_first_send(api):
    first = api.send(recipient=PHONE, idempotency_key="order-42")
    retry = api.send(recipient=PHONE, idempotency_key="order-42")
    assert first.status_code == 201 and retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    assert len(outbox(PHONE)) == 1
    header = api.post(
        "send", {"recipient": PHONE, "event": "login"}, HTTP_IDEMPOTENCY_KEY="order-42"
    )
    assert header.json()["id"] == first.json()["id"]


def test_idempotency_key_reused_for_another_request_is_409(api):
    api.send(recipient=PHONE, idempotency_key="k1")
    response = api.send(recipient=OTHER_PHONE, idempotency_key="k1")
    assert response.status_code == 409
    assert error_code(response) == "idempotency_key_reused"
    assert len(outbox()) == 1


# --- Send limit ------------------------------------------------------------------------


@pytest.fixture
def limited_api(account):
    _, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        send_limit_enabled=True,
        send_limit_count=3,
        send_limit_cooldown_minutes=10,
    )
    return OtpClient(token)


def test_send_limit_then_cooldown(limited_api):
    for _ in range(3):
        assert limited_api.send(recipient=PHONE).status_code == 201
    refused = limited_api.send(recipient=PHONE)
    assert refused.status_code == 429
    assert error_code(refused) == "send_limit_reached"
    assert 590 <= int(refused["Retry-After"]) <= 600
    assert len(outbox(PHONE)) == 3
    # Another recipient has its own count.
    assert limited_api.send(recipient=OTHER_PHONE).status_code == 201
    # After the cooldown the recipient can receive again.
    SendCounter.objects.filter(recipient=PHONE).update(
        blocked_until=timezone.now() - timedelta(seconds=1)
    )
    assert limited_api.send(recipient=PHONE).status_code == 201


def test_send_limit_window_starts_over_after_the_cooldown(limited_api):
    limited_api.send(recipient=PHONE)
    limited_api.send(recipient=PHONE)
    SendCounter.objects.update(window_started_at=timezone.now() - timedelta(minutes=11))
    for _ in range(3):
        assert limited_api.send(recipient=PHONE).status_code == 201
    assert limited_api.send(recipient=PHONE).status_code == 429


def test_refused_send_does_not_count_against_the_limit(limited_api):
    for _ in range(5):
        limited_api.send(recipient=PHONE, sender="Nope")
    assert not SendCounter.objects.exists()


# --- Input -----------------------------------------------------------------------------


def test_unknown_fields_are_refused_by_name(api):
    response = api.send(recipient=PHONE, recipeint=PHONE)
    assert response.status_code == 400
    assert error_code(response) == "unknown_field"
    assert response.json()["error"]["fields"] == {"recipeint": ["Unknown field."]}
    assert not Verification.objects.exists()


def test_unambiguous_types_are_accepted(client_code_api):
    response = client_code_api.post("send", {"recipient": PHONE, "event": "login", "code": 123456})
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"recipient": PHONE}, "event"),
        ({"event": "login"}, "recipient"),
        ({"recipient": PHONE, "event": "login", "channel": "fax"}, "channel"),
        ({"recipient": PHONE, "event": "log in"}, "event"),
        ({"recipient": ["x"], "event": "login"}, "recipient"),
        ({"recipient": PHONE, "event": "login", "end_user_ip": "1.2.3"}, "end_user_ip"),
        ({"recipient": PHONE, "event": "login", "variables": {"a": {"b": 1}}}, "variables.a"),
        ({"recipient": PHONE, "event": "login", "idempotency_key": "k" * 129}, "idempotency_key"),
    ],
)
def test_bad_fields_are_named(api, body, field):
    response = api.post("send", body)
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert field in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ("[1, 2]", "application/json", 400, "invalid_request"),
        ("recipient=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        ("[" * 5000 + "]" * 5000, "application/json", 400, "malformed_json"),
        ('{"recipient": "' + "1" * 20000 + '"}', "application/json", 413, "payload_too_large"),
    ],
)
def test_malformed_bodies_are_refused(api, raw, content_type, status, code):
    response = api.post("send", raw=raw, content_type=content_type)
    assert response.status_code == status
    assert error_code(response) == code
    assert not Verification.objects.exists()


def test_unknown_api_path_and_method_answer_in_the_error_shape(api):
    assert error_code(api.get("nothing/here")) == "not_found"
    response = api.client.delete("/api/v1/otp/send", **api.headers)
    assert response.status_code == 405
    assert error_code(response) == "method_not_allowed"


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.dictionaries(
        st.sampled_from(
            [
                "recipient",
                "event",
                "channel",
                "code",
                "sender",
                "country",
                "variables",
                "voice_language",
                "voice_gender",
                "end_user_ip",
                "idempotency_key",
                "id",
                "x",
            ]
        ),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats(allow_nan=False)
            | st.text(max_size=40)
            | st.just(PHONE)
            | st.just("login"),
            lambda children: (
                st.lists(children, max_size=3)
                | st.dictionaries(st.text(max_size=5), children, max_size=3)
            ),
            max_leaves=5,
        ),
    ),
    endpoint=st.sampled_from(["send", "verify"]),
)
def test_fuzzed_bodies_never_cause_a_500(api, body, endpoint):
    response = api.post(endpoint, body)
    assert response.status_code < 500, (body, response.content)
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"code", "message", "fields"}


# --- Request throttles -------------------------------------------------------------------


def test_per_token_throttle_answers_429_with_retry_after(api, settings):
    settings.OTP_API_RATE_PER_TOKEN = "3/h"
    statuses = [api.status("00000000-0000-0000-0000-000000000000").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    throttled = api.status("00000000-0000-0000-0000-000000000000")
    assert error_code(throttled) == "throttled"
    assert 1 <= int(throttled["Retry-After"]) <= 3600


def test_per_address_throttle_stops_bad_tokens_too(stream, settings):
    settings.OTP_API_RATE_PER_IP = "2/m"
    # A fresh address: the counters live in the shared cache, across test runs.
    address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
    bad = OtpClient("ots_wrong", remote_addr=address)
    assert [bad.send(recipient=PHONE).status_code for _ in range(3)] == [401, 401, 429]


# --- Query budget --------------------------------------------------------------------------


@pytest.mark.parametrize("send_limit", [False, True])
def test_query_budget(account, django_assert_max_num_queries, send_limit):
    """Send <= 8 round trips, verify <= 4, transaction statements included (the test's
    SAVEPOINT/RELEASE stand for production's BEGIN/COMMIT); the delivery itself is the
    worker's. The routes are read once per process (gateways.routes caches them): the
    first send warms them."""
    _, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), send_limit_enabled=send_limit
    )
    body = json.dumps({"recipient": PHONE, "event": "login"})
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "content_type": "application/json"}
    client = OtpClient(token).client
    warm = json.dumps({"recipient": "+14155552672", "event": "login"})
    assert client.post("/api/v1/otp/send", warm, **headers).status_code == 201
    with django_assert_max_num_queries(8):
        sent = client.post("/api/v1/otp/send", body, **headers)
    assert sent.status_code == 201
    code = code_from(OutboundMessage.objects.get(recipient=PHONE).text)
    verify = json.dumps({"id": sent.json()["id"], "code": code})
    with django_assert_max_num_queries(4):
        assert client.post("/api/v1/otp/verify", verify, **headers).status_code == 200


# --- Documentation -------------------------------------------------------------------------


def test_openapi_schema_documents_every_endpoint_and_error_code(client):
    from otp.errors import ERROR_CATALOGUE

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert set(schema["paths"]) == {
        "/api/v1/otp/send",
        "/api/v1/otp/verify",
        "/api/v1/otp/{verification_id}",
        "/api/v1/otp/{verification_id}/cancel",
        "/api/v1/otp/{verification_id}/resend",
        "/api/v1/analytics",
    }
    text = json.dumps(schema)
    missing = [code for code, _, _ in ERROR_CATALOGUE if f"`{code}`" not in text]
    assert missing == []
    send = schema["paths"]["/api/v1/otp/send"]["post"]
    assert "Retry-After" in send["responses"]["429"]["headers"]
    # The guard's refusals, under each status they come with.
    assert "`destination_not_allowed`" in send["responses"]["403"]["description"]
    assert "`send_blocked`" in send["responses"]["403"]["description"]
    assert "`send_blocked`" in send["responses"]["429"]["description"]
    assert "`budget_exhausted`" in send["responses"]["429"]["description"]
    error = schema["components"]["schemas"]["ErrorBody"]["properties"]
    assert {"rule", "reason", "budget", "retry_after"} <= set(error)
    assert "Idempotent-Replayed" in send["responses"]["200"]["headers"]
    assert schema["components"]["securitySchemes"]["streamToken"]["scheme"] == "bearer"


def test_engine_refuses_overrides_out_of_range_and_an_empty_alphabet(stream):
    from otp.errors import OtpError
    from otp.services import CodeOverrides, send_otp

    for overrides in (
        CodeOverrides(length=3),
        CodeOverrides(ttl_seconds=10**7),
        CodeOverrides(max_attempts=0),
        CodeOverrides(digits=False, upper=False, lower=False, special=False),
    ):
        with pytest.raises(OtpError) as refused:
            send_otp(stream=stream, recipient=PHONE, event_key="login", overrides=overrides)
        assert refused.value.code == "invalid_request"
    assert not Verification.objects.exists()


def test_the_cached_stream_follows_every_change_at_once(stream, api):
    """The stream an API token names is cached (otp/stream_cache.py); every change made
    through the product shows on the very next call."""
    from streams import services as stream_services

    assert api.send(recipient=PHONE).status_code == 201  # now cached
    template = stream.templates.get()
    template.text = "New text: {{code}}"
    template.save()
    api.send(recipient=PHONE)
    assert outbox(PHONE)[0].text.startswith("New text: ")
    sender = stream.default_sender
    sender.value = "Renamed"
    sender.save()
    api.send(recipient=PHONE)
    assert outbox(PHONE)[0].sender == "Renamed"
    stream_services.set_stream_enabled(stream=stream, enabled=False)
    assert error_code(api.send(recipient=PHONE)) == "stream_not_active"
    stream_services.set_stream_enabled(stream=stream, enabled=True)
    assert api.send(recipient=PHONE).status_code == 201
    stream.refresh_from_db()
    stream.allowed_ips = ["203.0.113.9"]
    stream.save()
    assert error_code(api.send(recipient=PHONE)) == "ip_not_allowed"
