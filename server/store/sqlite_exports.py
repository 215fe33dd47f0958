"""Bulk export jobs for the SQLite adapter (the port's contract, "Bulk exports"), as
functions over a connection; ``SqliteStore`` and ``SqliteUnitOfWork`` delegate to them.

Table ``export_job``: one row per job, its body kept as the bytes given. Writes run
inside a unit of work (which holds the write lock from ``BEGIN IMMEDIATE`` to its
commit), so a worker's progress and its lease check commit together.
"""

from __future__ import annotations

import sqlite3

from server.store.port import ExportJob

_COLUMNS = "id, client_id, status, created_us, expires_us, body"
_SAVE = (f"INSERT OR REPLACE INTO export_job ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)")


def save(conn: sqlite3.Connection, job: ExportJob) -> None:
    conn.execute(_SAVE, (job.id, job.client_id, job.status, job.created_us, job.expires_us,
                         job.body))


def delete(conn: sqlite3.Connection, id: str) -> None:
    conn.execute("DELETE FROM export_job WHERE id = ?", (id,))


def get(conn: sqlite3.Connection, id: str) -> ExportJob | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM export_job WHERE id = ?", (id,)).fetchone()
    return _job(row) if row else None


def jobs(conn: sqlite3.Connection, statuses: tuple[str, ...], client_id: str | None,
         expires_before: int | None, limit: int) -> list[ExportJob]:
    where, args = [], []
    if statuses:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        args.extend(statuses)
    if client_id is not None:
        where.append("client_id = ?")
        args.append(client_id)
    if expires_before is not None:
        where.append("expires_us > 0 AND expires_us < ?")
        args.append(expires_before)
    sql = f"SELECT {_COLUMNS} FROM export_job"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = conn.execute(sql + " ORDER BY created_us, id LIMIT ?", [*args, limit]).fetchall()
    return [_job(row) for row in rows]


def _job(row: tuple) -> ExportJob:
    return ExportJob(row[0], row[1], row[2], row[3], row[4], bytes(row[5]))
