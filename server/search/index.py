"""The search index values of one resource version: what the store keeps beside it.

``server/search/extract.py`` computes a ``ResourceIndex`` from a resource on every write
(from the SearchParameter FHIRPath expressions); the store adapters persist its rows in
indexed tables/fields and answer searches from them, never from the stored JSON.

Row shapes (``param`` is the SearchParameter ``code``, e.g. ``identifier``, ``_tag``):

- tokens:     (param, system, code, text)  system/code may be None; ``text`` is the
  lower-cased, accent-free display/text for ``:text`` (None when absent).
  Reference.identifier values are also indexed here under ``"<param>:identifier"``.
- strings:    (param, normalized, exact)   normalized = lower-case, accents removed,
  whitespace collapsed (for the default starts-with and ``:contains``); exact as written.
- references: (param, target_type, target_id, version, url)  for ``Type/id`` references
  type and id are set (version for ``/_history/n``); absolute URLs and canonicals keep
  ``url`` (canonical ``|version`` goes to version).
- dates:      (param, low, high)  inclusive bounds in microseconds since the Unix epoch,
  UTC; a value without a timezone is read as UTC; an open Period end is +/- infinity
  (``DATE_MIN``/``DATE_MAX``).
- numbers:    (param, value, low, high)  low/high from the value's precision
  (``100`` -> [99.5, 100.5]).
- quantities: (param, system, code, unit, value, low, high)
- uris:       (param, uri)
- composites: (param, *part1, *part2)  one row per combination of component values of
  the SAME item of the composite's base expression (search.html#composite), so
  ``code-value-quantity`` only matches a code and a value of one component. A part is
  ``(k1, k2, k3, value, low, high)``, filled per component type from that type's row:

  ==========  ===========  ===========  =======  =====  ====  ====
  type        k1           k2           k3       value  low   high
  ==========  ===========  ===========  =======  =====  ====  ====
  token       code         system       -        -      -     -
  reference   target_id    target_type  url      -      -     -
  string      normalized   exact        -        -      -     -
  uri         uri          -            -        -      -     -
  quantity    code         system       unit     value  low   high
  number      -            -            -        value  low   high
  date        -            -            -        -      low   high
  ==========  ===========  ===========  =======  =====  ====  ====

  The store indexes (type, param, part1 k1, part1 k2): every composite is a lookup on
  its first component's code (or target id), then a check of the second part. Token
  rows with neither code nor system (a CodeableConcept's text) are not composited: no
  modifier, hence no ``:text``, applies to a composite.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DATE_MIN = -(2**62)
DATE_MAX = 2**62

TokenRow = tuple[str, str | None, str | None, str | None]
StringRow = tuple[str, str, str]
ReferenceRow = tuple[str, str | None, str | None, str | None, str | None]
DateRow = tuple[str, int, int]
NumberRow = tuple[str, float, float, float]
QuantityRow = tuple[str, str | None, str | None, str | None, float, float, float]
UriRow = tuple[str, str]
Part = tuple[str | None, str | None, str | None, float | None, float | None, float | None]
CompositeRow = tuple  # (param, *Part, *Part): 13 values


@dataclass(slots=True)
class ResourceIndex:
    """Every extracted search value of one resource, grouped by value kind."""

    tokens: list[TokenRow] = field(default_factory=list)
    strings: list[StringRow] = field(default_factory=list)
    references: list[ReferenceRow] = field(default_factory=list)
    dates: list[DateRow] = field(default_factory=list)
    numbers: list[NumberRow] = field(default_factory=list)
    quantities: list[QuantityRow] = field(default_factory=list)
    uris: list[UriRow] = field(default_factory=list)
    composites: list[CompositeRow] = field(default_factory=list)
