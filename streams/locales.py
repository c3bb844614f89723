"""Locales of messages: BCP 47 tags, the fallback chain and the country mapping.

A send's locale is the request's ``locale``, else the contact's, else the one
:data:`COUNTRY_LOCALES` gives the recipient's country, else the stream's default. An
event template's variants are looked up along the chain ``fr-CA → fr``; when none
matches, the template's default text (in the stream's default locale) is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# language[-Script][-REGION]: the subset of BCP 47 that message variants need
# (en, fr-CA, pt-BR, zh-Hant, zh-Hant-TW, es-419).
LOCALE_RE = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")
LOCALE_HELP = "A BCP 47 language tag: a language, optionally a script and a region (fr, fr-CA)."

# The locale of a recipient's country when neither the request nor the contact names
# one (the country's most used language for SMS). Documented in docs/api.md.
COUNTRY_LOCALES: dict[str, str] = {
    "AE": "ar", "AR": "es-AR", "AT": "de-AT", "AU": "en-AU", "BE": "fr-BE", "BO": "es",
    "BR": "pt-BR", "CA": "en-CA", "CH": "de-CH", "CL": "es-CL", "CN": "zh-CN", "CO": "es-CO",
    "CR": "es", "CZ": "cs", "DE": "de-DE", "DK": "da", "DO": "es", "DZ": "ar", "EC": "es",
    "EG": "ar", "ES": "es-ES", "FI": "fi", "FR": "fr-FR", "GB": "en-GB", "GR": "el",
    "GT": "es", "HK": "zh-HK", "HU": "hu", "ID": "id", "IE": "en-IE", "IN": "en-IN",
    "IQ": "ar", "IT": "it-IT", "JO": "ar", "JP": "ja", "KR": "ko", "KW": "ar", "KZ": "ru",
    "LB": "ar", "LU": "fr-LU", "MA": "ar", "MX": "es-MX", "NL": "nl-NL", "NO": "nb",
    "NZ": "en-NZ", "OM": "ar", "PE": "es-PE", "PL": "pl", "PT": "pt-PT", "PY": "es",
    "QA": "ar", "RO": "ro", "RU": "ru", "SA": "ar", "SE": "sv", "SN": "fr-SN", "TN": "ar",
    "TR": "tr", "TW": "zh-TW", "UA": "uk", "US": "en-US", "UY": "es", "VE": "es-VE",
    "ZA": "en-ZA",
}  # fmt: skip


class InvalidLocale(ValueError):
    """Not a BCP 47 language tag this product reads."""


def normalize_locale(tag: str) -> str:
    """``tag`` in its canonical case (``fr-CA``, ``zh-Hant-TW``); ``_`` read as ``-``."""
    match = LOCALE_RE.match((tag or "").strip().replace("_", "-"))
    if not match:
        raise InvalidLocale(tag)
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def normalize_locale_or_none(tag: str) -> str | None:
    try:
        return normalize_locale(tag)
    except InvalidLocale:
        return None


def fallback_chain(tag: str) -> list[str]:
    """The tags tried for ``tag``, most specific first: ``zh-Hant-TW → zh-Hant → zh``."""
    parts = tag.split("-")
    return ["-".join(parts[:n]) for n in range(len(parts), 0, -1)]


def language_of(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def resolve_variant(variants: Mapping[str, str], tag: str) -> str | None:
    """The key of ``variants`` that ``tag`` falls back to, or ``None`` (the default)."""
    for candidate in fallback_chain(tag):
        if candidate in variants:
            return candidate
    return None


def locale_for_country(region: str) -> str:
    return COUNTRY_LOCALES.get(region, "")
