"""Field-level rules shared by the models, the wizard forms and the API."""

import ipaddress
import re

from django.core.exceptions import ValidationError

from . import locales, phones

EVENT_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EVENT_KEY_HELP = "1 to 64 characters: letters, digits, underscore (_), hyphen (-) and dot (.)."
ALNUM_SENDER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{1,9}[A-Za-z0-9]$")
SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")


def parse_network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IPv4/IPv6 address (a /32 or /128) or a CIDR range with no host bits set."""
    value = value.strip()
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        if "/" in value:
            try:
                loose = ipaddress.ip_network(value, strict=False)
            except ValueError:
                pass
            else:
                raise ValidationError(
                    f"{value} has host bits set; did you mean {loose}?", code="invalid_ip"
                ) from exc
        raise ValidationError(
            f"{value!r} is not an IPv4/IPv6 address or CIDR range.", code="invalid_ip"
        ) from exc


def validate_ip_list(values: list) -> None:
    if not isinstance(values, list):
        raise ValidationError("Expected a list of addresses.", code="invalid_ip")
    for value in values:
        parse_network(str(value))


def validate_country_list(values: list) -> None:
    if not isinstance(values, list):
        raise ValidationError("Expected a list of country codes.", code="invalid_country")
    unknown = [v for v in values if not phones.is_region(v)]
    if unknown:
        raise ValidationError(
            f"Unknown country code(s): {', '.join(map(str, unknown))}. "
            "Use ISO 3166 alpha-2 codes such as US or DE.",
            code="invalid_country",
        )


NUMBER_PREFIX_RE = re.compile(r"^\+[1-9][0-9]{0,14}$")


def validate_prefix_list(values: list) -> None:
    """Number prefixes in international form: ``+`` and 1 to 15 digits (+4490, +1900)."""
    if not isinstance(values, list):
        raise ValidationError("Expected a list of number prefixes.", code="invalid_prefix")
    bad = [str(v) for v in values if not isinstance(v, str) or not NUMBER_PREFIX_RE.match(v)]
    if bad:
        raise ValidationError(
            f"Not a number prefix: {', '.join(bad)}. Write + and the digits, e.g. +4490.",
            code="invalid_prefix",
        )


def validate_number_kind_list(values: list) -> None:
    if not isinstance(values, list):
        raise ValidationError("Expected a list of number types.", code="invalid_number_type")
    known = {k.value for k in phones.NumberKind}
    unknown = [str(v) for v in values if v not in known]
    if unknown:
        raise ValidationError(
            f"Unknown number type(s): {', '.join(unknown)}.", code="invalid_number_type"
        )


def validate_safe_list(values: list) -> None:
    """Numbers and prefixes in E.164 form (``+4479``, ``+14155552671``) the velocity
    guard never judges."""
    if not isinstance(values, list):
        raise ValidationError("Expected a list of numbers and prefixes.", code="invalid_safe")
    bad = [v for v in values if not isinstance(v, str) or not NUMBER_PREFIX_RE.match(v)]
    if bad:
        raise ValidationError(
            f"Not a number or prefix in E.164 form: {', '.join(map(str, bad))} "
            "(write + and the digits, such as +4479 or +14155552671).",
            code="invalid_safe",
        )


def validate_event_key(value: str) -> None:
    if not EVENT_KEY_RE.match(value or ""):
        raise ValidationError(f"Invalid event key. {EVENT_KEY_HELP}", code="invalid_event_key")


def normalize_phone(value: str, region: str | None = None) -> str:
    """E.164 form of ``value`` (international, or national with ``region``)."""
    try:
        return phones.parse_phone(value, region).e164
    except phones.NotAPhoneNumber as exc:
        raise ValidationError(f"{value!r} is not a phone number.", code="invalid_phone") from exc
    except phones.InvalidPhoneNumber as exc:
        raise ValidationError(
            f"{value!r} is not a valid phone number.", code="invalid_phone"
        ) from exc


def validate_e164(value: str) -> None:
    if not value.startswith("+") or normalize_phone(value) != value:
        raise ValidationError(
            f"{value!r} is not a phone number in E.164 form (+14155552671).",
            code="invalid_phone",
        )


def validate_locale(value: str) -> None:
    if locales.normalize_locale_or_none(value) != value:
        raise ValidationError(locales.LOCALE_HELP, code="invalid_locale")


# A host name as WebOTP's last line names it: lower-case ASCII labels (IDNs in their
# xn-- form), at least two, no scheme, port, path or address.
WEBOTP_DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)


def validate_webotp_domain(value: str) -> None:
    if value and not WEBOTP_DOMAIN_RE.match(value):
        raise ValidationError(
            "Enter the site's host name only, in lower case (login.example.com): "
            "no https://, port or path.",
            code="invalid_domain",
        )


# Google's app hash: the first 11 characters of a base64 SHA-256.
APP_HASH_RE = re.compile(r"^[A-Za-z0-9+/]{11}$")


def validate_app_hash(value: str) -> None:
    if value and not APP_HASH_RE.match(value):
        raise ValidationError(
            "The app hash has exactly 11 characters: letters, digits, + and /.",
            code="invalid_app_hash",
        )


# What a test number's message does instead of reaching a gateway.
TEST_OUTCOMES = ("delivered", "undelivered", "submit_failure", "never_delivered")
TEST_CODE_RE = re.compile(r"^[0-9A-Za-z]{4,32}$")


def validate_test_numbers(value) -> None:
    """A list of {"number": E.164, "code": 4-32 letters or digits, "outcome": one of
    TEST_OUTCOMES}, each number once."""
    if not isinstance(value, list):
        raise ValidationError("A list of test numbers.")
    seen = set()
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"number", "code", "outcome"}:
            raise ValidationError("Each test number has a number, a code and an outcome.")
        validate_e164(entry["number"])
        if not TEST_CODE_RE.match(str(entry["code"])):
            raise ValidationError(f"{entry['number']}: the code is 4 to 32 letters or digits.")
        if entry["outcome"] not in TEST_OUTCOMES:
            raise ValidationError(
                f"{entry['number']}: the outcome is one of {', '.join(TEST_OUTCOMES)}."
            )
        if entry["number"] in seen:
            raise ValidationError(f"{entry['number']} is listed twice.")
        seen.add(entry["number"])
