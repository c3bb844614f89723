"""Phone numbers, read one way everywhere: parsed (international, or national with a
region), validated (possible and assigned), and given in E.164 with their region and
whether they can receive SMS. The API's recipients, the contacts and the compatibility
APIs all read numbers here; each caller maps the refusals to its own error shape."""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache

import phonenumbers
from phonenumbers.geodata.locale import LOCALE_DATA

# Number types that can receive SMS (where a plan does not tell mobile from fixed line,
# FIXED_LINE_OR_MOBILE: refusing those would refuse real mobiles, e.g. in the US).
SMS_NUMBER_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


# The region of non-geographic numbers: satellite (+881, +870), international networks
# (+882, +883), international premium rate (+979), UIFN (+800) ...
NON_GEOGRAPHIC = "001"


class NumberKind(StrEnum):
    """The kinds of number an OTP should not go to unless a stream allows them: they
    cannot receive a code for a person, or they pay whoever owns them (toll fraud, SMS
    pumping)."""

    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    UAN = "uan"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    INTERNATIONAL_NETWORK = "international_network"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    NumberKind.PREMIUM_RATE: "Premium rate (+1 900, +44 9, +49 900, +33 89, +979 ...)",
    NumberKind.SHARED_COST: "Shared cost",
    NumberKind.UAN: "Universal access numbers (UAN)",
    NumberKind.PERSONAL_NUMBER: "Personal numbers (forwarding, e.g. +44 70)",
    NumberKind.PAGER: "Pagers",
    NumberKind.INTERNATIONAL_NETWORK: "Satellite and international networks (+870, +881-883)",
}
_KIND_OF_TYPE = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: NumberKind.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST: NumberKind.SHARED_COST,
    phonenumbers.PhoneNumberType.UAN: NumberKind.UAN,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: NumberKind.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER: NumberKind.PAGER,
}


class PhoneNumberError(ValueError):
    """``value`` cannot be a recipient."""


class NotAPhoneNumber(PhoneNumberError):
    """Not shaped like a phone number at all (or national form without a region)."""


class InvalidPhoneNumber(PhoneNumberError):
    """Shaped like one, but not possible or not assigned."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    region: str  # ISO 3166 alpha-2; "001" for non-geographic numbers (+800 ...)
    country_code: int
    national_number: str
    number_type: int  # phonenumbers.PhoneNumberType

    @property
    def can_receive_sms(self) -> bool:
        return self.number_type in SMS_NUMBER_TYPES

    @property
    def risky_kind(self) -> NumberKind | None:
        """The :class:`NumberKind` of a number OTPs avoid by default, or ``None`` for an
        ordinary one (mobile, fixed line, toll free, VoIP). A non-geographic number is an
        international network whatever its type (+979 is both: premium rate wins)."""
        kind = _KIND_OF_TYPE.get(self.number_type)
        if kind is None and self.region == NON_GEOGRAPHIC:
            return NumberKind.INTERNATIONAL_NETWORK
        return kind


def parse_phone(value: str, region: str | None = None) -> PhoneNumber:
    """``value`` read as a phone number, in international form or national form with
    ``region``; raises :class:`NotAPhoneNumber` or :class:`InvalidPhoneNumber`."""
    try:
        number = phonenumbers.parse(value, region.upper() if region else None)
    except phonenumbers.NumberParseException as exc:
        raise NotAPhoneNumber(value) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(value)
    return PhoneNumber(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        region=phonenumbers.region_code_for_number(number),
        country_code=number.country_code,
        national_number=str(number.national_number),
        number_type=phonenumbers.number_type(number),
    )


def region_of(e164: str) -> str:
    """The region of a number already in E.164 form ("" when it has none)."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
    except phonenumbers.NumberParseException:
        return ""


def is_calling_code(code: int) -> bool:
    """Whether ``code`` is a country calling code (1, 44, 49, ...)."""
    return bool(phonenumbers.region_codes_for_country_code(code))


def is_region(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 alpha-2 region phone numbers are known for."""
    return code in phonenumbers.SUPPORTED_REGIONS


# Regions phone numbers know that its name data leaves out.
_MISSING_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


@cache
def country_name(region: str) -> str:
    """The English name of an ISO 3166 alpha-2 region ("GB": "United Kingdom"), from
    the names phonenumbers ships; the code itself when it has none."""
    names = LOCALE_DATA.get(region, {})
    name = names.get("en", "")
    while name.startswith("*"):  # "*aa": the same as that language's name
        name = names.get(name[1:], "")
    return name or _MISSING_NAMES.get(region, region)


@cache
def countries() -> list[tuple[str, str, int]]:
    """Every region phone numbers are known for, as (code, name, calling code), by name."""
    return sorted(
        (
            (region, country_name(region), phonenumbers.country_code_for_region(region))
            for region in phonenumbers.SUPPORTED_REGIONS
        ),
        key=lambda row: row[1],
    )
