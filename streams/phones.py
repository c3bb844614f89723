"""Phone numbers, read one way everywhere: parsed (international, or national with a
region), validated (possible and assigned), and given in E.164 with their region and
whether they can receive SMS. The API's recipients, the contacts and the compatibility
APIs all read numbers here; each caller maps the refusals to its own error shape."""

from dataclasses import dataclass

import phonenumbers

# Number types that can receive SMS (where a plan does not tell mobile from fixed line,
# FIXED_LINE_OR_MOBILE: refusing those would refuse real mobiles, e.g. in the US).
SMS_NUMBER_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


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


def is_calling_code(code: int) -> bool:
    """Whether ``code`` is a country calling code (1, 44, 49, ...)."""
    return bool(phonenumbers.region_codes_for_country_code(code))


def is_region(code: str) -> bool:
    """Whether ``code`` is an ISO 3166 alpha-2 region phone numbers are known for."""
    return code in phonenumbers.SUPPORTED_REGIONS
