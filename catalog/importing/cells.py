"""Parsing one cell of an import file. Each parser takes the cleaned text of a non-empty cell
and returns the value, or raises ``CellError`` with a message in plain words (the caller adds
the row and the column)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from catalog.numbers import NumberError, parse_decimal

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SCIENTIFIC = re.compile(r"[+-]?\d+(\.\d+)?[eE][+-]?\d+")
TRUE_WORDS = frozenset({"true", "yes", "1", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "n"})


class CellError(ValueError):
    """A cell that cannot be read; ``str()`` says why."""


def text(value: str, *, max_length: int) -> str:
    if len(value) > max_length:
        raise CellError(f"is {len(value)} characters long; at most {max_length} fit.")
    return value


def decimal(value: str, *, places: int = 4, minimum: Decimal | None = None, positive: bool = False) -> Decimal:
    """A number by the one rule of ``catalog.numbers.parse_decimal`` (a dot or a single comma as
    the decimal mark, no thousands separators; ``1,000`` refused as ambiguous)."""
    try:
        number = parse_decimal(value, places=places)
    except NumberError as exc:
        raise CellError(str(exc)) from exc
    if positive and number <= 0:
        raise CellError(f"must be greater than zero (got {value}).")
    if minimum is not None and number < minimum:
        raise CellError(f"cannot be below {minimum} (got {value}).")
    return number


def integer(value: str, *, minimum: int = 0) -> int:
    try:
        number = decimal(value, places=4)
    except CellError as exc:
        raise CellError(f"{value!r} is not a whole number.") from exc
    if number != number.to_integral_value():
        raise CellError(f"{value!r} is not a whole number.")
    if number < minimum:
        raise CellError(f"cannot be below {minimum} (got {value}).")
    return int(number)


def boolean(value: str) -> bool:
    word = value.casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CellError(f"{value!r} is not yes or no (write true/false, yes/no or 1/0).")


def choice(value: str, choices: dict[str, str]) -> str:
    """One of ``choices`` (lower-case key: stored value), matched ignoring case."""
    found = choices.get(value.casefold())
    if found is None:
        raise CellError(f"{value!r} is not one of: {', '.join(sorted(set(choices.values())))}.")
    return found


def iso_date(value: str) -> date:
    if not _ISO_DATE.fullmatch(value[:10]) or (len(value) > 10 and value[10] not in "T "):
        raise CellError(f"{value!r} is not a date written as YYYY-MM-DD.")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise CellError(f"{value!r} is not a real date ({exc}).") from exc


def looks_reformatted(value: str) -> bool:
    """A long number a spreadsheet turned into scientific notation (4.00638E+12)."""
    return bool(_SCIENTIFIC.fullmatch(value))
