"""The result parameters of a search: which page, how many, counted or not, in which
order, with what included, and how much of each resource.

Unlike selecting parameters, a result parameter is never silently ignored: a wrong
``_sort`` would give a wrongly ordered result, a wrong ``_include`` a silently
incomplete one, so malformed or unknown values are a 400.

See https://hl7.org/fhir/R4B/search.html#return (``_sort``, ``_count``, ``_total``,
``_summary``, ``_elements``) and https://hl7.org/fhir/R4B/search.html#include.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from profiles.r4b import summary_elements
from server import errors
from server.search.definitions import params_for, resource_types
from server.search.query import Include, SortKey
from server.search.syntax import MAX_VALUES, Unsupported

#: Parameters that shape the result rather than select resources.
RESULT_PARAMS = frozenset({"_count", "_total", "_page", "_sort", "_include", "_revinclude",
                           "_summary", "_elements"})

#: Parameter types ``_sort`` orders by (the index table each lives in has one value
#: column to order on); plus the store columns ``_id`` and ``_lastUpdated``.
SORT_KINDS = frozenset({"string", "token", "date", "number", "quantity", "uri", "reference"})
#: ``_summary`` values (search.html#summary).
SUMMARY_MODES = ("true", "false", "text", "data", "count")
#: ``_total`` values (search.html#total).
TOTAL_MODES = ("none", "estimate", "accurate")

_ELEMENT = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
@dataclass
class ResultParams:
    """Collects the result parameters of one search as they are read."""

    count: int
    max_count: int
    #: the ``_total`` sent (None: not sent).
    total: str | None = None
    cursor: tuple | None = None
    before: tuple | None = None
    sort: tuple[SortKey, ...] = ()
    includes: list[Include] = field(default_factory=list)
    summary: str | None = None
    elements: tuple[str, ...] | None = None

    def read(self, type: str, code: str, modifier: str, value: str) -> None:
        """Apply ``code[:modifier]=value``; 400 for anything this server cannot honour."""
        from server.search.parse import read_page_token

        if modifier and not (code in ("_include", "_revinclude") and modifier == "iterate"):
            if code in ("_include", "_revinclude") and modifier == "recurse":
                modifier = "iterate"  # the R3 name of :iterate
            else:
                raise errors.invalid(f"{code} takes no modifier :{modifier[:64]}")
        if code == "_count":
            self.count = _count(value, self.max_count)
        elif code == "_total":
            if value not in TOTAL_MODES:
                raise errors.invalid("_total must be none, estimate or accurate")
            self.total = value
        elif code == "_page":
            self.cursor, self.before = read_page_token(value)
            if not isinstance(self.cursor or self.before, tuple):
                raise errors.invalid("_page is not a search page token")
        elif code == "_sort":
            if self.sort:
                raise errors.invalid("_sort may appear only once")
            self.sort = sort_keys(type, value)
        elif code in ("_include", "_revinclude"):
            if len(self.includes) >= MAX_VALUES:
                raise errors.invalid(f"at most {MAX_VALUES} _include/_revinclude")
            self.includes.append(include(type, value, reverse=code == "_revinclude",
                                         iterate=modifier == "iterate"))
        elif code == "_summary":
            if value not in SUMMARY_MODES or self.summary is not None:
                raise errors.invalid("_summary must be one of true, false, text, data, "
                                     "count, given once")
            self.summary = value
        elif code == "_elements":
            if self.elements is not None:
                raise errors.invalid("_elements may appear only once")
            self.elements = elements(type, value)
        else:
            raise Unsupported
        if self.elements is not None and self.summary not in (None, "false"):
            raise errors.invalid("_elements and _summary cannot be combined")


    def check_position(self) -> None:
        """A ``_page`` position holds one value per sort key and a rid: a token of
        another search (another ``_sort``) cannot be followed."""
        position = self.cursor if self.cursor is not None else self.before
        if position is None:
            return
        if len(position) != len(self.sort) + 1 or not isinstance(position[-1], int) \
                or isinstance(position[-1], bool):
            raise errors.invalid("_page does not belong to this search (another _sort?)")


def sort_keys(type: str, value: str) -> tuple[SortKey, ...]:
    """``_sort=a,-b``: keys in order of precedence (search.html#sort). An unknown or
    unsortable parameter is a 400: ignoring it would silently give the wrong order."""
    keys, seen = [], set()
    names = value.split(",")
    if len(names) > 8:
        raise errors.invalid("at most 8 _sort keys")
    definitions = params_for(type)
    for name in names:
        descending = name.startswith("-")
        code = name[1:] if descending else name
        if code in seen:
            raise errors.invalid(f"_sort names {code[:64]} twice")
        seen.add(code)
        if code == "_id":
            kind = "id"
        elif code == "_lastUpdated":
            kind = "last_updated"
        else:
            definition = definitions.get(code)
            if definition is None or definition.type not in SORT_KINDS:
                raise errors.invalid(f"cannot sort {type} by {code[:64]!r}")
            kind = definition.type
        keys.append(SortKey(code, kind, descending))
    return tuple(keys)


def include(type: str, value: str, *, reverse: bool, iterate: bool) -> Include:
    """``Source:param[:Target]`` of ``_include``/``_revinclude`` (search.html#include).

    The parameter must be a reference parameter of ``Source`` that can point to
    ``Target``. Without ``:iterate`` an ``_include`` starts from the matches (so its
    source is the searched type) and a ``_revinclude`` points at them (so the
    parameter must be able to reference the searched type).
    """
    name = "_revinclude" if reverse else "_include"
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.invalid(f"{name} must be Source:parameter[:Target]")
    source, code = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if source not in resource_types():
        raise errors.invalid(f"{name}: unknown resource type {source[:64]!r}")
    definition = params_for(source).get(code)
    if definition is None or definition.type != "reference":
        raise errors.invalid(f"{name}: {source} has no reference parameter {code[:64]!r}")
    if target is not None and (target not in resource_types() or (
            definition.target and target not in definition.target)):
        raise errors.invalid(f"{name}: {source}:{code} cannot point to {target[:64]!r}")
    if not iterate:
        if not reverse and source != type:
            raise errors.invalid(f"_include={value[:100]} does not start from {type} "
                                 "(use _include:iterate for included resources)")
        if reverse and (target not in (None, type) or (
                definition.target and type not in definition.target)):
            raise errors.invalid(f"_revinclude={value[:100]} cannot point to {type}")
    return Include(source, code, target, reverse, iterate)


def elements(type: str, value: str) -> tuple[str, ...]:
    """``_elements=a,b``: top-level element names of ``type`` (search.html#elements):
    base names (``value`` keeps every ``value[x]``) or JSON names (``valueQuantity``);
    a name the type does not have is a 400."""
    names = value.split(",")
    known = summary_elements().get(type, {}).get("elements", {})
    json_names = {n for group in known.values() for n in group}
    for name in names:
        if not _ELEMENT.fullmatch(name) or (name not in known and name not in json_names):
            raise errors.invalid(f"_elements: {type} has no element {name[:64]!r}")
    return tuple(dict.fromkeys(names))


def _count(value: str, max_count: int) -> int:
    if not value.isdigit():
        raise errors.invalid("_count must be a non-negative integer")
    number = int(value)
    if number > max_count:
        raise errors.invalid(f"_count may not exceed {max_count}")
    return number
