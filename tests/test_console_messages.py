# ruff: noqa: RUF001 - curly apostrophes are what smart encoding is tested on
"""Wizard step 3 and the stream page: message settings, variants per language side by
side with their counters and previews, the built-in texts, and the autofill limits."""

import html
import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console.previews import describe_cost
from gateways.models import Gateway, Price
from streams.models import Contact, Stream
from tests.support import factories
from tests.test_console import templates_step, wizard_url

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def stream(account) -> Stream:
    stream, _ = factories.make_stream(
        account, default_sender=factories.make_sender(account, "ShopCo"), active=False
    )
    return stream


def settings(**overrides) -> dict:
    data = {
        "message-present": "1",
        "message-brand": "ShopCo",
        "message-default_locale": "en",
        "message-smart_encoding": "on",
        "message-webotp_domain": "",
        "message-retriever_app_hash": "",
        "message-voice_repeat": "2",
        "message-voice_rate": "slow",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def step3(stream, text="Your code is {{code}}", variants=(), **setting_overrides) -> dict:
    data = templates_step(("Log-in", "login", text))
    data["templates-INITIAL_FORMS"] = "1"
    data["templates-0-id"] = str(stream.templates.get().pk)
    data["templates-0-stream"] = str(stream.pk)
    for i, (tag, variant) in enumerate(variants):
        data[f"templates-0-variant_locale_{i}"] = tag
        data[f"templates-0-variant_text_{i}"] = variant
    data.update(settings(**setting_overrides))
    return data


def test_variants_are_saved_side_by_side_with_the_settings(signed_in, stream):
    response = signed_in.post(
        wizard_url(stream, 3),
        step3(
            stream,
            variants=[("fr_ca", "Ton code : {{code}}"), ("de", "Dein Code: {{code}}"), ("", "")],
            **{"message-webotp_domain": "shop.example.com", "message-do_not_share": "on"},
        ),
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    stream.refresh_from_db()
    template = stream.templates.get()
    assert template.variants == {"fr-CA": "Ton code : {{code}}", "de": "Dein Code: {{code}}"}
    assert (stream.brand, stream.webotp_domain, stream.do_not_share) == (
        "ShopCo",
        "shop.example.com",
        True,
    )
    page = signed_in.get(wizard_url(stream, 3)).content.decode()
    # Each variant has its own counter and preview, with the autofill line.
    assert page.count('<textarea name="templates-0-variant_text_') == 2
    assert page.count("data-counter") == 3 + 2  # and the two blank rows the script clones
    assert "Ton code : 482913\nNe le partagez avec personne.\n\n@shop.example.com #482913" in (
        html.unescape(page)
    )


@pytest.mark.parametrize(
    ("variants", "field", "message"),
    [
        ([("french", "Code {{code}}")], "variant_locale_0", "BCP 47"),
        ([("fr", "Code {{code}}"), ("FR", "Code {{code}}")], "variant_locale_1", "Another"),
        ([("fr", "Pas de code")], "variant_text_0", "{{code}}"),
        ([("fr", "")], "variant_text_0", "Write the text"),
    ],
)
def test_bad_variants_are_refused_and_nothing_changes(signed_in, stream, variants, field, message):
    response = signed_in.post(wizard_url(stream, 3), step3(stream, variants=variants))
    assert response.status_code == 400
    assert message in html.unescape(response.content.decode())
    assert stream.templates.get().variants == {}


def test_webotp_domain_must_be_a_bare_host(signed_in, stream):
    data = step3(stream, **{"message-webotp_domain": "https://shop.example.com/login"})
    response = signed_in.post(wizard_url(stream, 3), data)
    assert response.status_code == 400
    assert "host name only" in response.content.decode()
    stream.refresh_from_db()
    assert stream.webotp_domain == ""


def test_sms_retriever_message_over_140_bytes_is_refused_in_the_wizard(signed_in, stream):
    retriever = {
        "message-retriever_enabled": "on",
        "message-retriever_prefix": "on",
        "message-retriever_app_hash": "FA+9qCX9VSu",
    }
    long_text = "Your ExampleApp code is {{code}}. " + "x" * 120
    response = signed_in.post(wizard_url(stream, 3), step3(stream, text=long_text, **retriever))
    assert response.status_code == 400
    assert "140" in response.content.decode()
    stream.refresh_from_db()
    assert not stream.retriever_enabled
    # The same in Unicode: 70 characters is the limit.
    unicode_text = "Ваш код {{code}}. " + "я" * 50
    response = signed_in.post(wizard_url(stream, 3), step3(stream, text=unicode_text, **retriever))
    assert response.status_code == 400
    ok = signed_in.post(
        wizard_url(stream, 3), step3(stream, text="Your code is {{code}}", **retriever)
    )
    assert ok.status_code == 302
    stream.refresh_from_db()
    assert (stream.retriever_enabled, stream.retriever_app_hash) == (True, "FA+9qCX9VSu")


def test_retriever_without_a_hash_is_refused(signed_in, stream):
    data = step3(stream, **{"message-retriever_enabled": "on"})
    response = signed_in.post(wizard_url(stream, 3), data)
    assert response.status_code == 400
    assert "11-character hash" in response.content.decode()


def test_start_from_the_builtin_texts(signed_in, stream):
    page = signed_in.get(wizard_url(stream, 3) + "?start=password_reset").content.decode()
    assert page.count('name="templates-1-variant_locale_') == 14  # every language but en
    assert "{{brand}}: your password reset code is {{code}}" in html.unescape(page)
    tags = re.findall(r'name="templates-1-variant_locale_(\d+)"[^>]*value="([^"]+)"', page)
    data = step3(stream)
    data["templates-TOTAL_FORMS"] = "2"
    data.update(
        {
            "templates-1-name": "Password reset",
            "templates-1-key": "password_reset",
            "templates-1-text": "{{brand}}: your password reset code is {{code}}.",
            "templates-1-enabled": "on",
        }
    )
    for i, tag in tags:
        data[f"templates-1-variant_locale_{i}"] = tag
        data[f"templates-1-variant_text_{i}"] = f"{tag}: {{{{code}}}}"
    assert signed_in.post(wizard_url(stream, 3), data).status_code == 302
    assert len(stream.templates.get(key="password_reset").variants) == 14


def test_posting_templates_only_keeps_the_message_settings(signed_in, stream):
    stream.webotp_domain = "keep.example.com"
    stream.save()
    data = step3(stream)
    data = {k: v for k, v in data.items() if not k.startswith("message-")}
    assert signed_in.post(wizard_url(stream, 3), data).status_code == 302
    stream.refresh_from_db()
    assert stream.webotp_domain == "keep.example.com" and stream.smart_encoding


def test_stream_page_previews_each_variant_as_sent(signed_in, account):
    stream, _ = factories.make_stream(
        account,
        default_sender=factories.make_sender(account, "Acme"),
        templates={"login": "Hi {{first_name}}, it’s {{code}}"},
        webotp_domain="acme.example",
    )
    template = stream.templates.get()
    template.variants = {"fr": "Salut {{first_name}}, c’est {{code}}"}
    template.save()
    page = html.unescape(signed_in.get(f"/streams/{stream.public_id}/").content.decode())
    assert "Hi Alex, it's 482913\n\n@acme.example #482913" in page
    assert "Salut Alex, c'est 482913\n\n@acme.example #482913" in page
    assert "smart encoding replaced 1 character (GSM-7 instead of Unicode)" in page


def test_contact_locale_from_the_form_and_the_import(signed_in, account):
    response = signed_in.post(
        "/contacts/new/", {"phone": "+14155552671", "first_name": "Ada", "locale": "fr_ca"}
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert Contact.objects.get(phone="+14155552671").locale == "fr-CA"
    bad = signed_in.post("/contacts/new/", {"phone": "+14155550123", "locale": "french"})
    assert bad.status_code == 400 and "BCP 47" in bad.content.decode()
    csv_text = "phone,first_name,locale\n+14155550124,Bo,pt-br\n+14155550125,Cy,klingon!\n"
    upload = SimpleUploadedFile("c.csv", csv_text.encode(), content_type="text/csv")
    response = signed_in.post("/contacts/import/", {"file": upload, "country": ""})
    assert response.status_code in (200, 302)
    assert Contact.objects.get(phone="+14155550124").locale == "pt-BR"
    assert not Contact.objects.filter(phone="+14155550125").exists()
    # A file without a locale column leaves the contacts' locales as they are.
    upload = SimpleUploadedFile("c.csv", b"phone,first_name\n+14155552671,Ada\n")
    signed_in.post("/contacts/import/", {"file": upload, "country": ""})
    assert Contact.objects.get(phone="+14155552671").locale == "fr-CA"


def test_variants_belong_to_their_own_template_among_many(signed_in, stream):
    data = step3(stream, variants=[("fr", "Code {{code}}")])
    forms = [("Log-in", "login", "Your code is {{code}}")] + [
        (f"Event {n}", f"event{n}", "Code {{code}}") for n in range(1, 11)
    ]
    data.update(templates_step(*forms))
    data["templates-INITIAL_FORMS"] = "1"
    data["templates-10-variant_locale_0"] = "de"
    data["templates-10-variant_text_0"] = "Dein Code {{code}}"
    assert signed_in.post(wizard_url(stream, 3), data).status_code == 302
    assert stream.templates.get(key="login").variants == {"fr": "Code {{code}}"}
    assert stream.templates.get(key="event10").variants == {"de": "Dein Code {{code}}"}
    assert stream.templates.get(key="event1").variants == {}


def test_the_editor_estimates_a_messages_cost_per_country_of_the_allowlist(signed_in, account):
    gateway = Gateway.objects.create(name="Route SMSC", kind=Gateway.Kind.NOOP)
    factories.add_route_hop(account, gateway)
    Price.objects.create(country="GB", channel="sms", gateway=gateway, amount=Decimal("0.035"))
    Price.objects.create(country="GB", channel="sms", amount=Decimal("0.05"))  # any gateway
    Price.objects.create(country="US", channel="sms", amount=Decimal("0.0079"))
    Price.objects.create(country="FR", channel="sms", amount=Decimal("0.07"))  # not allowed
    stream, _ = factories.make_stream(account, active=False, allowed_countries=["US", "GB", "DE"])
    text = "Your code is {{code}}. " + "x" * 150  # two GSM-7 segments
    stream.templates.update(text=text)
    page = signed_in.get(wizard_url(stream, 3)).content.decode()
    data = json.loads(
        re.search(r'id="counter-data" type="application/json">(.*?)</script>', page).group(1)
    )
    assert data["cost"] == {
        "currency": "EUR",
        "countries": {
            "DE": {"name": "Germany", "price": None},
            "GB": {"name": "United Kingdom", "price": 3500},  # the route's gateway's price
            "US": {"name": "United States", "price": 790},
        },
    }
    options = re.findall(r'<option value="([A-Z]{2})">([^<]+)</option>', page)
    assert options == [
        ("DE", "Germany (DE): no price"),
        ("GB", "United Kingdom (GB)"),
        ("US", "United States (US)"),
    ]
    # The first country is estimated on the page as served; the browser re-estimates.
    assert "No SMS price for Germany in the price table: no estimate." in page
    assert describe_cost(2, "US", data["cost"]) == (
        "≈ 0.0158 EUR a message to United States (2 segments at 0.0079)"
    )

    # Without an allowlist: every priced country but the blocked ones.
    open_stream, _ = factories.make_stream(account, active=False, blocked_countries=["FR"])
    page = signed_in.get(wizard_url(open_stream, 3)).content.decode()
    assert re.findall(r'<option value="([A-Z]{2})">', page) == ["GB", "US"]
    assert "≈ 0.035 EUR a message to United Kingdom (1 segment at 0.035)" in page
