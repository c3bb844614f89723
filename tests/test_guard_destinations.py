"""The destination policy through the API, tried as an attacker would: toll-fraud and
pumping destinations are refused on both channels with ``destination_not_allowed``
naming the rule, each refusal is kept as a decision, and nothing is sent."""

import pytest
from django.core.exceptions import ValidationError

from gateways.models import OutboundMessage
from otp.models import SendCounter, SendDecision, Verification
from streams import services as stream_services
from tests.support import factories
from tests.support.errors import error_code
from tests.support.otp_client import OtpClient

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"


def make_api(account, **stream_settings) -> tuple[OtpClient, object]:
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), **stream_settings
    )
    return OtpClient(token), stream


def assert_nothing_sent():
    assert not OutboundMessage.objects.exists()
    assert not Verification.objects.exists()
    assert not SendCounter.objects.exists()


# The attack list of issue 13: each went out before; each is refused now.
ATTACKS = [
    ("voice", "+979123456789", "premium_rate"),  # international premium rate
    ("voice", "+19002345678", "premium_rate"),  # US 1-900
    ("voice", "+449012345678", "premium_rate"),  # UK 090
    ("voice", "+499001234567", "premium_rate"),  # Germany 0900
    ("voice", "+33891123456", "premium_rate"),  # France 089
    ("sms", "+881612345678", "international_network"),  # Iridium satellite
    ("sms", "+870773110000", "international_network"),  # Inmarsat
    ("sms", "+8823421234", "international_network"),  # international networks
    ("sms", "+979123456789", "premium_rate"),
    ("voice", "+881612345678", "international_network"),
    ("sms", "+447012345678", "personal_number"),  # UK 070 forwarding
    ("voice", "+447640123456", "pager"),
    ("voice", "+445512345678", "uan"),
]


@pytest.mark.parametrize(("channel", "recipient", "number_type"), ATTACKS)
def test_toll_fraud_and_pumping_destinations_are_refused(account, channel, recipient, number_type):
    api, stream = make_api(account)
    response = api.send(recipient=recipient, channel=channel)
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["rule"], error["number_type"]) == (
        "destination_not_allowed",
        "number_type",
        number_type,
    )
    assert "recipient" in error["fields"]
    assert_nothing_sent()
    decision = SendDecision.objects.get()
    assert (decision.stream, decision.recipient, decision.rule, decision.code) == (
        stream,
        recipient,
        "number_type",
        "destination_not_allowed",
    )
    assert (decision.mode, decision.outcome, decision.channel) == ("enforce", "blocked", channel)
    assert decision.event_key == "login"  # the overview's event filter counts it
    assert decision.reason == error["message"]


def test_ninety_pumping_sends_from_one_token_send_nothing(account):
    api, _ = make_api(account)
    targets = ["+881612345678", "+870773110000", "+8823421234"]
    statuses = {api.send(recipient=targets[i % 3]).status_code for i in range(90)}
    assert statuses == {403}
    assert_nothing_sent()
    assert SendDecision.objects.count() == 90


def test_ordinary_numbers_still_go_out_on_both_channels(account):
    api, _ = make_api(account)
    assert api.send(recipient=PHONE).status_code == 201  # US mobile or fixed line
    assert api.send(recipient="+447400123456").status_code == 201  # UK mobile
    # A voice call may also reach a fixed line.
    assert api.send(recipient="+442079460000", channel="voice").status_code == 201
    assert not SendDecision.objects.exists()


def test_an_admin_may_allow_a_refused_number_type_for_one_stream(account):
    api, stream = make_api(account)
    assert api.send(recipient="+881612345678").status_code == 403
    stream_services.save_destinations(
        stream=stream,
        allowed_countries=[],
        blocked_countries=[],
        blocked_prefixes=[],
        allowed_number_types=["international_network"],
    )
    assert api.send(recipient="+881612345678").status_code == 201
    # Only that type: premium rate is still refused.
    assert error_code(api.send(recipient="+979123456789", channel="voice")) == (
        "destination_not_allowed"
    )


def test_a_blocked_country_is_refused_even_when_the_allowlist_has_it(account):
    api, _ = make_api(account, allowed_countries=["US", "GB"], blocked_countries=["GB"])
    response = api.send(recipient="+447400123456")
    assert response.status_code == 403
    error = response.json()["error"]
    assert (error["code"], error["rule"], error["country"]) == (
        "destination_not_allowed",
        "country_blocked",
        "GB",
    )
    assert "United Kingdom" in error["message"]
    assert_nothing_sent()
    assert SendDecision.objects.get().rule == "country_blocked"
    assert api.send(recipient=PHONE).status_code == 201


def test_a_country_outside_the_allowlist_is_refused_and_recorded(account):
    api, _ = make_api(account, allowed_countries=["US"])
    response = api.send(recipient="+33612345678")
    assert (error_code(response), response.json()["error"]["rule"]) == (
        "country_not_allowed",
        "country_not_allowed",
    )
    decision = SendDecision.objects.get()
    assert (decision.rule, decision.country, decision.recipient) == (
        "country_not_allowed",
        "FR",
        "+33612345678",
    )
    assert_nothing_sent()


def test_a_blocked_prefix_is_refused_on_both_channels(account):
    api, _ = make_api(account, blocked_prefixes=["+1415555"])
    for channel in ("sms", "voice"):
        response = api.send(recipient=PHONE, channel=channel)
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["rule"], error["prefix"]) == (
            403,
            "destination_not_allowed",
            "prefix_blocked",
            "+1415555",
        )
    assert_nothing_sent()
    assert list(SendDecision.objects.values_list("prefix", flat=True)) == ["+1415555"] * 2
    assert api.send(recipient="+14165550123").status_code == 201


def test_invalid_and_short_numbers_are_refused(account):
    api, _ = make_api(account)
    for recipient in ("+1900", "12345", "+88212"):
        assert error_code(api.send(recipient=recipient, channel="voice")) == "invalid_phone"
    assert_nothing_sent()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("blocked_countries", ["ZZ"]),
        ("blocked_prefixes", ["4490"]),
        ("blocked_prefixes", ["+44 90"]),
        ("allowed_number_types", ["mobile"]),
    ],
)
def test_bad_destination_settings_are_refused(account, field, value):
    stream, _ = factories.make_stream(account)
    settings = {
        "allowed_countries": [],
        "blocked_countries": [],
        "blocked_prefixes": [],
        "allowed_number_types": [],
        field: value,
    }
    with pytest.raises(ValidationError):
        stream_services.save_destinations(stream=stream, **settings)
    stream.refresh_from_db()
    assert getattr(stream, field) == []
