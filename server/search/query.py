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
class RangeValue:
    """A date, number or quantity search value with its prefix (``eq`` by default).

    ``low``/``high`` are the inclusive bounds of the value as written, from its precision
    (``2024-03`` is the whole month, ``100`` is [99.5, 100.5]); dates in microseconds
    since the Unix epoch, UTC, like the index rows (``server/search/index.py``).
    Quantities may also carry ``system`` and ``code`` (``5.4|http://unitsofmeasure.org|mg``).
    See: https://hl7.org/fhir/R4B/search.html#prefix
    """

    prefix: str
    low: float
    high: float
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class Chain:
    """``subject:Patient.name=x``: resources whose reference ``param`` points at a
    ``query.type`` resource matching ``query`` (which may chain further)."""

    query: SearchQuery


@dataclass(frozen=True, slots=True)
class Has:
    """``_has:Observation:subject:code=x``: resources that some ``query.type`` resource
    matching ``query`` references through its reference parameter ``param``."""

    param: str
    query: SearchQuery


@dataclass(frozen=True, slots=True)
class Condition:
    """One search parameter (``param`` is its code) with OR-ed values.

    ``kind`` and its values:

    - ``id``: ids (``_id``);
    - ``token``: ``TokenValue``s; modifier None, ``not``, ``text`` (values are ``str``,
      matched against the indexed display text) or ``identifier`` (a reference
      parameter searched by the identifier of its reference);
    - ``string``: ``str``s; modifier None (starts with, case- and accent-insensitive),
      ``exact`` or ``contains``;
    - ``uri``: ``str``s, exact;
    - ``reference``: ``ReferenceValue``s (a ``:[type]`` modifier is already in them);
    - ``date``, ``number``, ``quantity``, ``last_updated``: ``RangeValue``s;
    - ``missing``: one bool; ``modifier`` holds the parameter's type (which index);
    - ``composite``: ``(Condition, Condition)`` pairs, each a one-value condition of its
      component's type, matched on the same index row (the same item of the resource);
    - ``chain``: one ``Chain``; ``has``: one ``Has`` (``param`` is the ``_has`` name).
    """

    param: str
    kind: str
    values: tuple
    modifier: str | None = None


@dataclass(frozen=True, slots=True)
class SortKey:
    """``_sort`` key: a search parameter code (or ``_id``/``_lastUpdated``) and its
    parameter type; ``descending`` for a ``-`` prefix."""

    param: str
    kind: str
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Include:
    """``_include=Source:param[:Target]`` (``reverse`` False) or ``_revinclude`` (True);
    ``iterate`` for the ``:iterate`` modifier. See: https://hl7.org/fhir/R4B/search.html#include
    """

    source: str
    param: str
    target: str | None = None
    reverse: bool = False
    iterate: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to match (``conditions``, AND-ed), in which order (``sort``; insertion order
    when empty), which page (``cursor``/``before``: opaque positions a previous page
    returned), whether to count them all (``total``) and what to add (``includes``)."""

    type: str
    conditions: tuple[Condition, ...] = ()
    count: int = 20
    cursor: tuple | None = None
    before: tuple | None = None
    total: bool = True
    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = ()


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
