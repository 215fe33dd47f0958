"""The date a record is about (its clinical date), which orders a survivor's timeline.

A timeline in the order records were written would put a police report typed in a week
after the incident after the assessment made that day: records are ordered by the date
they are about instead (when it happened, was assessed, asked for, or takes effect).
Which element holds that date, per type, is data (``clinical-dates.json``): the first
element a resource has wins; a record with none of them (or of a type the file does not
name) falls back to ``meta.lastUpdated``, the only date every record has.

Dates are compared as instants (``server.search.values.date_bounds``, as search does):
a date without a time is its first instant, a value without a timezone is read as UTC.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from server.search.values import date_bounds

__all__ = ["bounds", "clinical_date", "date_elements", "timeline_date"]

_FILE = Path(__file__).with_name("clinical-dates.json")


@cache
def date_elements() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Type -> its date elements in order of preference, each a path of element names
    (``effectivePeriod.start`` is ``("effectivePeriod", "start")``)."""
    doc = json.loads(_FILE.read_text(encoding="utf-8"))
    return {type: tuple(tuple(path.split(".")) for path in paths)
            for type, paths in doc["elements"].items()}


def clinical_date(resource: dict) -> str | None:
    """The clinical date of ``resource`` as written (None when it has none that reads as
    a date)."""
    for path in date_elements().get(resource.get("resourceType"), ()):
        value = _at(resource, path)
        if date_bounds(value) is not None:
            return value
    return None


def timeline_date(resource: dict) -> int:
    """The instant (microseconds since the epoch) that places ``resource`` in the
    timeline: its clinical date, else its ``meta.lastUpdated`` (0 with neither, which a
    stored resource never lacks)."""
    written = clinical_date(resource) or (resource.get("meta") or {}).get("lastUpdated")
    found = date_bounds(written)
    return found[0] if found is not None else 0


def bounds(text: str | None) -> tuple[int, int] | None:
    """The first and last instants a FHIR date/dateTime covers (``2025-03`` is March)."""
    return date_bounds(text)


def _at(resource: dict, path: tuple[str, ...]) -> object:
    """The value at ``path`` (the first item where an element repeats)."""
    value: object = resource
    for name in path:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value[0] if isinstance(value, list) and value else value
