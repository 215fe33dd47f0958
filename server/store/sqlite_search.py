"""SQL for search and history on the SQLite index tables (see ``schema.sql``).

Every value reaches SQLite as a bound parameter; only fixed fragments are concatenated.
The access filter is one more condition of the same query, so totals and pages count
only what the caller may see.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace

from server.search.query import HistoryQuery, SearchQuery, SortKey
from server.store.port import AccessFilter, HistoryPage, SearchPage, StoredVersion
from server.store.sqlite_conditions import (
    SAMPLE,
    Target,
    drives,
    resource_where,
    restrict,
    sample,
)
from server.store.sqlite_include import Found, included

_SELECT = (
    "SELECT r.rid, r.id, r.version, r.last_updated, v.body, v.method FROM resource r "
    "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version"
)


#: Rows a broad search walks at most for its page (see ``_walk``).
WALK = 1000


def search(conn: sqlite3.Connection, query: SearchQuery, access: AccessFilter) -> SearchPage:
    """One page of ``query``'s matches, its total and its included resources, all read
    on ``conn``'s current transaction (one snapshot).

    Pages are keyset-paged (never OFFSET): a position is the boundary row's sort values
    followed by its ``rid``, so a resource created or deleted between two pages neither
    shifts nor duplicates entries. The total is counted when asked (``query.total``) and
    otherwise only when it is free: a first page that holds every match.
    """
    target = Target(query.type, access=access)
    page = None
    if not query.sort and _broad(conn, target, query.conditions):
        where, args = resource_where(replace(target, form="exists"), query.conditions,
                                     driven=False)
        page = _walk(conn, query, where, args)
    if page is None:
        where, args = resource_where(target, query.conditions,
                                     any(drives(c) for c in query.conditions))
        page = (_sorted_rows if query.sort else _rows)(conn, query, where, args)
    rows, more = page
    backward = query.before is not None
    total = None
    if query.total:
        total = conn.execute(f"SELECT count(*) FROM resource r WHERE {' AND '.join(where)}",
                             args).fetchone()[0]
    elif query.cursor is None and not backward and not more:
        total = len(rows)  # the first page holds every match: the total costs nothing
    matches = [StoredVersion(query.type, row[1], row[2], row[3], False, row[4], row[5])
               for row in rows]
    first, last = (_position(rows[0]), _position(rows[-1])) if rows else (None, None)
    has_next = more if not backward else True
    has_previous = (query.cursor is not None) if not backward else more
    extra = []
    if query.includes and rows:
        found = [Found(row[0], query.type, row[1]) for row in rows]
        extra = included(conn, query.includes, found, access)
    return SearchPage(matches, total,
                      next_cursor=last if rows and has_next else None,
                      previous_cursor=first if rows and has_previous else None,
                      included=extra)


def _walk(conn: sqlite3.Connection, query: SearchQuery, where: list[str],
          args: list) -> tuple[list[tuple], bool] | None:
    """The page of a broad search (every condition matches many resources): walk the
    type's resources in rid order and probe each, which finds a page after a few dozen
    rows where listing every match first would cost them all. At most ``WALK`` rows
    (or 20 per entry of the page) are walked; None when they held less than a page
    and the type goes on (the matches are then sparse, and listing them is cheaper)."""
    backward = query.before is not None
    order, position = ("DESC", query.before) if backward else ("ASC", query.cursor)
    ahead = "<" if backward else ">"
    start, start_args = "", []
    if position is not None:
        start, start_args = f" AND r.rid {ahead} ?", [position[-1]]
    walk_where, walk_args = [*where, start.removeprefix(" AND ")] if start else list(where), \
        [*args, *start_args]
    window = max(WALK, 20 * (query.count + 1))
    last = conn.execute(  # the last row the walk may reach (None: the type ends first)
        f"SELECT rid FROM resource r WHERE r.type = ?{start} ORDER BY r.rid {order} "
        "LIMIT 1 OFFSET ?", [query.type, *start_args, window - 1]).fetchone()
    if last is not None:
        walk_where.append(f"r.rid {'>=' if backward else '<='} ?")
        walk_args.append(last[0])
    rows = conn.execute(
        f"{_SELECT} WHERE {' AND '.join(walk_where)} ORDER BY r.rid {order} LIMIT ?",
        [*walk_args, query.count + 1]).fetchall()
    more = len(rows) > query.count
    if not more and last is not None:
        return None
    rows = rows[:query.count]
    if backward:
        rows.reverse()
    return rows, more


def _broad(conn: sqlite3.Connection, target: Target, conditions: tuple) -> bool:
    """Whether every condition that could drive the query matches many resources
    (at least ``SAMPLE`` index rows, counted by a bounded walk of its index)."""
    driving = [c for c in conditions if drives(c)]
    if not driving:
        return False
    for condition in driving:
        counted = sample(target, condition)
        if counted is None or conn.execute(*counted).fetchone()[0] < SAMPLE:
            return False
    return True


def _position(row: tuple) -> tuple:
    """A row's page position: its sort values (columns after the six of ``_SELECT``)
    and its rid."""
    return (*row[6:], row[0])


def _rows(conn: sqlite3.Connection, query: SearchQuery, where: list[str],
          args: list) -> tuple[list[tuple], bool]:
    """The page in insertion order (rid): the hot path, one indexed range scan."""
    page_where, page_args, order = list(where), list(args), "ASC"
    if query.cursor is not None:
        page_where.append("r.rid > ?")
        page_args.append(query.cursor[-1])
    elif query.before is not None:
        page_where.append("r.rid < ?")
        page_args.append(query.before[-1])
        order = "DESC"
    rows = conn.execute(
        f"{_SELECT} WHERE {' AND '.join(page_where)} ORDER BY r.rid {order} LIMIT ?",
        [*page_args, query.count + 1]).fetchall()
    more = len(rows) > query.count
    rows = rows[:query.count]
    if order == "DESC":
        rows.reverse()
    return rows, more


#: Sort value of one resource per parameter type: (table, ascending aggregate,
#: descending aggregate) over the index rows of that parameter. A multi-valued element
#: sorts by its lowest value ascending and its highest descending (search.html#sort).
_SORT_VALUES = {
    "string": ("idx_string", "min(normalized)", "max(normalized)"),
    "token": ("idx_token", "min(code)", "max(code)"),
    "date": ("idx_date", "min(low)", "max(high)"),
    "number": ("idx_number", "min(value)", "max(value)"),
    "quantity": ("idx_quantity", "min(value)", "max(value)"),
    "uri": ("idx_uri", "min(uri)", "max(uri)"),
    "reference": ("idx_reference", "min(coalesce(target_type || '/' || target_id, url))",
                  "max(coalesce(target_type || '/' || target_id, url))"),
}


def _sort_value(key: SortKey) -> tuple[str, list]:
    if key.kind == "id":
        return "r.id", []
    if key.kind == "last_updated":
        return "r.lu_us", []
    table, low, high = _SORT_VALUES[key.kind]
    return (f"(SELECT {high if key.descending else low} FROM {table} "
            "WHERE rid = r.rid AND param = ?)", [key.param])


def _sorted_rows(conn: sqlite3.Connection, query: SearchQuery, where: list[str],
                 args: list) -> tuple[list[tuple], bool]:
    """The page in ``_sort`` order: the sort values come from the index tables (one
    correlated lookup per key and match, on the ``rid`` indexes); resources without a
    value sort last; ties are broken by rid. Bodies are joined only for the page."""
    columns, sort_args = [], []
    for i, key in enumerate(query.sort):
        sql, values = _sort_value(key)
        columns.append(f"{sql} AS s{i}")
        sort_args.extend(values)
    backward = query.before is not None
    position = query.cursor if query.cursor is not None else query.before
    keyset, keyset_args = ("1", []) if position is None else \
        _keyset(query.sort, position, backward)
    order = _order(query.sort, backward)
    names = "".join(f", k.s{i}" for i in range(len(query.sort)))
    sql = (f"WITH k AS (SELECT r.rid AS rid, {', '.join(columns)} FROM resource r "
           f"WHERE {' AND '.join(where)}) "
           f"SELECT r.rid, r.id, r.version, r.last_updated, v.body, v.method{names} "
           f"FROM (SELECT * FROM k WHERE {keyset} ORDER BY {order} LIMIT ?) k "
           "JOIN resource r ON r.rid = k.rid "
           "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version "
           f"ORDER BY {order}")
    rows = conn.execute(sql, [*sort_args, *args, *keyset_args, query.count + 1]).fetchall()
    more = len(rows) > query.count
    rows = rows[:query.count]
    if backward:
        rows.reverse()
    return rows, more


def _order(keys: tuple[SortKey, ...], backward: bool) -> str:
    terms = []
    for i, key in enumerate(keys):
        descending = key.descending != backward
        terms.append(f"(k.s{i} IS NULL) {'DESC' if backward else 'ASC'}")
        terms.append(f"k.s{i} {'DESC' if descending else 'ASC'}")
    terms.append(f"k.rid {'DESC' if backward else 'ASC'}")
    return ", ".join(terms)


def _keyset(keys: tuple[SortKey, ...], position: tuple,
            backward: bool) -> tuple[str, list]:
    """Rows strictly after (or, ``backward``, before) ``position`` in the sort order
    (values ascending or descending, missing values last, then rid): the lexicographic
    comparison written out key by key, NULL-aware."""
    ors, args = [], []
    equal: list[str] = []
    equal_args: list = []
    for i, key in enumerate(keys):
        column, value = f"k.s{i}", position[i]
        beyond = _beyond(column, value, key.descending, backward)
        if beyond is not None:
            ors.append("(" + " AND ".join([*equal, beyond[0]]) + ")")
            args.extend([*equal_args, *beyond[1]])
        if value is None:
            equal.append(f"{column} IS NULL")
        else:
            equal.append(f"{column} = ?")
            equal_args.append(value)
    ors.append("(" + " AND ".join([*equal, f"k.rid {'<' if backward else '>'} ?"]) + ")")
    args.extend([*equal_args, position[-1]])
    return "(" + " OR ".join(ors) + ")", args


def _beyond(column: str, value: object, descending: bool,
            backward: bool) -> tuple[str, list] | None:
    """The condition that ``column`` comes strictly after (before) ``value``; None when
    nothing can (after a missing value, which sorts last)."""
    if not backward:
        if value is None:
            return None
        return f"({column} {'<' if descending else '>'} ? OR {column} IS NULL)", [value]
    if value is None:
        return f"{column} IS NOT NULL", []
    return f"{column} {'>' if descending else '<'} ?", [value]


def history(conn: sqlite3.Connection, query: HistoryQuery, access: AccessFilter) -> HistoryPage:
    where, args = [], []
    if query.id is not None:
        where.append("v.rid = (SELECT rid FROM resource WHERE type = ? AND id = ?)")
        args.extend((query.type, query.id))
    elif query.type is not None:
        where.append("v.type = ?")
        args.append(query.type)
    if query.since is not None:
        where.append("v.lu_us >= ?")
        args.append(query.since)
    if query.cursor is not None:
        where.append("v.seq < ?")
        args.append(query.cursor)
    restrict(where, args, "v.rid", access)
    sql = ("SELECT v.seq, r.type, r.id, v.version, v.last_updated, v.deleted, v.body, v.method "
           "FROM resource_version v JOIN resource r ON r.rid = v.rid")
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY v.seq DESC LIMIT ?", [*args, query.count + 1]).fetchall()
    more = len(rows) > query.count
    rows = rows[:query.count]
    versions = [StoredVersion(row[1], row[2], row[3], row[4], bool(row[5]), row[6], row[7])
                for row in rows]
    return HistoryPage(versions, next_cursor=rows[-1][0] if more and rows else None)
