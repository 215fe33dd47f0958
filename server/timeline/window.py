"""The timeline: a record's entries in the order of the dates they are about, narrowed to
the window a caller asks for (``$everything``'s ``start``, ``end``, ``_since``, ``_type``).
See: https://hl7.org/fhir/R4B/patient-operation-everything.html
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from server.timeline.dates import bounds
from server.timeline.record import Entry

__all__ = ["Window", "timeline"]


@dataclass(frozen=True, slots=True)
class Window:
    """What to keep, each bound in microseconds since the epoch (None: unbounded).

    ``start``/``end`` bound the clinical date (R4B: "care dates, not record currency
    dates"), both inclusive; ``since`` keeps records updated at or after it; ``types``
    keeps those types only (None: every type)."""

    start: int | None = None
    end: int | None = None
    since: int | None = None
    types: frozenset[str] | None = None

    def keeps_type(self, type: str) -> bool:
        return self.types is None or type in self.types

    def keeps(self, item: Entry) -> bool:
        if not self.keeps_type(item.version.type):
            return False
        if (self.start is not None and item.date < self.start) or \
                (self.end is not None and item.date > self.end):
            return False
        return self.since is None or _updated(item) >= self.since


def timeline(subject: Entry | None, entries: Iterable[Entry], window: Window) -> list[Entry]:
    """``subject`` (her Patient, or the case) first, as what the timeline is about, when
    its type is kept (the dates do not apply to it); then the ``entries`` the window
    keeps, oldest first (ties: in the order written, then by type and id, so that a page
    always follows the same order)."""
    kept = sorted((e for e in entries if (subject is None or e.ref != subject.ref)
                   and window.keeps(e)),
                  key=lambda e: (e.date, _updated(e), e.version.type, e.version.id))
    if subject is not None and window.keeps_type(subject.version.type):
        return [subject, *kept]
    return kept


def _updated(item: Entry) -> int:
    found = bounds(item.version.last_updated)
    return found[0] if found is not None else 0
