"""Placeholders in event template texts: ``{{code}}``, ``{{first_name}}``, ...

The OTP code placeholder is required in every template; any other name must be a
contact field (built-in or one of the account's custom fields). Rendering fills
them from the code, the contact and the request's variables.
"""

import re
from collections.abc import Iterable, Mapping

PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
CODE = "code"
BRAND = "brand"
EXPIRES_IN = "expires_in"
CONTACT_FIELDS = ("first_name", "last_name")
# Filled by the platform, never by a contact or a request's variables.
PLATFORM = (CODE, BRAND, EXPIRES_IN)
BUILT_IN = (*PLATFORM, *CONTACT_FIELDS)
# A name for a custom contact field, also usable as a placeholder.
FIELD_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class MissingVariable(KeyError):
    """A placeholder had no value: not in the contact nor in the request."""

    def __init__(self, names: list[str]):
        super().__init__(names)
        self.names = names


def placeholder(name: str) -> str:
    return "{{" + name + "}}"


def placeholders_in(text: str) -> list[str]:
    """Names used in ``text``, in order of first appearance."""
    return list(dict.fromkeys(PLACEHOLDER_RE.findall(text)))


def template_text_errors(text: str, known: Iterable[str]) -> list[str]:
    """Human-readable problems with a template text; empty when it is valid."""
    names = placeholders_in(text)
    errors = []
    if CODE not in names:
        errors.append(f"The text must contain the OTP code placeholder {placeholder(CODE)}.")
    allowed = {*BUILT_IN, *known}
    unknown = [n for n in names if n not in allowed]
    if unknown:
        errors.append(
            "Unknown placeholder"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(placeholder(n) for n in unknown)
            + ". Use the OTP code, {{brand}}, {{expires_in}} or one of the contact fields."
        )
    return errors


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill every placeholder from ``values``; raise :class:`MissingVariable` naming all
    that are absent or empty (a message must never go out with a blank in it)."""
    missing = [n for n in placeholders_in(text) if not str(values.get(n, "") or "")]
    if missing:
        raise MissingVariable(missing)
    return PLACEHOLDER_RE.sub(lambda m: str(values[m.group(1)]), text)
