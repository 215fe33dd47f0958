"""Chilean local time for the synthetic journeys, written with the offset of the day.

Institutions write local time with its offset (``2025-03-08T23:10:00-03:00``). Mainland
Chile is UTC-3 from the first Sunday of September and UTC-4 from the first Sunday of April
(strictly the first Sunday on or after the 2nd; the change happens at local midnight).
Magallanes (región 12) is UTC-3 all year, and so is Aysén (región 11) since March 2025
(tz database 2025b, zone America/Coyhaique), which covers the whole synthetic window. The
rule is written here rather than read from the system's tz database so that the same seed
gives the same bytes on every machine.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from functools import lru_cache

__all__ = ["END", "START", "offset", "office_hours", "stamp"]

# The synthetic window, as in the institution fixtures (extraction date 2026-09-30).
START = datetime(2025, 1, 6)
END = datetime(2026, 9, 30, 23, 59)

_ALWAYS_SUMMER = {"11", "12"}


def _first_sunday(year: int, month: int) -> date:
    # The tz database rule is "Sun>=2": the first Sunday on or after the 2nd.
    second = date(year, month, 2)
    return second + timedelta(days=(6 - second.weekday()) % 7)


def offset(moment: datetime, region_code: str) -> str:
    """Return the UTC offset (``-03:00`` or ``-04:00``) of a local time in a región."""
    if region_code in _ALWAYS_SUMMER:
        return "-03:00"
    # 00:00-00:59 on the day clocks go forward does not exist in summer time: such a
    # naive time is written in winter time, which names the same instant.
    return _offset(moment.date(), moment.hour == 0)


@lru_cache(maxsize=2048)
def _offset(day: date, midnight_hour: bool) -> str:
    spring = _first_sunday(day.year, 9)
    winter = _first_sunday(day.year, 4) <= day < spring or (day == spring and midnight_hour)
    return "-04:00" if winter else "-03:00"


def stamp(moment: datetime, region_code: str) -> str:
    """Return a local time as an ISO 8601 dateTime with seconds and the Chilean offset."""
    return moment.isoformat(timespec="seconds") + offset(moment, region_code)


def office_hours(moment: datetime, rng: random.Random) -> datetime:
    """Move a time to the next weekday office slot (08:30-16:30): courts and centres close."""
    day = moment.date()
    if moment.hour >= 16 or moment.weekday() >= 5:
        day += timedelta(days=1)
    elif moment.hour >= 8:
        return moment
    while day.weekday() >= 5:
        day += timedelta(days=1)
    minutes = rng.randrange(8 * 60 + 30, 16 * 60 + 30, 5)
    return datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
