"""Server time as FHIR instants: the text stamped in ``meta.lastUpdated`` and its integer
microseconds since the epoch (what stores index and compare)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now() -> tuple[str, int]:
    """(instant text with microseconds in UTC, microseconds since the epoch)."""
    moment = datetime.now(UTC)
    return moment.isoformat(timespec="microseconds"), to_us(moment)


def to_us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def parse_instant(text: str) -> int | None:
    """Microseconds of a FHIR instant/dateTime with timezone (``_since``); None if invalid.

    A value without a timezone is read as UTC; a date alone as its midnight.
    """
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_us(moment)


@lru_cache(maxsize=4096)  # the entries of one transaction share their instant
def http_date(instant: str) -> str:
    """RFC 7231 HTTP-date of an instant (``Last-Modified``)."""
    return format_datetime(datetime.fromisoformat(instant).astimezone(UTC), usegmt=True)


def parse_http_date(text: str) -> int | None:
    """Microseconds of an HTTP-date (``If-Modified-Since``); None if unparseable."""
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return to_us(moment)
