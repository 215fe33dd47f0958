"""SQL for ``_include`` and ``_revinclude`` (https://hl7.org/fhir/R4B/search.html#include).

Included resources come from the reference index (``idx_reference``), one query per
include parameter per round, whatever the page size (never one query per match):
``_include`` follows the references the page's resources make through a parameter,
``_revinclude`` finds the resources whose parameter references the page's resources.
``:iterate`` rounds (``include_rounds.py``) repeat the includes on what the previous
round added. Every query applies the caller's access filter, so a resource the caller
may not see is never included.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from server.search.query import Include
from server.store import include_rounds as rounds
from server.store.port import AccessFilter, StoredVersion
from server.store.sqlite_conditions import restrict

#: Bound variables per query stay far below SQLite's limit (32766).
_CHUNK = 10_000

_SELECT = (
    "SELECT r.rid, r.type, r.id, r.version, r.last_updated, v.body, v.method FROM resource r "
    "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version "
    "WHERE r.deleted = 0 AND r.rid IN ({inner})"
)


@dataclass(frozen=True, slots=True)
class Found:
    """A matched or included resource: its store row id and type, for the next round."""

    rid: int
    type: str
    id: str


def included(conn: sqlite3.Connection, includes: tuple[Include, ...], matches: list[Found],
             access: AccessFilter) -> list[StoredVersion]:
    """The resources ``includes`` add to a page of ``matches`` (``include_rounds.py``)."""

    def run(spec: Include, frontier: list[Found]):
        return [(row[0], Found(row[0], row[1], row[2]),
                 StoredVersion(row[1], row[2], row[3], row[4], False, row[5], row[6]))
                for row in _run(conn, spec, frontier, access)]

    return rounds.included(includes, [(m.rid, m) for m in matches], run)


def _run(conn: sqlite3.Connection, spec: Include, frontier: list[Found],
         access: AccessFilter) -> list[tuple]:
    if spec.reverse:
        inner, args = _reverse(spec, frontier)
    else:
        inner, args = _forward(spec, frontier)
    if inner is None:
        return []
    where, extra = [], []
    restrict(where, extra, "r.rid", access)
    sql = _SELECT.format(inner=inner) + "".join(f" AND {w}" for w in where) + " ORDER BY r.rid"
    return conn.execute(sql, [*args, *extra]).fetchall()


def _forward(spec: Include, frontier: list[Found]) -> tuple[str | None, list]:
    """Resources referenced through ``spec.source:spec.param`` by the frontier."""
    rids = [f.rid for f in frontier if f.type == spec.source][:_CHUNK]
    if not rids:
        return None, []
    sql = ("SELECT t.rid FROM idx_reference x JOIN resource t "
           "ON t.type = x.target_type AND t.id = x.target_id "
           f"WHERE x.rid IN ({','.join('?' * len(rids))}) AND x.param = ?")
    args: list = [*rids, spec.param]
    if spec.target is not None:
        sql += " AND x.target_type = ?"
        args.append(spec.target)
    return sql, args


def _reverse(spec: Include, frontier: list[Found]) -> tuple[str | None, list]:
    """``spec.source`` resources whose ``spec.param`` references a frontier resource."""
    by_type: dict[str, list[str]] = {}
    for f in frontier:
        if spec.target is None or f.type == spec.target:
            by_type.setdefault(f.type, []).append(f.id)
    if not by_type:
        return None, []
    ors, args = [], [spec.source, spec.param]
    budget = _CHUNK
    for type, ids in sorted(by_type.items()):
        ids = ids[:budget]
        budget -= len(ids)
        if not ids:
            break
        ors.append(f"(x.target_type = ? AND x.target_id IN ({','.join('?' * len(ids))}))")
        args.extend((type, *ids))
    sql = (f"SELECT x.rid FROM idx_reference x WHERE x.type = ? AND x.param = ? "
           f"AND ({' OR '.join(ors)})")
    return sql, args
