"""Copying a whole SQLite store version by version (the port's ``export_versions`` and
``import_versions``; ``server/store/migrate.py`` drives them).

A version's outbox event is found without an index on ``outbox (type, id, version)``
(every write would pay for one that only a copy uses): events and versions are
appended in the same order, one event per version, so the events of the versions after
a given seq are the events after one position, found by a binary search on the outbox
positions (each probe maps an event to its version's seq through the unique indexes).
Events are checked against the versions they are matched to; a store where the orders
disagree falls back to a lookup per version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from server.search.index import ResourceIndex
from server.store.port import CopiedVersion, NewVersion

#: Index kind (``ResourceIndex`` field) -> its table and columns, in row tuple order.
INDEX_COLUMNS = {
    "tokens": ("idx_token", ("param", "system", "code", "text")),
    "strings": ("idx_string", ("param", "normalized", "exact")),
    "references": ("idx_reference", ("param", "target_type", "target_id", "version", "url")),
    "dates": ("idx_date", ("param", "low", "high")),
    "numbers": ("idx_number", ("param", "value", "low", "high")),
    "quantities": ("idx_quantity", ("param", "system", "code", "unit", "value", "low",
                                    "high")),
    "uris": ("idx_uri", ("param", "uri")),
    "composites": ("idx_composite", ("param", "a_k1", "a_k2", "a_k3", "a_value", "a_low",
                                     "a_high", "b_k1", "b_k2", "b_k3", "b_value", "b_low",
                                     "b_high")),
}
_CHUNK = 500  # rids per IN (...) list, well below SQLite's variable limit

_VERSIONS = (
    "SELECT v.seq, v.rid, r.type, r.id, v.version, v.last_updated, v.lu_us, v.method, "
    "v.body, r.version FROM resource_version v JOIN resource r ON r.rid = v.rid "
    "WHERE v.seq > ? ORDER BY v.seq LIMIT ?"
)
_SEQ_OF = (
    "SELECT v.seq FROM resource r JOIN resource_version v ON v.rid = r.rid AND v.version = ? "
    "WHERE r.type = ? AND r.id = ?"
)


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: versions, index rows and events of one consistent state."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def export_versions(conn: sqlite3.Connection, after_seq: int, limit: int) -> list[CopiedVersion]:
    with _snapshot(conn):
        rows = conn.execute(_VERSIONS, (after_seq, limit)).fetchall()
        if not rows:
            return []
        current = [row[1] for row in rows if row[4] == row[9]]
        indexes = _indexes(conn, current)
        keys = _access_keys(conn, current)
        positions = _positions(conn, after_seq, [(row[2], row[3], row[4]) for row in rows])
    copied = []
    for seq, rid, type, id, version, last_updated, lu_us, method, body, head in rows:
        is_current = version == head
        copied.append(CopiedVersion(seq, positions[type, id, version], NewVersion(
            type, id, version, last_updated, lu_us, method, body,
            indexes.get(rid, ResourceIndex()) if is_current else None,
            keys.get(rid, {}) if is_current else {})))
    return copied


def _chunks(rids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(rids), _CHUNK):
        yield rids[start:start + _CHUNK]


def _indexes(conn: sqlite3.Connection, rids: list[int]) -> dict[int, ResourceIndex]:
    """The index rows of ``rids``, per rid, in the order they were written."""
    indexes: dict[int, ResourceIndex] = {}
    for chunk in _chunks(rids):
        marks = ",".join("?" * len(chunk))
        for kind, (table, columns) in INDEX_COLUMNS.items():
            for rid, *values in conn.execute(
                    f"SELECT rid, {', '.join(columns)} FROM {table} WHERE rid IN ({marks}) "
                    "ORDER BY rowid", chunk):
                index = indexes.setdefault(rid, ResourceIndex())
                getattr(index, kind).append(tuple(values))
    return indexes


def _access_keys(conn: sqlite3.Connection, rids: list[int]) -> dict[int, dict[str, str]]:
    keys: dict[int, dict[str, str]] = {}
    for chunk in _chunks(rids):
        marks = ",".join("?" * len(chunk))
        for key, rid, basis in conn.execute(
                f"SELECT key, rid, basis FROM resource_access WHERE rid IN ({marks})", chunk):
            keys.setdefault(rid, {})[key] = basis
    return keys


def _positions(conn: sqlite3.Connection, after_seq: int,
               versions: list[tuple[str, str, int]]) -> dict[tuple[str, str, int], int]:
    """The outbox position of each of ``versions`` (the versions after ``after_seq``)."""
    start = _last_position_up_to(conn, after_seq)
    events = conn.execute("SELECT position, type, id, version FROM outbox WHERE position > ? "
                          "ORDER BY position LIMIT ?", (start, len(versions))).fetchall()
    found = {(type, id, version): position for position, type, id, version in events}
    for key in versions:
        if key not in found:  # the orders disagree here: look the event up (a scan)
            row = conn.execute("SELECT position FROM outbox WHERE type = ? AND id = ? "
                               "AND version = ?", key).fetchone()
            if row is None:
                raise ValueError(f"{key[0]}/{key[1]} version {key[2]} has no outbox event")
            found[key] = row[0]
    return found


def _last_position_up_to(conn: sqlite3.Connection, seq: int) -> int:
    """The highest outbox position whose event belongs to a version with seq <= ``seq``
    (0 if none), by binary search: events are in the versions' order."""
    if seq <= 0:
        return 0
    low, high = 0, (conn.execute("SELECT max(position) FROM outbox").fetchone()[0] or 0) + 1
    # events at positions <= low have seq <= ``seq``; those at positions >= high have more
    while high - low > 1:
        middle = (low + high) // 2
        event = conn.execute("SELECT position, type, id, version FROM outbox WHERE "
                             "position >= ? AND position < ? ORDER BY position LIMIT 1",
                             (middle, high)).fetchone()
        if event is None:
            high = middle
            continue
        row = conn.execute(_SEQ_OF, (event[3], event[1], event[2])).fetchone()
        if row is not None and row[0] <= seq:
            low = event[0]
        else:  # an event without its version sorts last: the per-version lookup decides
            high = middle
    return low


def import_versions(conn: sqlite3.Connection, batch: list[CopiedVersion]) -> None:
    """Write ``batch`` on ``conn`` (the caller's open write transaction: the batch is
    atomic with it). Explicit seq and position values move SQLite's AUTOINCREMENT
    counters past them, so later writes continue after the copied ones."""
    outbox = []
    for copied in sorted(batch, key=lambda c: c.seq):
        version = copied.version
        if _import_version(conn, copied):
            outbox.append((copied.outbox_position, version.type, version.id, version.version,
                           version.method, version.last_updated))
    try:
        conn.executemany("INSERT INTO outbox (position, type, id, version, method, at) "
                         "VALUES (?,?,?,?,?,?)", outbox)
    except sqlite3.IntegrityError:
        raise ValueError("an outbox position of the batch is taken by another event") from None


def _import_version(conn: sqlite3.Connection, copied: CopiedVersion) -> bool:
    """Write one version; False when it is already present (nothing written)."""
    v = copied.version
    deleted = int(v.deleted)
    row = conn.execute("SELECT rid, version FROM resource WHERE type = ? AND id = ?",
                       (v.type, v.id)).fetchone()
    if row is not None and conn.execute(
            "SELECT 1 FROM resource_version WHERE rid = ? AND version = ?",
            (row[0], v.version)).fetchone():
        return False
    current = row[1] if row else 0
    if v.version != current + 1:
        raise ValueError(f"{v.type}/{v.id}: version {v.version} does not follow the current "
                         f"one ({current or 'none'})")
    if row is None:
        rid = conn.execute("INSERT INTO resource (type, id, version, last_updated, lu_us, "
                           "deleted) VALUES (?,?,?,?,?,?)",
                           (v.type, v.id, v.version, v.last_updated, v.updated_us,
                            deleted)).lastrowid
    else:
        rid = row[0]
        conn.execute("UPDATE resource SET version = ?, last_updated = ?, lu_us = ?, "
                     "deleted = ? WHERE rid = ?",
                     (v.version, v.last_updated, v.updated_us, deleted, rid))
        for table, _ in INDEX_COLUMNS.values():
            conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))
        conn.execute("DELETE FROM resource_access WHERE rid = ?", (rid,))
    try:
        conn.execute("INSERT INTO resource_version (seq, rid, type, version, last_updated, "
                     "lu_us, method, deleted, body) VALUES (?,?,?,?,?,?,?,?,?)",
                     (copied.seq, rid, v.type, v.version, v.last_updated, v.updated_us,
                      v.method, deleted, v.body))
    except sqlite3.IntegrityError:
        raise ValueError(f"seq {copied.seq} ({v.type}/{v.id} version {v.version}) is taken "
                         "by another version") from None
    if v.index is not None and not deleted:
        for kind, (table, columns) in INDEX_COLUMNS.items():
            rows = getattr(v.index, kind)
            if rows:
                conn.executemany(
                    f"INSERT INTO {table} (rid, type, {', '.join(columns)}) "
                    f"VALUES (?, ?, {', '.join('?' * len(columns))})",
                    [(rid, v.type, *r) for r in rows])
    conn.executemany("INSERT INTO resource_access (key, rid, basis) VALUES (?, ?, ?)",
                     [(key, rid, v.access_keys[key]) for key in sorted(v.access_keys)])
    return True


def last_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT max(seq) FROM resource_version").fetchone()[0] or 0


def version_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM resource_version").fetchone()[0]


def consumers(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT name, position FROM outbox_consumer ORDER BY name"))
