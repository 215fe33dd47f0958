"""Search values of single FHIR elements: the parsing behind every index row.

Each function takes one element exactly as it appears in the resource JSON and returns
the normalised pieces a row needs, or None when the element is malformed. Nothing here
raises on bad data: validation is the validator's job, and a value that cannot be read
is simply not indexed. See https://hl7.org/fhir/R4B/search.html for the semantics
(string matching, date precision, number precision, reference forms).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

__all__ = [
    "date_bounds",
    "normalize",
    "number_bounds",
    "parse_canonical",
    "parse_reference",
]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_INF = float("inf")
_DAY = 86_400_000_000
_DATE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(Z|[+-]\d{2}:\d{2})?)?)?)?"
)
# A literal reference: [base/]Type/id[/_history/vid]; ids per
# https://hl7.org/fhir/R4B/datatypes.html#id, resource type names start upper-case.
_REFERENCE = re.compile(
    r"(?:(.*)/)?([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([A-Za-z0-9\-.]{1,64}))?"
)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


@lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Lower-case, accent-free, single-spaced text: what default string search compares.

    Accents go through NFKD decomposition and dropping the combining marks, so
    ``"Muñoz"`` and ``"munoz"`` index alike (search.html#string: "accent-insensitive").
    """
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(text.lower().split())


def _first_day(year: int, month: int) -> int:
    """Days from the epoch to the first of a month; month 13 is January of the next year."""
    if month == 13:
        year, month = year + 1, 1
    if year == 10000:  # the day after 9999-12-31, the last date FHIR can write
        return date(9999, 12, 31).toordinal() + 1 - _EPOCH_ORDINAL
    return date(year, month, 1).toordinal() - _EPOCH_ORDINAL


def date_bounds(text: object) -> tuple[int, int] | None:
    """The instants a date/dateTime/instant value covers, in microseconds since the epoch.

    The value's precision decides the width (search.html#date): ``2024`` is the whole
    year, ``2024-03`` the whole month, ``2024-03-31T23:59`` that minute, a fraction of a
    second its last digit. The bounds are inclusive. Offsets are applied; a value
    without one is read as UTC (FHIR leaves it to the server).
    """
    return _date_bounds(text) if text.__class__ is str else None


@lru_cache(maxsize=8192)
def _date_bounds(text: str) -> tuple[int, int] | None:
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    try:
        y = int(year)
        mo = int(month) if month else 1
        start_days = date(y, mo, int(day) if day else 1).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None
    if month is None:
        return start_days * _DAY, _first_day(y + 1, 1) * _DAY - 1
    if day is None:
        return start_days * _DAY, _first_day(y, mo + 1) * _DAY - 1
    if hour is None:
        return start_days * _DAY, (start_days + 1) * _DAY - 1
    h, mi = int(hour), int(minute)
    s = int(second) if second else 0
    if h > 23 or mi > 59 or s > 59:
        return None
    offset = 0
    if zone and zone != "Z":
        zh, zm = int(zone[1:3]), int(zone[4:6])
        if zh > 14 or zm > 59:
            return None
        offset = (zh * 3600 + zm * 60) * (1 if zone[0] == "+" else -1)
    low = (start_days * 86_400 + h * 3600 + mi * 60 + s - offset) * 1_000_000
    if second is None:
        return low, low + 60_000_000 - 1
    if not fraction:
        return low, low + 1_000_000 - 1
    digits = fraction[:6]
    low += int(digits) * 10 ** (6 - len(digits))
    return low, low + 10 ** (6 - len(digits)) - 1


def number_bounds(value: object) -> tuple[float, float, float] | None:
    """(value, low, high) of a decimal/integer, the bounds from its written precision.

    ``100`` covers [99.5, 100.5] and ``1.50`` [1.495, 1.505] (search.html#number): the
    spec compares the search range with the range the stored value's precision implies.
    A value parsed as a float has lost trailing zeros, so ``1.50`` reads as ``1.5``.
    """
    if value.__class__ not in (int, float) and not isinstance(value, Decimal):
        return None  # bool is not a number here: True.__class__ is bool
    try:
        text = repr(value) if value.__class__ is float else str(value)
        exponent = Decimal(text).as_tuple().exponent
        if not isinstance(exponent, int):  # NaN, Infinity
            return None
        number = float(text)
        half = 0.5 * 10.0**exponent
    except (InvalidOperation, OverflowError, ValueError):  # ValueError: huge int to str
        return None
    if number in (_INF, -_INF):
        return None
    return number, number - half, number + half


@lru_cache(maxsize=8192)
def parse_reference(
    reference: str, known_types: frozenset[str]
) -> tuple[str | None, str | None, str | None, str | None] | None:
    """(type, id, version, url) of a literal reference; None for a contained ``#id``.

    Relative ``Type/id[/_history/v]`` gives type and id; an absolute URL is kept as url
    and, when it ends in ``Type/id`` of a known resource type, also gives type and id, so
    ``subject=Patient/1`` finds it on a server that knows its own base
    (search.html#reference). Anything else (``urn:uuid:``, unknown paths) is kept as url.
    """
    if not reference or reference[0] == "#":
        return None
    absolute = _SCHEME.match(reference) is not None
    m = _REFERENCE.fullmatch(reference)
    if m is not None and m.group(2) in known_types and (absolute or m.group(1) is None):
        return m.group(2), m.group(3), m.group(4), reference if absolute else None
    return None, None, None, reference


def parse_canonical(value: str) -> tuple[str, str | None]:
    """(url, version) of a canonical: ``url|version`` carries its version after the bar."""
    url, bar, version = value.partition("|")
    return url, (version or None) if bar else None
