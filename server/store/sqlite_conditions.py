"""SQL for the conditions of a search (``server.search.query.Condition``), one function
per condition kind, each a fragment on the resource's ``rid`` answered from an index
table (``schema.sql``), never from the stored JSON.

Every value reaches SQLite as a bound parameter; only fixed fragments are concatenated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from server.search.parse_values import uri_segments
from server.search.query import Condition, RangeValue, ReferenceValue, TokenValue
from server.search.values import normalize
from server.store.port import UNRESTRICTED, AccessFilter
from server.store.prefix import after_prefix


@dataclass(frozen=True, slots=True)
class Target:
    """What a condition's SQL is about: the resource type, the alias of its ``resource``
    row in the query, and the caller's access filter (which subqueries over other
    resources, as in chains and ``_has``, must apply too)."""

    type: str
    alias: str = "r"
    access: AccessFilter = UNRESTRICTED
    #: How a condition on an index table is written: ``in`` (the set of matching rids,
    #: for conditions that select few resources), ``exists`` (a probe per candidate
    #: row, for walking the resources in order when most of them match) or ``sample``
    #: (how many index rows match, counted up to ``SAMPLE``; see ``sample``).
    form: str = "in"

    @property
    def rid(self) -> str:
        return f"{self.alias}.rid"

    @property
    def id(self) -> str:
        return f"{self.alias}.id"


#: The bound of ``sample``: a condition matching at least this many index rows is
#: "broad" (``sqlite_search`` then walks the resources instead of listing the matches).
SAMPLE = 100


_RANGE_KINDS = frozenset({"date", "last_updated", "number", "quantity"})

#: A value kind's logical column names -> the SQL columns holding them. The kind's own
#: table uses the names as they are; a composite's two parts live in the column groups
#: ``a_*``/``b_*`` of ``idx_composite``, laid out as ``server/search/index.py`` says.
Columns = dict[str, str]
_NAMES = ("code", "system", "text", "target_id", "target_type", "url", "normalized",
          "exact", "uri", "unit", "value", "low", "high")
_PLAIN: Columns = {name: name for name in _NAMES}


def _part_columns(prefix: str) -> Columns:
    k1, k2, k3 = (f"{prefix}_k{n}" for n in (1, 2, 3))
    return {"code": k1, "system": k2, "unit": k3, "target_id": k1, "target_type": k2,
            "url": k3, "normalized": k1, "exact": k2, "uri": k1, "value": f"{prefix}_value",
            "low": f"{prefix}_low", "high": f"{prefix}_high"}


_PART_A, _PART_B = _part_columns("a"), _part_columns("b")

#: (target, condition) -> (SQL fragment, arguments)
Builder = Callable[[Target, Condition], tuple[str, list]]


def resource_where(target: Target, conditions: tuple[Condition, ...],
                   driven: bool) -> tuple[list[str], list]:
    """The WHERE terms (and arguments) on the target's ``resource`` row: its type, not
    deleted, ``conditions`` and the caller's access filter. ``driven``: a condition
    selects from an index, so SQLite is kept off the type index (``+``), whose walk
    over every resource of the type would grow with the store."""
    alias = target.alias
    terms, args = [f"{'+' if driven else ''}{alias}.type = ?", f"{alias}.deleted = 0"], \
        [target.type]
    fragments, values = where(target, conditions)
    terms += fragments
    args += values
    restrict(terms, args, target.rid, target.access)
    return terms, args


def where(target: Target, conditions: tuple[Condition, ...]) -> tuple[list[str], list]:
    """The AND-ed SQL fragments and their arguments for ``conditions`` on ``target``."""
    fragments, args = [], []
    for condition in conditions:
        builder = BUILDERS.get(condition.kind)
        if builder is None:
            raise ValueError(f"unsupported condition kind {condition.kind!r}")
        sql, values = builder(target, condition)
        fragments.append(sql)
        args.extend(values)
    return fragments, args


def restrict(where: list[str], args: list, rid: str, access: AccessFilter) -> None:
    """The access gate's filter as one more condition (nothing when unrestricted): a
    probe of ``resource_access``'s (key, rid) key per candidate row, so the query never
    lists everything the caller may see."""
    if access.keys is not None:
        keys = sorted(access.keys)
        where.append(f"EXISTS (SELECT 1 FROM resource_access WHERE key IN "
                     f"({','.join('?' * len(keys))}) AND rid = {rid})")
        args.extend(keys)


def drives(condition: Condition) -> bool:
    """Whether the condition selects from an index (so the query can start from it
    rather than from every resource of the type).

    Negations (``:not``, ``ne``, ``:missing=true``) select what the index does *not*
    hold, so they need every resource of the type and never drive. A composite always
    drives: its first part is looked up by code or id (a ``ne`` second part only narrows
    the rows found).
    """
    if condition.kind == "missing":
        return condition.values == (False,)
    if condition.modifier == "not":
        return False
    if condition.kind in _RANGE_KINDS:
        return all(value.prefix != "ne" for value in condition.values)
    return True


def _id(target: Target, condition: Condition) -> tuple[str, list]:
    """A lookup on the (type, id) key (not ``r.id IN``, which the driving query's
    ``+r.type`` would turn into a scan of every resource)."""
    ids = list(condition.values)
    return (f"{target.rid} IN (SELECT rid FROM resource WHERE type = ? AND id IN "
            f"({','.join('?' * len(ids))}))", [target.type, *ids])


def _any(values: tuple, build: Callable[[object], tuple[str, list]]) -> tuple[list[str], list]:
    """The OR-ed values of one parameter: each value's SQL fragment, and all arguments."""
    ors, args = [], []
    for value in values:
        sql, more = build(value)
        ors.append(sql)
        args.extend(more)
    return ors, args


def sample(target: Target, condition: Condition) -> tuple[str, list] | None:
    """SQL counting the index rows ``condition`` matches, up to ``SAMPLE`` (a bounded
    walk of its index); None when the condition is not a lookup on one index table."""
    if condition.kind not in _SAMPLED or not drives(condition):
        return None
    return BUILDERS[condition.kind](replace(target, form="sample"), condition)


def _rows(target: Target, table: str, param: str, ors: list[str], args: list,
          negate: bool = False) -> tuple[str, list]:
    """The rows of one parameter of ``table`` matching any of ``ors``, in the target's
    form: ``rid [NOT] IN (...)``, ``[NOT] EXISTS (...)`` probing by rid, or a count."""
    match = f"type = ? AND param = ? AND ({' OR '.join(ors)})"
    args = [target.type, param, *args]
    not_ = "NOT " if negate else ""
    if target.form == "exists":
        return (f"{not_}EXISTS (SELECT 1 FROM {table} INDEXED BY {table}_rid "
                f"WHERE rid = {target.rid} AND {match})", args)
    if target.form == "sample":
        return f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {match} LIMIT {SAMPLE})", args
    return f"{target.rid} {not_}IN (SELECT rid FROM {table} WHERE {match})", args


def _token(target: Target, condition: Condition) -> tuple[str, list]:
    """search.html#token; ``:text`` is a starts-with on the indexed display text, and
    ``:identifier`` (a reference parameter) reads the rows extraction keeps under
    ``<code>:identifier``. ``:not`` keeps resources without any matching row, including
    those without the element (search.html#modifiers)."""
    if condition.modifier == "text":
        ors, args = [], []
        for text in condition.values:
            ors.append("(text >= ? AND text < ?)")
            args.extend((text, after_prefix(text)))
        return _rows(target, "idx_token", condition.param, ors, args)
    ors, args = _any(condition.values, lambda value: _token_value(value, _PLAIN))
    param = condition.param
    if condition.modifier == "identifier":
        param += ":identifier"
    return _rows(target, "idx_token", param, ors, args, negate=condition.modifier == "not")


def _token_value(value: TokenValue, c: Columns) -> tuple[str, list]:
    """One ``[system]|[code]`` (search.html#token): ``|code`` is a code without system."""
    parts, args = [], []
    if value.code is not None:
        parts.append(f"{c['code']} = ?")
        args.append(value.code)
    if value.system == "":
        parts.append(f"{c['system']} IS NULL")
    elif value.system is not None:
        parts.append(f"{c['system']} = ?")
        args.append(value.system)
    return "(" + " AND ".join(parts or ["1"]) + ")", args


def _reference_value(value: ReferenceValue, c: Columns) -> tuple[str, list]:
    if value.url is not None:
        return f"{c['url']} = ?", [value.url]
    if value.type is None:
        return f"{c['target_id']} = ?", [value.id]
    return f"({c['target_id']} = ? AND {c['target_type']} = ?)", [value.id, value.type]


def _reference(target: Target, condition: Condition) -> tuple[str, list]:
    ors, args = _any(condition.values, lambda value: _reference_value(value, _PLAIN))
    return _rows(target, "idx_reference", condition.param, ors, args)


def _like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (``ESCAPE '\\'``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _string(target: Target, condition: Condition) -> tuple[str, list]:
    """search.html#string: starts-with on the normalised text by default (an index range,
    never a scan), ``:exact`` on the text as written (the normalised column narrows the
    lookup first: equal texts normalise alike), ``:contains`` anywhere in it."""
    ors, args = _any(condition.values,
                     lambda value: _string_value(value, condition.modifier, _PLAIN))
    return _rows(target, "idx_string", condition.param, ors, args)


def _string_value(value: str, modifier: str | None, c: Columns) -> tuple[str, list]:
    normalized = c["normalized"]
    if modifier == "exact":
        return f"({normalized} = ? AND {c['exact']} = ?)", [normalize(value), value]
    if modifier == "contains":
        return f"{normalized} LIKE ? ESCAPE '\\'", [f"%{_like(value)}%"]
    return f"({normalized} >= ? AND {normalized} < ?)", [value, after_prefix(value)]


def _uri(target: Target, condition: Condition) -> tuple[str, list]:
    """search.html#uri: exact; ``:below`` the value and anything under it by path
    segment; ``:above`` the value and its parents by path segment."""
    ors, args = [], []
    for value in condition.values:
        if condition.modifier == "below":
            # one index range [value, after value/), then by segment: value or value/...
            base = value if value.endswith("/") else value + "/"
            ors.append("(uri >= ? AND uri < ? AND (uri = ? OR uri >= ?))")
            args.extend((value, after_prefix(base), value, base))
        elif condition.modifier == "above":
            parents = uri_segments(value)
            ors.append(f"uri IN ({','.join('?' * len(parents))})")
            args.extend(parents)
        else:
            ors.append("uri = ?")
            args.append(value)
    return _rows(target, "idx_uri", condition.param, ors, args)


#: The smallest margin of ``ap`` on a date: a day.
_DAY_US = 86_400_000_000


def _date_range(value: RangeValue, low: str, high: str) -> tuple[str, list]:
    """One prefixed date value against indexed ranges ``[low, high]`` (both inclusive),
    per the table of search.html#prefix read for ranges (search.html#date).

    The extra bounds in ``ge``/``le``/``eq`` follow from the others (a range's low is
    at most its high) and let SQLite walk the low or high index instead of every row.
    ``ap`` widens the search range by 10 % of its distance from now, at least a day
    (the spec leaves the margin to the server), and matches ranges overlapping that.
    """
    s_low, s_high, prefix = int(value.low), int(value.high), value.prefix
    eq = f"({low} >= ? AND {low} <= ? AND {high} <= ?)", [s_low, s_high, s_high]
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return f"NOT {eq[0]}", eq[1]
    if prefix == "gt":
        return f"{high} > ?", [s_high]
    if prefix == "lt":
        return f"{low} < ?", [s_low]
    if prefix == "ge":
        return f"({high} >= ? AND ({high} > ? OR {low} >= ?))", [s_low, s_high, s_low]
    if prefix == "le":
        return f"({low} <= ? AND ({low} < ? OR {high} <= ?))", [s_high, s_low, s_high]
    if prefix == "sa":
        return f"{low} > ?", [s_high]
    if prefix == "eb":
        return f"{high} < ?", [s_low]
    now = int(time.time() * 1_000_000)
    margin = max(abs(now - (s_low + s_high) // 2) // 10, _DAY_US)
    return f"({low} <= ? AND {high} >= ?)", [s_high + margin, s_low - margin]


def _date(target: Target, condition: Condition) -> tuple[str, list]:
    ors, args = _any(condition.values, lambda value: _date_range(value, "low", "high"))
    return _rows(target, "idx_date", condition.param, ors, args)


def _last_updated(target: Target, condition: Condition) -> tuple[str, list]:
    """``_lastUpdated``: the store's ``lu_us`` column, an instant (low = high), looked up
    on the ``(type, lu_us)`` index."""
    ors, args = _any(condition.values, lambda value: _date_range(value, "lu_us", "lu_us"))
    return (f"{target.rid} IN (SELECT rid FROM resource WHERE type = ? "
            f"AND ({' OR '.join(ors)}))", [target.type, *args])


def _compared(c: Columns) -> tuple[str, str]:
    """The low and high an indexed number is compared by: a row is a point when its
    bounds are just the precision around its value (an integer or decimal); otherwise
    (a Range, a comparator, an open end) it is a range."""
    value, low, high = c["value"], c["low"], c["high"]
    point = f"abs(({high} - {value}) - ({value} - {low})) <= 1e-9 * max(1.0, abs({value}))"
    return (f"(CASE WHEN {point} THEN {value} ELSE {low} END)",
            f"(CASE WHEN {point} THEN {value} ELSE {high} END)")


def _number_range(value: RangeValue, c: Columns) -> tuple[str, list]:
    """One prefixed number against an indexed value (search.html#number).

    ``eq``/``ne``/``ap`` use the search value's precision (``100`` is [99.5, 100.5)); the
    other prefixes compare with the exact value (the parser made low = high = value).
    An indexed plain number is its value; an indexed Range or comparator quantity
    (``<5``) is its range, compared per the table of search.html#prefix. ``ap`` is
    within 10 % of the value (at least its precision), as the spec suggests.
    """
    s_low, s_high, prefix = value.low, value.high, value.prefix
    t_low, t_high = _compared(c)
    eq = f"({t_low} >= ? AND {t_high} < ?)", [s_low, s_high]
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return f"NOT {eq[0]}", eq[1]
    if prefix == "ap":
        middle = (s_low + s_high) / 2
        margin = max(abs(middle) / 10, (s_high - s_low) / 2)
        return f"({t_low} <= ? AND {t_high} >= ?)", [middle + margin, middle - margin]
    column, operator = {"gt": (t_high, ">"), "ge": (t_high, ">="), "lt": (t_low, "<"),
                        "le": (t_low, "<="), "sa": (t_low, ">"),
                        "eb": (t_high, "<")}[prefix]
    return f"{column} {operator} ?", [s_low]


def _number(target: Target, condition: Condition) -> tuple[str, list]:
    ors, args = _any(condition.values, lambda value: _number_range(value, _PLAIN))
    return _rows(target, "idx_number", condition.param, ors, args)


def _quantity(target: Target, condition: Condition) -> tuple[str, list]:
    """search.html#quantity: the number part as for numbers; ``|system|code`` must match
    both, ``||code`` matches the code or the unit in any system."""
    ors, args = _any(condition.values, lambda value: _quantity_value(value, _PLAIN))
    return _rows(target, "idx_quantity", condition.param, ors, args)


def _quantity_value(value: RangeValue, c: Columns) -> tuple[str, list]:
    sql, values = _number_range(value, c)
    parts = [sql]
    if value.system is not None:
        parts.append(f"{c['system']} = ?")
        values.append(value.system)
        if value.code is not None:
            parts.append(f"{c['code']} = ?")
            values.append(value.code)
    elif value.code is not None:
        parts.append(f"({c['code']} = ? OR {c['unit']} = ?)")
        values.extend((value.code, value.code))
    return "(" + " AND ".join(parts) + ")", values


#: parameter type -> the index table of its rows (search.html#missing).
_TABLES = {"token": "idx_token", "string": "idx_string", "reference": "idx_reference",
           "date": "idx_date", "number": "idx_number", "quantity": "idx_quantity",
           "uri": "idx_uri", "composite": "idx_composite"}


def _missing(target: Target, condition: Condition) -> tuple[str, list]:
    """``:missing``: whether the resource has no index row of the parameter. A reference
    given only by identifier is present too (its rows are ``<code>:identifier`` tokens)."""
    table = _TABLES.get(condition.modifier or "")
    if table is None:
        raise ValueError(f"no index for parameter type {condition.modifier!r}")
    negate = "NOT " if condition.values == (True,) else ""
    sql = f"SELECT rid FROM {table} WHERE type = ? AND param = ?"
    args = [target.type, condition.param]
    if table == "idx_reference":
        sql += " UNION ALL SELECT rid FROM idx_token WHERE type = ? AND param = ?"
        args += [target.type, condition.param + ":identifier"]
    return f"{target.rid} {negate}IN ({sql})", args


def _chain(target: Target, condition: Condition) -> tuple[str, list]:
    from server.store import sqlite_chain  # it builds its inner conditions with ``where``

    return sqlite_chain.chain(target, condition)


def _has(target: Target, condition: Condition) -> tuple[str, list]:
    from server.store import sqlite_chain

    return sqlite_chain.has(target, condition)


def _part_value(part: Condition, c: Columns) -> tuple[str, list]:
    """One component of a composite value (a one-value condition of the component's
    type) against one part column group."""
    (value,) = part.values
    kind = part.kind
    if kind == "token":
        return _token_value(value, c)
    if kind == "reference":
        return _reference_value(value, c)
    if kind == "string":
        return _string_value(value, None, c)
    if kind == "uri":
        return f"{c['uri']} = ?", [value]
    if kind == "date":
        return _date_range(value, c["low"], c["high"])
    if kind == "number":
        return _number_range(value, c)
    if kind == "quantity":
        return _quantity_value(value, c)
    raise ValueError(f"unsupported composite component kind {kind!r}")


def _composite(target: Target, condition: Condition) -> tuple[str, list]:
    """search.html#composite: both parts of a value must match the SAME index row (the
    same base item: one component of an Observation), looked up by the first part's
    code or id on ``(type, param, a_k1, a_k2)``."""
    ors, args = [], []
    for first, second in condition.values:
        sql_a, args_a = _part_value(first, _PART_A)
        sql_b, args_b = _part_value(second, _PART_B)
        ors.append(f"({sql_a} AND {sql_b})")
        args.extend(args_a + args_b)
    return _rows(target, "idx_composite", condition.param, ors, args)


#: Kinds whose builders are a lookup on one index table (``_rows``).
_SAMPLED = frozenset({"token", "string", "reference", "uri", "date", "number", "quantity",
                      "composite"})

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
