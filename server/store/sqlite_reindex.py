"""Reindexing a SQLite store in place: the port's ``reindex`` hooks (``port.py``) as
plain functions, which ``SqliteStore`` delegates to.

A batch is read on the store's own connection (no lock held while the caller
recomputes its index values) and written in a unit of work, where each resource's
current version is checked again: a resource updated or deleted in between keeps what
its own write gave it. The rows are replaced through the unit of work's ``clear_indexes``
and ``buffer_index``, the code ``write`` uses, minus the version row and outbox event.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from server.store.port import IndexUpdate, StoredVersion

if TYPE_CHECKING:
    from server.store.sqlite import SqliteUnitOfWork

_CHUNK = 500  # ids per IN (...) list, well below SQLite's variable limit

_BATCH = (
    "SELECT r.rid, r.id, r.version, r.last_updated, v.body, v.method FROM resource r "
    "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version "
    "WHERE r.type = ? AND r.rid > ? AND r.deleted = 0 ORDER BY r.rid LIMIT ?"
)


def stored_types(conn: sqlite3.Connection) -> list[str]:
    """Every type stored, read off the ``resource_type`` index alone."""
    return [row[0] for row in conn.execute("SELECT DISTINCT type FROM resource ORDER BY type")]


def current_batch(conn: sqlite3.Connection, type: str, after: int,
                  limit: int) -> list[tuple[int, StoredVersion]]:
    """Current, non-deleted versions of ``type`` with rid > ``after``, by rid (the
    ``resource_type`` index holds them in that order)."""
    rows = conn.execute(_BATCH, (type, after, limit)).fetchall()
    return [(rid, StoredVersion(type, id, version, last_updated, False, body, method))
            for rid, id, version, last_updated, body, method in rows]


def replace_indexes(uow: SqliteUnitOfWork, updates: list[IndexUpdate]) -> int:
    """Replace, inside ``uow``, the index rows and access keys of every update whose
    version is still current and not deleted; the number replaced."""
    targets: list[tuple[int, IndexUpdate]] = []
    by_type: dict[str, list[IndexUpdate]] = {}
    for update in updates:
        by_type.setdefault(update.type, []).append(update)
    for type, group in by_type.items():
        for start in range(0, len(group), _CHUNK):
            chunk = group[start:start + _CHUNK]
            current = {id: (rid, version) for rid, id, version in uow.conn.execute(
                "SELECT rid, id, version FROM resource WHERE type = ? AND deleted = 0 "
                f"AND id IN ({','.join('?' * len(chunk))})", (type, *(u.id for u in chunk)))}
            for update in chunk:
                rid, version = current.get(update.id, (None, None))
                if version == update.version:  # else deleted or written since: indexed
                    targets.append((rid, update))
    uow.clear_indexes([rid for rid, _ in targets])
    for rid, update in targets:
        uow.buffer_index(rid, update.type, update.index, update.access_keys)
    return len(targets)
