"""SQL for search and history on the SQLite index tables (see ``schema.sql``).

Every value reaches SQLite as a bound parameter; only fixed fragments are concatenated.
The access filter is one more condition of the same query, so totals and pages count
only what the caller may see.
"""

from __future__ import annotations

import sqlite3

from server.search.query import HistoryQuery, SearchQuery
from server.store.port import AccessFilter, HistoryPage, SearchPage, StoredVersion
from server.store.sqlite_conditions import Target, drives
from server.store.sqlite_conditions import where as conditions_where

_SELECT = (
    "SELECT r.rid, r.id, r.version, r.last_updated, v.body, v.method FROM resource r "
    "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version"
)


def search(conn: sqlite3.Connection, query: SearchQuery, access: AccessFilter) -> SearchPage:
    # With an indexed condition to start from, keep SQLite off the type index ("+"):
    # walking every resource of the type would make each lookup grow with the store.
    driven = any(drives(c) for c in query.conditions)
    where, args = ["+r.type = ?" if driven else "r.type = ?", "r.deleted = 0"], [query.type]
    fragments, values = conditions_where(Target(query.type, access=access), query.conditions)
    where += fragments
    args += values
    _restrict(where, args, "r.rid", access)
    total = None
    if query.total:
        total = conn.execute(f"SELECT count(*) FROM resource r WHERE {' AND '.join(where)}",
                             args).fetchone()[0]
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
    matches = [StoredVersion(query.type, row[1], row[2], row[3], False, row[4], row[5])
               for row in rows]
    first, last = (rows[0][0], rows[-1][0]) if rows else (None, None)
    backward = query.before is not None
    has_next = more if not backward else True
    has_previous = (query.cursor is not None) if not backward else more
    return SearchPage(matches, total,
                      next_cursor=(last,) if rows and has_next else None,
                      previous_cursor=(first,) if rows and has_previous else None)


def _restrict(where: list[str], args: list, rid: str, access: AccessFilter) -> None:
    """The access gate's filter as one more condition of the query (None: no filter)."""
    if access.keys is not None:
        keys = sorted(access.keys)
        where.append(f"{rid} IN (SELECT rid FROM resource_access WHERE key IN "
                     f"({','.join('?' * len(keys))}))")
        args.extend(keys)


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
    _restrict(where, args, "v.rid", access)
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
