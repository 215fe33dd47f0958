"""The measurement period of an evaluation: whole calendar months, in Chile's time.

``$evaluate-measure`` takes ``periodStart`` and ``periodEnd`` as FHIR dates "in keeping
with the semantics of the date parameter used in the FHIR search": the period starts at
the beginning of what ``periodStart`` implies and ends at the end of what ``periodEnd``
implies (https://hl7.org/fhir/R4B/measure-operation-evaluate-measure.html). ``amparo
report --period`` takes one such date for both (``2025``: the year; ``2025-03``: March).

Only whole months are accepted (a day given must be the first of its month for the start
and the last for the end): a period that could end on any day would let two evaluations
one day apart be subtracted to expose that day's few cases, which small-cell protection
of each evaluation alone cannot prevent (README, "Indicators").

A record belongs to the period by its day in Chile's time (``America/Santiago``; a date
alone, as written): a contact at 22:00 in Santiago on 31 March is a March contact even
when stamped in UTC. Instants ("as of" the end of the period) are compared as instants.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["CHILE", "Period", "PeriodError", "local_day", "parse_period"]

CHILE = ZoneInfo("America/Santiago")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


class PeriodError(ValueError):
    """A period that is not a FHIR date, not whole months, or ends before it starts."""


@dataclass(frozen=True)
class Period:
    """From ``first`` to ``last``, both days included."""

    first: date
    last: date

    def holds(self, day: date | None) -> bool:
        """Whether a record dated ``day`` (as written) falls in the period."""
        return day is not None and self.first <= day <= self.last

    def as_of(self, now: datetime) -> datetime:
        """The cut-off instant of "at the end of the period": its last moment in Chile,
        or ``now`` when the period has not ended."""
        end = datetime.combine(self.last + timedelta(days=1), time(), CHILE)
        return min(end - timedelta(microseconds=1), now.astimezone(UTC))

    def months(self) -> list[str]:
        """Every month of the period as ``YYYY-MM``."""
        out, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


def local_day(text: object) -> tuple[datetime | None, date | None]:
    """A FHIR date or dateTime as (aware instant, its day in Chile): a date alone is that
    day (its instant: midnight in Chile); (None, None) when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None, None
    try:
        if len(text) <= 10:
            day = date.fromisoformat(text) if len(text) == 10 else _bounds(text, "date")[0]
            return datetime.combine(day, time(), CHILE), day
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, PeriodError):
        return None, None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=CHILE)
    return moment, moment.astimezone(CHILE).date()


def parse_period(start: str, end: str) -> Period:
    """The period from ``periodStart`` to ``periodEnd`` (see the module docstring)."""
    first, _ = _bounds(start, "periodStart")
    _, last = _bounds(end, "periodEnd")
    if first.day != 1:
        raise PeriodError(f"periodStart {start!r} must be the first day of a month: "
                          "indicators are evaluated over whole months")
    if last.day != calendar.monthrange(last.year, last.month)[1]:
        raise PeriodError(f"periodEnd {end!r} must be the last day of a month: "
                          "indicators are evaluated over whole months")
    if last < first:
        raise PeriodError("periodEnd is before periodStart")
    return Period(first, last)


def _bounds(text: str, name: str) -> tuple[date, date]:
    """The first and last day a FHIR date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``) covers."""
    found = _DATE.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise PeriodError(f"{name} must be a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    year, month, day = (int(g) if g else None for g in found.groups())
    try:
        if month is None:
            return date(year, 1, 1), date(year, 12, 31)
        if day is None:
            return date(year, month, 1), date(year, month,
                                              calendar.monthrange(year, month)[1])
        return date(year, month, day), date(year, month, day)
    except ValueError:
        raise PeriodError(f"{name} {text[:20]!r} is not a valid date") from None
