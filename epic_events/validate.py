"""Parsing and validating what people type. Each error names its field.

The database enforces the same rules (checks, triggers); these give a clear
message before a round trip and normalize input (phones to E.164, dates to
aware datetimes, amounts to two decimals).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

from . import config
from .errors import InvalidInput

EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_AMOUNT = Decimal("9999999999.99")


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def utf8(field: str, value: str) -> str:
    """Refuse what cannot be stored as text: undecodable bytes in an argument reach
    Python as lone surrogates, which no UTF-8 database (nor JSON) can hold."""
    if not _encodable(value):
        raise InvalidInput(f"{field}: not valid text (bytes that are not UTF-8)")
    return value


def text(field: str, value: str, max_length: int = 200) -> str:
    """One line of text, trimmed: names, places. The database refuses spaces at
    either end and control characters (0016); this trims what people type."""
    value = utf8(field, value).strip()
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")
    if not value:
        raise InvalidInput(f"{field}: must not be blank")
    if len(value) > max_length:
        raise InvalidInput(f"{field}: at most {max_length} characters")
    if CONTROL.search(value):
        raise InvalidInput(f"{field}: must not contain control characters")
    return value


def notes(field: str, value: str) -> str:
    """Free text, trimmed: tabs and line breaks inside are kept (Windows line
    ends become newlines); other control characters are refused, as in 0016."""
    value = utf8(field, value).replace("\r\n", "\n").strip()
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")
    if len(value) > 10000:
        raise InvalidInput(f"{field}: at most 10000 characters")
    if CONTROL.search(value.replace("\t", "").replace("\n", "")):
        raise InvalidInput(f"{field}: no control characters other than tabs and line breaks")
    return value


def search(field: str, value: str) -> str:
    """Text searched for, as typed (not trimmed: a search for " Lyon" means it)."""
    utf8(field, value)
    if "\x00" in value:
        raise InvalidInput(f"{field}: must not contain NUL characters")
    if len(value) > 10000:
        raise InvalidInput(f"{field}: at most 10000 characters")
    return value


def email(field: str, value: str) -> str:
    value = utf8(field, value).strip()
    if len(value) > 254 or not EMAIL.match(value):
        raise InvalidInput(f"{field}: not a valid email address")
    return value


def phone(field: str, value: str) -> str:
    """Normalize to E.164: '06 12 34 56 78' -> '+33612345678' (default region FR)."""
    import phonenumbers

    if "\x00" in value or not _encodable(value):
        raise InvalidInput(f"{field}: not a valid phone number")
    try:
        parsed = phonenumbers.parse(value, config.phone_region())
    except phonenumbers.NumberParseException:
        raise InvalidInput(f"{field}: not a valid phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidInput(f"{field}: not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# Money, in and out: one grammar. Tables print 18,500.00 € and that reads back;
# so do 18500, 18500.5 and 18500.50. A point always marks the cents; a comma
# only separates thousands, and only in a number with cents (18,500.00): alone,
# 1,000 or 1,5 could be a thousand or one and a half, so it is refused, never
# guessed. No exponent (1e2), no more than two decimals.
AMOUNT_HELP = (
    "18500, 18500.50 or 18,500.00 € as tables print (a point before the cents; "
    "a comma only between thousands of an amount with cents: 1,000 is ambiguous)"
)
_AMOUNT = re.compile(
    r"""
    (?P<sign>-)?
    (?P<units>[0-9]+|[0-9]{1,3}(?:,[0-9]{3})+)
    (?:\.(?P<cents>[0-9]+))?
""",
    re.VERBOSE,
)
_AMOUNT_EXAMPLES = "write 18500, 18500.50 or 18,500.00"


def amount(field: str, value: str | Decimal, negative: bool = False) -> Decimal:
    """An amount of money (see AMOUNT_HELP); negative only where the column allows it."""
    raw = utf8(field, str(value)).strip()
    raw = (raw[:-1] if raw.endswith("€") else raw[1:] if raw.startswith("€") else raw).strip()
    match = _AMOUNT.fullmatch(raw)
    if match is not None and "," in match["units"] and match["cents"] is None:
        # 1,000: a thousand, or one with three decimals as in French? Never guessed.
        raise InvalidInput(
            f"{field}: {raw} is ambiguous (a comma separates thousands or decimals?); "
            f"write {raw.replace(',', '')} or {raw}.00, with a point before the cents"
        )
    if match is None and re.fullmatch(r"-?[0-9]+,[0-9]+", raw):
        raise InvalidInput(
            f"{field}: {raw} is ambiguous (a comma separates thousands or decimals?); "
            f"write {raw.replace(',', '.')}, with a point before the cents"
        )
    if match is None:
        raise InvalidInput(f"{field}: not an amount; {_AMOUNT_EXAMPLES}")
    units, cents = match["units"], match["cents"]
    if cents is not None and len(cents) > 2:
        raise InvalidInput(f"{field}: at most two decimals")
    number = Decimal(units.replace(",", "") + "." + (cents or "0"))
    if match["sign"] and number:
        number = -number
    if number < 0 and not negative:
        raise InvalidInput(f"{field}: must not be negative")
    if abs(number) > MAX_AMOUNT:
        raise InvalidInput(f"{field}: at most {MAX_AMOUNT}")
    return number.quantize(Decimal("0.01"))


_DATE_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y")
_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def moment(field: str, value: str) -> datetime:
    """dd/mm/yyyy, dd/mm/yyyy HH:MM or ISO 8601; naive times are local time."""
    raw = value.strip()
    parsed = None
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(raw, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field}: not a date (dd/mm/yyyy, dd/mm/yyyy HH:MM or ISO 8601)") from None
    try:
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()  # the local time zone
        in_utc = parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # e.g. 0001-01-01 a few hours west of UTC
        in_utc = None
    # A day inside Python's years 1-9999 each side, so that the stored value reads
    # back in any time zone.
    if in_utc is None or not _EARLIEST <= in_utc <= _LATEST:
        raise InvalidInput(f"{field}: out of range (years 1 to 9999)")
    return parsed


def count(field: str, value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field}: not a whole number") from None
    if number < 0:
        raise InvalidInput(f"{field}: must not be negative")
    if number > 2_147_483_647:
        raise InvalidInput(f"{field}: too large")
    return number


def record_id(field: str, value: str | int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{field}: not an id (a whole number)") from None
    if not 0 < number < 2**63:
        raise InvalidInput(f"{field}: not an id (a positive whole number)")
    return number


def password(value: str) -> str:
    utf8("password", value)
    if len(value) < 8:
        raise InvalidInput("password: at least 8 characters")
    if len(value.encode()) > 72:
        raise InvalidInput("password: at most 72 bytes (bcrypt's limit)")
    if "\x00" in value:
        raise InvalidInput("password: must not contain NUL characters")
    return value
