"""Octopush's documented leniency, done safely: a value of the wrong type is converted
only when one reading is possible, characters the peer says it deletes are deleted,
an unknown parameter is ignored -- and each of these is reported as a warning. A value
with two readings, or out of range, is an error naming the parameter."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


class Refused(ValueError):
    """A parameter that cannot be read without guessing."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name
        self.message = message


@dataclass
class Reader:
    """Reads parameters out of a request body, collecting warnings."""

    params: dict
    warnings: list[str] = field(default_factory=list)

    def warn(self, name: str, message: str) -> None:
        self.warnings.append(f"{name}: {message}")

    def present(self, name: str) -> bool:
        """Whether ``name`` was given: absent, ``null`` and ``""`` all mean "not given"
        (the peer's default applies)."""
        return self.params.get(name) not in (None, "")

    def text(self, name: str) -> str:
        value = self.params.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, bool | dict | list):
            raise Refused(name, f"{name} must be a string.")
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            text = str(int(value))
            self.warn(name, f"converted the number {value!r} to the string {text!r}.")
            return text
        raise Refused(name, f"{name} must be a string.")

    def integer(
        self, name: str, *, minimum: int, maximum: int, string_ok: bool = False
    ) -> int | None:
        """An integer in range; ``string_ok`` when the peer documents the parameter as
        a string of digits (then reading one is no conversion to report)."""
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise Refused(name, f"{name} must be an integer, not a boolean.")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            number = int(value)
            self.warn(name, f"converted {value!r} to the integer {number}.")
        elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            number = int(value.strip())
            if not string_ok:
                self.warn(name, f"converted the string {value!r} to the integer {number}.")
        else:
            raise Refused(name, f"{name} must be an integer.")
        if not minimum <= number <= maximum:
            raise Refused(name, f"{name} must be from {minimum} to {maximum}; got {number}.")
        return number

    def boolean(self, name: str) -> bool | None:
        value = self.params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        readings = {"true": True, "false": False, "1": True, "0": False}
        key = str(value).strip().lower() if isinstance(value, str | int) else None
        if key in readings:
            self.warn(name, f"converted {value!r} to the boolean {str(readings[key]).lower()}.")
            return readings[key]
        raise Refused(name, f"{name} must be true or false.")

    def choice(self, name: str, choices: dict[str, str]) -> str | None:
        """One of ``choices`` (accepted spellings -> value), matched without regard to
        case (a case fix is reported)."""
        value = self.text(name)
        if not value:
            return None
        if value in choices:
            return choices[value]
        folded = {k.lower(): v for k, v in choices.items()}
        if value.lower() in folded:
            chosen = folded[value.lower()]
            self.warn(name, f"read {value!r} as {chosen!r}.")
            return chosen
        raise Refused(name, f"{name} must be one of: {', '.join(dict.fromkeys(choices))}.")

    def ignore_unknown(self, known: set[str]) -> None:
        for name in sorted(set(self.params) - known, key=str):
            self.warn(str(name), "unknown parameter, ignored.")
