"""Search and history requests as plain values: what ``parse`` produces and stores execute.

A ``SearchQuery`` is a conjunction of ``Condition``s; each condition is one search
parameter whose values are OR-ed (https://hl7.org/fhir/R4B/search.html#combining).
Adapters translate it into their own indexed query; nothing here knows about SQL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenValue:
    """``[system]|[code]``: ``system`` None matches any system, "" matches no system;
    ``code`` None matches any code of the system (``system|``)."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """A reference search value: ``Type/id`` (type and id), ``id`` (id only, type None),
    or an absolute URL (``url``). See: https://hl7.org/fhir/R4B/search.html#reference"""

    type: str | None
    id: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """One search parameter (``param`` is its code) with OR-ed values.

    ``kind`` is ``id`` (values are ids), ``token`` (``TokenValue``s) or ``reference``
    (``ReferenceValue``s); the search issue adds the other parameter types on the same
    index.
    """

    param: str
    kind: str
    values: tuple
    modifier: str | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    type: str
    conditions: tuple[Condition, ...] = ()
    count: int = 20
    cursor: int | None = None
    before: int | None = None
    total: bool = True


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """History of one resource (type and id), one type (type), or everything (neither).

    ``since`` keeps versions updated at or after that instant (microseconds since the
    epoch); ``cursor`` continues a previous page (versions older than it).
    """

    type: str | None = None
    id: str | None = None
    since: int | None = None
    count: int = 50
    cursor: int | None = None
