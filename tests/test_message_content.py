# ruff: noqa: RUF001 - the look-alike characters are what these tests are about
"""What the recipient gets, through the API: the variant of its language (request,
contact, country, stream default), the brand and the expiry, the do-not-share line,
the autofill formats byte for byte, smart encoding, and a voice call that repeats the
code with pauses."""

import re

import pytest

from gateways.models import Gateway
from gateways.sms import sms_parts
from streams.models import Contact
from tests.support import factories
from tests.support.errors import error_code
from tests.support.otp_client import OtpClient, outbox

pytestmark = pytest.mark.usefixtures("eager_tasks")

US_PHONE = "+14155552671"
FR_PHONE = "+33612345678"
CA_PHONE = "+15145550123"


def make_api(account, *, templates=None, variants=None, **stream_settings) -> OtpClient:
    stream, _ = factories.make_stream(
        account,
        default_sender=factories.make_sender(account, "Acme"),
        templates=templates or {"login": "Your code is {{code}}"},
        active=False,
        **stream_settings,
    )
    if variants:
        template = stream.templates.get()
        template.variants = variants
        template.full_clean()
        template.save()
    from streams import services

    return OtpClient(services.activate_stream(stream=stream))


VARIANTS = {"fr": "Votre code est {{code}}", "fr-CA": "Ton code est {{code}}"}


@pytest.mark.parametrize(
    ("locale", "used", "starts"),
    [
        ("fr-CA", "fr-CA", "Ton code"),
        ("fr-BE", "fr", "Votre code"),  # fr-BE → fr
        ("fr", "fr", "Votre code"),
        ("de-AT", "en", "Your code"),  # de-AT → de → the default
        ("FR_ca", "fr-CA", "Ton code"),  # read in canonical case
    ],
)
def test_request_locale_picks_the_variant_through_the_fallback_chain(account, locale, used, starts):
    api = make_api(account, variants=VARIANTS)
    sent = api.send(recipient=US_PHONE, locale=locale)
    assert sent.status_code == 201, sent.content
    assert sent.json()["locale_used"] == used
    assert outbox(US_PHONE)[0].text.startswith(starts)
    assert api.status(sent.json()["id"]).json()["locale_used"] == used


def test_contact_locale_then_country_then_stream_default(account):
    api = make_api(account, variants=VARIANTS)
    Contact.objects.create(account=account, phone=US_PHONE, locale="fr-CA")
    assert api.send(recipient=US_PHONE).json()["locale_used"] == "fr-CA"
    # No contact: a French number is read in French (FR → fr-FR → fr).
    assert api.send(recipient=FR_PHONE).json()["locale_used"] == "fr"
    # No contact, a country mapped to a language without a variant: the default.
    assert api.send(recipient=CA_PHONE).json()["locale_used"] == "en"
    # The request's locale wins over the contact's.
    assert api.send(recipient=US_PHONE, locale="en").json()["locale_used"] == "en"


def test_a_bad_locale_is_refused_and_sends_nothing(account):
    api = make_api(account, variants=VARIANTS)
    response = api.send(recipient=US_PHONE, locale="not a locale")
    assert response.status_code == 400
    assert error_code(response) == "invalid_request"
    assert "locale" in response.json()["error"]["fields"]
    assert outbox() == []


def test_brand_and_localised_expiry_and_do_not_share_line(account):
    api = make_api(
        account,
        templates={"login": "{{brand}}: code {{code}}, valid {{expires_in}}."},
        variants={"fr": "{{brand}} : code {{code}}, valable {{expires_in}}."},
        brand="Acme Bank",
        code_ttl_seconds=600,
        do_not_share=True,
    )
    api.send(recipient=US_PHONE)
    text = outbox(US_PHONE)[0].text
    assert re.fullmatch(
        r"Acme Bank: code \d{6}, valid 10 minutes\.\nDo not share this code with anyone\.", text
    ), text
    api.send(recipient=FR_PHONE)
    text = outbox(FR_PHONE)[0].text
    assert re.fullmatch(
        r"Acme Bank : code \d{6}, valable 10 minutes\.\nNe le partagez avec personne\.", text
    ), text


def test_brand_is_the_account_name_when_the_stream_has_none(account):
    api = make_api(account, templates={"login": "{{brand}} {{code}}"})
    api.send(recipient=US_PHONE)
    assert outbox(US_PHONE)[0].text.startswith(account.name + " ")


def test_platform_placeholders_cannot_be_given_as_variables(account):
    api = make_api(account, templates={"login": "{{brand}} {{code}}"})
    response = api.send(recipient=US_PHONE, variables={"brand": "Evil"})
    assert response.status_code == 400
    assert "variables.brand" in response.json()["error"]["fields"]


# --- Autofill formats: golden texts ---------------------------------------------------


def test_webotp_message_matches_the_wicg_format_byte_for_byte(account):
    # https://wicg.github.io/sms-one-time-codes/: the last line is "@<host> #<code>".
    api = make_api(
        account,
        templates={"login": "Your verification code is {{code}}."},
        webotp_domain="example.com",
    )
    api.send(recipient=US_PHONE)
    text = outbox(US_PHONE)[0].text
    code = re.search(r"is (\d{6})\.", text).group(1)
    assert text == f"Your verification code is {code}.\n\n@example.com #{code}"
    assert text.splitlines()[-1] == f"@example.com #{code}"


def test_sms_retriever_message_matches_googles_format_byte_for_byte(account):
    # https://developers.google.com/identity/sms-retriever/verify: the text, then the
    # app's 11-character hash; at most 140 bytes.
    api = make_api(
        account,
        templates={"login": "Your ExampleApp code is: {{code}}"},
        retriever_enabled=True,
        retriever_app_hash="FA+9qCX9VSu",
    )
    api.send(recipient=US_PHONE)
    message = outbox(US_PHONE)[0]
    code = message.text.split(": ")[1].split("\n")[0]
    assert message.text == f"Your ExampleApp code is: {code}\n\nFA+9qCX9VSu"
    assert sms_parts(message.text).payload_bytes <= 140


def test_sms_retriever_prefix_and_webotp_together_keep_webotp_last(account):
    api = make_api(
        account,
        templates={"login": "Your ExampleApp code is: {{code}}"},
        retriever_enabled=True,
        retriever_prefix=True,
        retriever_app_hash="FA+9qCX9VSu",
        webotp_domain="login.example.com",
    )
    api.send(recipient=US_PHONE)
    text = outbox(US_PHONE)[0].text
    code = re.search(r": (\d{6})", text).group(1)
    assert text == (
        f"<#> Your ExampleApp code is: {code}\n\nFA+9qCX9VSu\n\n@login.example.com #{code}"
    )


# --- Smart encoding -------------------------------------------------------------------


def test_smart_encoding_sends_a_curly_quote_message_as_one_gsm7_segment(account):
    text = "It’s your code: {{code}} — don’t share it… “Acme”"
    api = make_api(account, templates={"login": text})
    api.send(recipient=US_PHONE)
    message = outbox(US_PHONE)[0]
    assert (message.encoding, message.segments) == ("gsm7", 1)
    assert "It's your code: " in message.text and '- don\'t share it... "Acme"' in message.text


def test_without_smart_encoding_the_curly_quote_message_is_unicode(account):
    api = make_api(account, templates={"login": "It’s your code: {{code}}"}, smart_encoding=False)
    api.send(recipient=US_PHONE)
    message = outbox(US_PHONE)[0]
    assert message.encoding == "ucs2" and "It’s" in message.text


def test_smart_encoding_never_alters_characters_without_a_gsm_equivalent(account):
    api = make_api(account, templates={"login": "Код {{code}} — ç 🔐"})
    api.send(recipient=US_PHONE)
    message = outbox(US_PHONE)[0]
    assert message.encoding == "ucs2"
    assert message.text.startswith("Код ") and message.text.endswith(" - ç 🔐")


# --- Voice ----------------------------------------------------------------------------


def test_voice_call_has_an_intro_in_its_language_and_reads_the_code_twice(account):
    api = make_api(account, variants={"fr": "Votre code est {{code}}"})
    sent = api.send(recipient=US_PHONE, channel="voice", locale="fr")
    assert sent.status_code == 201, sent.content
    message = outbox(US_PHONE)[0]
    assert message.voice_language == "fr"
    assert message.text.startswith("Bonjour. Voici votre code de vérification.")
    spoken = re.findall(r"Votre code est ((?:\d, )+\d)", message.text)
    assert len(spoken) == 2 and spoken[0] == spoken[1]
    assert message.voice["repeat"] == 2 and message.voice["rate"] == "slow"
    # The code is only in the message's text (encrypted, masked later), not in the script.
    assert "code" not in message.voice and spoken[0].replace(", ", "") not in str(message.voice)


def test_voice_repeat_is_configurable(account):
    api = make_api(account, voice_repeat=3)
    api.send(recipient=US_PHONE, channel="voice")
    assert len(re.findall(r"Your code is (?:\d, )+\d", outbox(US_PHONE)[0].text)) == 3


def test_a_voice_language_no_gateway_speaks_is_refused(account):
    gateway = Gateway.objects.create(
        name="tw",
        kind="twilio",
        supports_voice=True,
        settings={"account_sid": "AC1"},
        credentials={"auth_token": "x"},
    )
    factories.add_route_hop(account, gateway)
    api = make_api(account)
    response = api.send(recipient=US_PHONE, channel="voice", voice_language="xh-ZA")
    assert response.status_code == 422
    assert error_code(response) == "voice_language_unsupported"
    assert "twilio speaks" in response.json()["error"]["message"]
    assert outbox() == []


def test_an_empty_message_is_refused_and_nothing_is_written(account):
    from otp.errors import OtpError
    from otp.models import Verification
    from otp.services import CodeOverrides, send_otp

    stream, _ = factories.make_stream(account, default_sender=factories.make_sender(account))
    with pytest.raises(OtpError) as refused:
        send_otp(
            stream=stream, recipient=US_PHONE, event_key="login", overrides=CodeOverrides(text="")
        )
    assert (refused.value.code, refused.value.status) == ("empty_message", 400)
    assert not Verification.objects.exists() and outbox() == []


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_once_the_code_stops_counting_no_copy_of_it_is_left(account, channel):
    from datetime import timedelta

    from django.utils import timezone

    from gateways import services
    from gateways.models import OutboundMessage

    api = make_api(
        account,
        templates={"login": "Your code is {{code}}."},
        webotp_domain="example.com",
        retriever_enabled=True,
        retriever_app_hash="FA+9qCX9VSu",
    )
    api.send(recipient=US_PHONE, channel=channel)
    message = outbox(US_PHONE)[0]
    code = re.search(r"code is ((?:\w, )+\w|\w+)", message.text).group(1).replace(", ", "")
    OutboundMessage.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.forget_expired_codes() == 1
    message.refresh_from_db()
    assert code not in message.text.replace(", ", "") and code not in str(message.voice)
    if channel == "sms":  # the WebOTP line is masked too, and the text keeps its shape
        assert message.text == "Your code is ******.\n\nFA+9qCX9VSu\n\n@example.com #******"
    else:
        assert "Your code is *, *, *, *, *, *." in message.text
