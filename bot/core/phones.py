"""Phone numbers: parsed and checked with phonenumbers, kept in E.164 with `+`."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

EXAMPLE_NUMBER = "+573001234567"

_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "its country code does not exist",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits for its country",
}


class InvalidNumber(ValueError):
    """A recipient number that WhatsApp could not deliver to."""

    def __init__(self, raw: str, why: str) -> None:
        self.raw = raw
        self.why = why
        super().__init__(
            f"`{raw}` is not a valid phone number: {why}. "
            f"Write it in international format with the country code, e.g. `{EXAMPLE_NUMBER}`."
        )


def looks_like_number(text: str) -> bool:
    """True when the text is meant as a number rather than a contact name."""
    stripped = text.strip().lstrip("+")
    return bool(stripped) and all(ch.isdigit() or ch in " -().\u00a0" for ch in stripped)


def normalize(raw: str) -> str:
    """Return the number in E.164 (`+573001234567`), or raise InvalidNumber."""
    text = raw.strip()
    if not looks_like_number(text):
        raise InvalidNumber(raw, "only digits, with an optional leading `+`, are allowed")
    if not text.startswith("+"):
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except NumberParseException:
        raise InvalidNumber(raw, "it could not be read as a number") from None
    possible = phonenumbers.is_possible_number_with_reason(parsed)
    if possible != ValidationResult.IS_POSSIBLE:
        raise InvalidNumber(raw, _POSSIBLE_REASONS.get(possible, "it is not a possible number"))
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumber(raw, "no such number exists in its country's numbering plan")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


MASK = "•••"


def mask(number: str) -> str:
    """A number no longer whole, as a forgotten customer's records keep it: the country code,
    the first 3 and the last 4 digits (`+573001234567` → `+57300•••4567`); a shorter number
    keeps fewer, so that at least 3 digits are always hidden."""
    digits = number.strip().lstrip("+")
    try:
        parsed = phonenumbers.parse("+" + digits, None)
        country = str(parsed.country_code)
        national = phonenumbers.national_significant_number(parsed)
    except NumberParseException:
        country, national = "", digits
    if not national or not (country + national).isdigit():
        country, national = "", digits
    first = min(3, max(0, len(national) - 7))
    last = min(4, max(0, len(national) - first - 3))
    tail = national[len(national) - last :] if last else ""
    return f"+{country}{national[:first]}{MASK}{tail}"


def is_masked(text: str) -> bool:
    """Whether a stored number is one `mask` made."""
    return MASK in text


def is_sender_number(text: str) -> bool:
    """A WhatsApp Business sender number as the provider wants it: 8 to 15 digits, no `+`."""
    return text.isascii() and text.isdigit() and 8 <= len(text) <= 15
