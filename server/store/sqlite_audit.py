"""The audit trail in SQLite: table ``audit_event`` (one lean row per event, its position
the primary key) and ``audit_head`` (one row: how many events, the last one's hash).
A unit of work appends on the writer connection inside its savepoint, so entries and
head move together, serialised with every other write, and a unit rolled back to its
savepoint leaves both where they were. See the port's contract, "The audit trail"."""

from __future__ import annotations

import sqlite3

from server.store.port import AUDIT_GENESIS, AuditEntry, AuditPage, AuditQuery

_COLUMNS = ("position, id, recorded_us, body, patient, institution, client, user_id, "
            "purpose, outcome")
INSERT = f"INSERT INTO audit_event ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
_SET_HEAD = ("INSERT INTO audit_head (id, count, hash) VALUES (1, ?, ?) ON CONFLICT (id) "
             "DO UPDATE SET count = excluded.count, hash = excluded.hash")
#: AuditQuery field -> column (each an equality on any of the field's values)
_FILTERS = (("patient", "patient"), ("institution", "institution"), ("client", "client"),
            ("user", "user_id"), ("purpose", "purpose"), ("outcome", "outcome"))


def head(conn: sqlite3.Connection) -> tuple[int, str]:
    """(events chained, the last one's hash); ``(0, AUDIT_GENESIS)`` before the first."""
    row = conn.execute("SELECT count, hash FROM audit_head WHERE id = 1").fetchone()
    return (row[0], row[1]) if row is not None else (0, AUDIT_GENESIS)


def set_head(conn: sqlite3.Connection, count: int, hash: str) -> None:
    conn.execute(_SET_HEAD, (count, hash))


def entries(conn: sqlite3.Connection, after: int, limit: int) -> list[AuditEntry]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM audit_event WHERE position > ? "
                        "ORDER BY position LIMIT ?", (after, limit))
    return [_entry(row) for row in rows]


def entry(conn: sqlite3.Connection, id: str) -> AuditEntry | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM audit_event WHERE id = ?", (id,)).fetchone()
    return _entry(row) if row is not None else None


def search(conn: sqlite3.Connection, query: AuditQuery) -> AuditPage:
    where: list[str] = []
    args: list[object] = []
    for field, column in _FILTERS:
        values = getattr(query, field)
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    if query.since_us is not None:
        where.append("recorded_us >= ?")
        args.append(query.since_us)
    if query.until_us is not None:
        where.append("recorded_us < ?")
        args.append(query.until_us)
    total = None
    if query.total:
        sql = "SELECT count(*) FROM audit_event" + (" WHERE " + " AND ".join(where)
                                                    if where else "")
        total = conn.execute(sql, args).fetchone()[0]
    if query.before is not None:
        where.append("position < ?")
        args.append(query.before)
    sql = (f"SELECT {_COLUMNS} FROM audit_event"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY position DESC LIMIT ?")
    found = [_entry(row) for row in conn.execute(sql, [*args, query.count + 1])]
    more = len(found) > query.count
    found = found[:query.count]
    return AuditPage(found, total, found[-1].position if more and found else None)


def import_entries(conn: sqlite3.Connection, copied: list[AuditEntry],
                   to: tuple[int, str] | None) -> None:
    conn.executemany(INSERT.replace("INSERT", "INSERT OR IGNORE", 1),
                     [row(e) for e in copied])
    if to is not None:
        conn.execute(_SET_HEAD, to)


def row(e: AuditEntry) -> tuple:
    """The ``INSERT`` parameters of an entry (a unit of work buffers them)."""
    return (e.position, e.id, e.recorded_us, e.body, e.patient, e.institution, e.client,
            e.user, e.purpose, e.outcome)


def _entry(row: tuple) -> AuditEntry:
    return AuditEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                      row[8], row[9])
