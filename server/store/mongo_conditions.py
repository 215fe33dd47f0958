"""MongoDB filters for the conditions of a search (``server.search.query.Condition``),
one function per condition kind, each answered from the index arrays of the resource
documents (``mongo_documents.py``), never from the stored JSON.

A condition on one parameter is an ``$elemMatch`` on its array with ``p`` (the
parameter code) and the value's fields, so the fields of one index row are matched
together and the compound multikey indexes (``mongo.py``) bound the lookup. Values a
client sends are only ever compared values: they never become keys, operators or
paths, and the one regular expression (``:contains``) is built from an escaped literal.
The semantics follow ``sqlite_conditions.py`` (the same tests hold both adapters).

Chains and ``_has`` are resolved in steps: the inner query's ids first (bounded by
``max_chain_ids``; more is a 400 ``too-costly``), then an indexed ``$in``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from server.errors import FhirError
from server.search.parse_values import uri_segments
from server.search.query import Condition, RangeValue, ReferenceValue, SearchQuery, TokenValue
from server.search.values import normalize
from server.store.port import UNRESTRICTED, AccessFilter
from server.store.prefix import after_prefix

#: Intermediate ids a chain or ``_has`` step may collect (``AMPARO_MONGO_MAX_CHAIN_IDS``).
DEFAULT_MAX_CHAIN_IDS = 10_000


def max_chain_ids() -> int:
    value = os.environ.get("AMPARO_MONGO_MAX_CHAIN_IDS", "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_CHAIN_IDS


class Finder(Protocol):
    """Runs a step query (inside the caller's session, if any)."""

    def __call__(self, filter: dict, projection: dict, limit: int) -> list[dict]: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """What a condition is about: the resource type, the caller's access filter (which
    the inner queries of chains and ``_has`` apply too) and how to run those queries."""

    type: str
    access: AccessFilter = UNRESTRICTED
    find: Finder | None = None
    max_ids: int = DEFAULT_MAX_CHAIN_IDS


def resource_filter(scope: Scope, conditions: tuple[Condition, ...]) -> dict:
    """The filter on resource documents: the type, not deleted, every condition, and the
    caller's access filter."""
    terms: list[dict] = [{"type": scope.type}, {"deleted": False}]
    for condition in conditions:
        builder = BUILDERS.get(condition.kind)
        if builder is None:
            raise ValueError(f"unsupported condition kind {condition.kind!r}")
        terms.append(builder(scope, condition))
    if scope.access.keys is not None:
        terms.append({"acc": {"$in": sorted(scope.access.keys)}})
    return {"$and": terms}


def _all(terms: list[dict]) -> dict:
    """The conjunction of ``terms`` (each a filter that may use the same field)."""
    return terms[0] if len(terms) == 1 else {"$and": terms}


def _any(terms: list[dict]) -> dict:
    return terms[0] if len(terms) == 1 else {"$or": terms}


def _rows(array: str, param: str, matches: list[dict], negate: bool = False) -> dict:
    """Resources with an element of ``array`` for ``param`` matching any of ``matches``
    (without one, when ``negate``)."""
    each = [{array: {"$elemMatch": {"p": param, **match}}} for match in matches]
    return {"$nor": each} if negate else _any(each)


#: A value kind's logical fields -> the element fields holding them: the kind's own
#: array uses short names; a composite's parts live under ``a.``/``b.`` of ``cmp``.
Fields = dict[str, str]
_PLAIN: Fields = {"code": "c", "system": "s", "text": "t", "target_id": "ti",
                  "target_type": "tt", "url": "u", "normalized": "n", "exact": "e",
                  "uri": "u", "unit": "u", "value": "v", "low": "lo", "high": "hi",
                  "cmp_low": "a", "cmp_high": "b"}


def _part_fields(prefix: str) -> Fields:
    k1, k2, k3 = (f"{prefix}.k{n}" for n in (1, 2, 3))
    return {"code": k1, "system": k2, "unit": k3, "target_id": k1, "target_type": k2,
            "url": k3, "normalized": k1, "exact": k2, "uri": k1, "value": f"{prefix}.v",
            "low": f"{prefix}.lo", "high": f"{prefix}.hi", "cmp_low": f"{prefix}.ca",
            "cmp_high": f"{prefix}.cb"}


_PART_A, _PART_B = _part_fields("a"), _part_fields("b")

Builder = Callable[[Scope, Condition], dict]


def _id(scope: Scope, condition: Condition) -> dict:
    return _keys(scope.type, condition.values)


def _keys(type: str, ids: object) -> dict:
    """Resources of ``type`` with these ids: a lookup on ``_id`` ("<type>/<id>")."""
    return {"_id": {"$in": [f"{type}/{id}" for id in ids]}}


def _token(scope: Scope, condition: Condition) -> dict:
    """search.html#token; ``:text`` a starts-with on the display text, ``:identifier``
    the rows kept under ``<code>:identifier``, ``:not`` no matching row at all."""
    if condition.modifier == "text":
        return _rows("tok", condition.param,
                     [{"t": {"$gte": text, "$lt": after_prefix(text)}}
                      for text in condition.values])
    param = condition.param
    if condition.modifier == "identifier":
        param += ":identifier"
    return _rows("tok", param, [_token_value(v, _PLAIN) for v in condition.values],
                 negate=condition.modifier == "not")


def _token_value(value: TokenValue, f: Fields) -> dict:
    match: dict = {}
    if value.code is not None:
        match[f["code"]] = value.code
    if value.system == "":
        match[f["system"]] = None
    elif value.system is not None:
        match[f["system"]] = value.system
    return match


def _reference_value(value: ReferenceValue, f: Fields) -> dict:
    if value.url is not None:
        return {f["url"]: value.url}
    if value.type is None:
        return {f["target_id"]: value.id}
    return {f["target_id"]: value.id, f["target_type"]: value.type}


def _reference(scope: Scope, condition: Condition) -> dict:
    return _rows("ref", condition.param,
                 [_reference_value(v, _PLAIN) for v in condition.values])


def _string(scope: Scope, condition: Condition) -> dict:
    return _rows("str", condition.param,
                 [_string_value(v, condition.modifier, _PLAIN) for v in condition.values])


def _string_value(value: str, modifier: str | None, f: Fields) -> dict:
    """Starts-with on the normalised text (an index range), ``:exact`` on the text as
    written, ``:contains`` anywhere in the normalised text (an escaped literal)."""
    if modifier == "exact":
        return {f["normalized"]: normalize(value), f["exact"]: value}
    if modifier == "contains":
        return {f["normalized"]: {"$regex": re.escape(value)}}
    return {f["normalized"]: {"$gte": value, "$lt": after_prefix(value)}}


def _uri(scope: Scope, condition: Condition) -> dict:
    """Exact; ``:below`` the value and anything under it by path segment; ``:above``
    the value and its parents."""
    matches = []
    for value in condition.values:
        if condition.modifier == "below":
            base = value if value.endswith("/") else value + "/"
            matches.append({"$and": [{"u": {"$gte": value, "$lt": after_prefix(base)}},
                                     {"$or": [{"u": value}, {"u": {"$gte": base}}]}]})
        elif condition.modifier == "above":
            matches.append({"u": {"$in": uri_segments(value)}})
        else:
            matches.append({"u": value})
    return _rows("uri", condition.param, matches)


#: The smallest margin of ``ap`` on a date: a day.
_DAY_US = 86_400_000_000


def _date_range(value: RangeValue, low: str, high: str) -> dict:
    """One prefixed date against indexed ranges [low, high] (search.html#prefix read
    for ranges); the same rules as ``sqlite_conditions._date_range``."""
    s_low, s_high, prefix = int(value.low), int(value.high), value.prefix
    eq = _all([{low: {"$gte": s_low}}, {low: {"$lte": s_high}}, {high: {"$lte": s_high}}])
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return {"$nor": [eq]}
    if prefix == "gt":
        return {high: {"$gt": s_high}}
    if prefix == "lt":
        return {low: {"$lt": s_low}}
    if prefix == "ge":
        return _all([{high: {"$gte": s_low}},
                     {"$or": [{high: {"$gt": s_high}}, {low: {"$gte": s_low}}]}])
    if prefix == "le":
        return _all([{low: {"$lte": s_high}},
                     {"$or": [{low: {"$lt": s_low}}, {high: {"$lte": s_high}}]}])
    if prefix == "sa":
        return {low: {"$gt": s_high}}
    if prefix == "eb":
        return {high: {"$lt": s_low}}
    now = int(time.time() * 1_000_000)
    margin = max(abs(now - (s_low + s_high) // 2) // 10, _DAY_US)
    return _all([{low: {"$lte": s_high + margin}}, {high: {"$gte": s_low - margin}}])


def _date(scope: Scope, condition: Condition) -> dict:
    return _rows("dt", condition.param,
                 [_date_range(v, "lo", "hi") for v in condition.values])


def _last_updated(scope: Scope, condition: Condition) -> dict:
    """``_lastUpdated``: the document's ``lu``, an instant (low = high)."""
    return _any([_date_range(v, "lu", "lu") for v in condition.values])


def _number_range(value: RangeValue, f: Fields) -> dict:
    """One prefixed number against the element's compare bounds (computed at write
    time, ``mongo_documents.compare_bounds``); as ``sqlite_conditions._number_range``."""
    s_low, s_high, prefix = value.low, value.high, value.prefix
    t_low, t_high = f["cmp_low"], f["cmp_high"]
    eq = _all([{t_low: {"$gte": s_low}}, {t_high: {"$lt": s_high}}])
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return {"$nor": [eq]}
    if prefix == "ap":
        middle = (s_low + s_high) / 2
        margin = max(abs(middle) / 10, (s_high - s_low) / 2)
        return _all([{t_low: {"$lte": middle + margin}}, {t_high: {"$gte": middle - margin}}])
    field, operator = {"gt": (t_high, "$gt"), "ge": (t_high, "$gte"), "lt": (t_low, "$lt"),
                       "le": (t_low, "$lte"), "sa": (t_low, "$gt"),
                       "eb": (t_high, "$lt")}[prefix]
    return {field: {operator: s_low}}


def _number(scope: Scope, condition: Condition) -> dict:
    return _rows("num", condition.param,
                 [_number_range(v, _PLAIN) for v in condition.values])


def _quantity_value(value: RangeValue, f: Fields) -> dict:
    """The number part as for numbers; ``|system|code`` both, ``||code`` the code or
    the unit in any system."""
    terms = [_number_range(value, f)]
    if value.system is not None:
        terms.append({f["system"]: value.system})
        if value.code is not None:
            terms.append({f["code"]: value.code})
    elif value.code is not None:
        terms.append({"$or": [{f["code"]: value.code}, {f["unit"]: value.code}]})
    return _all(terms)


def _quantity(scope: Scope, condition: Condition) -> dict:
    return _rows("qty", condition.param,
                 [_quantity_value(v, _PLAIN) for v in condition.values])


#: parameter type -> the array of its rows (search.html#missing).
_ARRAYS = {"token": "tok", "string": "str", "reference": "ref", "date": "dt",
           "number": "num", "quantity": "qty", "uri": "uri", "composite": "cmp"}


def _missing(scope: Scope, condition: Condition) -> dict:
    """Whether the resource has no element of the parameter; a reference given only by
    identifier is present too (its ``<code>:identifier`` tokens)."""
    array = _ARRAYS.get(condition.modifier or "")
    if array is None:
        raise ValueError(f"no index for parameter type {condition.modifier!r}")
    present = [{array: {"$elemMatch": {"p": condition.param}}}]
    if array == "ref":
        present.append({"tok": {"$elemMatch": {"p": condition.param + ":identifier"}}})
    return {"$nor": present} if condition.values == (True,) else _any(present)


def _part_value(part: Condition, f: Fields) -> dict:
    (value,) = part.values
    kind = part.kind
    if kind == "token":
        return _token_value(value, f)
    if kind == "reference":
        return _reference_value(value, f)
    if kind == "string":
        return _string_value(value, None, f)
    if kind == "uri":
        return {f["uri"]: value}
    if kind == "date":
        return _date_range(value, f["low"], f["high"])
    if kind == "number":
        return _number_range(value, f)
    if kind == "quantity":
        return _quantity_value(value, f)
    raise ValueError(f"unsupported composite component kind {kind!r}")


def _composite(scope: Scope, condition: Condition) -> dict:
    """Both parts on the SAME element (the same base item, search.html#composite)."""
    return _rows("cmp", condition.param,
                 [{"$and": [_part_value(first, _PART_A), _part_value(second, _PART_B)]}
                  for first, second in condition.values])


def _step(scope: Scope, query: SearchQuery, extra: list[dict], projection: dict) -> list[dict]:
    """The documents of an inner query (a chain's targets, ``_has`` sources), visible to
    the caller, at most ``scope.max_ids``: more is refused rather than run unbounded."""
    if scope.find is None:
        raise ValueError("chains need a finder")
    inner = Scope(query.type, scope.access, scope.find, scope.max_ids)
    filter = resource_filter(inner, query.conditions)
    filter["$and"].extend(extra)
    docs = scope.find(filter, projection, scope.max_ids + 1)
    if len(docs) > scope.max_ids:
        raise FhirError(400, "too-costly",
                        f"a chained or _has search on {query.type} matches more than "
                        f"{scope.max_ids} resources; narrow it with more criteria")
    return docs


def _chain(scope: Scope, condition: Condition) -> dict:
    """The resources referring through the parameter to a matching resource: the
    matching targets' ids first, then an indexed ``$in`` on the references."""
    matches = []
    for link in condition.values:
        ids = [doc["id"] for doc in _step(scope, link.query, [], {"id": 1})]
        matches.append({"tt": link.query.type, "ti": {"$in": ids}})
    return _rows("ref", condition.param, matches)


def _has(scope: Scope, condition: Condition) -> dict:
    """The resources some matching ``Has.query`` resource refers to through
    ``Has.param``: those sources' references first, then the ids."""
    (link,) = condition.values
    points = {"p": link.param, "tt": scope.type}
    docs = _step(scope, link.query, [{"ref": {"$elemMatch": points}}], {"ref": 1})
    ids = {row.get("ti") for doc in docs for row in doc.get("ref") or ()
           if row.get("p") == link.param and row.get("tt") == scope.type}
    ids.discard(None)
    return _keys(scope.type, sorted(ids))


BUILDERS: dict[str, Builder] = {
    "id": _id,
    "token": _token,
    "reference": _reference,
    "string": _string,
    "uri": _uri,
    "date": _date,
    "last_updated": _last_updated,
    "number": _number,
    "quantity": _quantity,
    "composite": _composite,
    "missing": _missing,
    "chain": _chain,
    "has": _has,
}
