"""The built-in texts and the localised words: every language has the four events,
each with the code placeholder, in one segment of its script's encoding."""

import pytest

from gateways.sms import smart_encode, sms_parts
from streams import locales, placeholders, wording

SAMPLE = {"code": "482913", "brand": "AcmeExample", "expires_in": None}  # 11-char brand


def test_at_least_twelve_languages_with_every_event():
    assert len(wording.LANGUAGES) >= 12
    for language in wording.LANGUAGES.values():
        assert set(language.texts) == set(wording.EVENTS), language.code


@pytest.mark.parametrize(
    ("code", "event"),
    [(code, event) for code in wording.LANGUAGES for event in wording.EVENTS],
)
def test_builtin_text_has_the_code_and_fits_one_segment_of_its_encoding(code, event):
    language = wording.LANGUAGES[code]
    text = language.texts[event]
    assert placeholders.template_text_errors(text, []) == []
    rendered = placeholders.render(text, {**SAMPLE, "expires_in": wording.expires_in(600, code)})
    parts = sms_parts(smart_encode(rendered))
    assert parts.encoding == language.encoding, rendered
    assert parts.segments == 1, (rendered, parts)


@pytest.mark.parametrize(
    ("seconds", "tag", "said"),
    [
        (300, "en", "5 minutes"),
        (60, "en-GB", "1 minute"),
        (3600, "en", "1 hour"),
        (90, "en", "90 seconds"),
        (300, "fr-CA", "5 minutes"),
        (300, "de", "5 Minuten"),
        (60, "de", "1 Minute"),
        (120, "ru", "2 минуты"),
        (300, "ru", "5 минут"),
        (1260, "ru", "21 минуту"),
        (1320, "pl", "22 minuty"),
        (1260, "pl", "21 minut"),
        (60, "pl", "1 minutę"),
        (120, "ar", "دقيقتين"),
        (300, "ar", "5 دقائق"),
        (300, "ja", "5分"),
        (300, "tr", "5 dakika"),
        (300, "xx", "5 minutes"),  # a language without words: English
    ],
)
def test_expires_in_is_localised(seconds, tag, said):
    assert wording.expires_in(seconds, tag) == said


@pytest.mark.parametrize(
    ("tag", "chain"),
    [
        ("fr-CA", ["fr-CA", "fr"]),
        ("zh-Hant-TW", ["zh-Hant-TW", "zh-Hant", "zh"]),
        ("en", ["en"]),
    ],
)
def test_fallback_chain(tag, chain):
    assert locales.fallback_chain(tag) == chain


@pytest.mark.parametrize("bad", ["", "french", "fr-", "fr_CA_x", "12", "fr-CA-xyz1"])
def test_bad_locales_are_refused(bad):
    assert locales.normalize_locale_or_none(bad) is None


def test_country_mapping_names_valid_locales():
    for region, tag in locales.COUNTRY_LOCALES.items():
        assert locales.normalize_locale(tag) == tag, region
