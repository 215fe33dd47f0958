"""Leases and fenced acknowledgements for the SQLite adapter (the port's contract,
"Leases").

Taking a lease is one UPSERT statement. SQLite runs every write statement under the
database's write lock, so processes racing for a lease are serialised and exactly one
of them wins; there is no read-then-write window to race in.

The fencing check of ``ack`` runs inside a unit of work, which holds the write lock
(``BEGIN IMMEDIATE``) from its start to its commit: no other process can take the lease
between the check and the commit, so checking owner and token is enough. An expired
lease that nobody has taken yet still passes: the token, not the clock, is the fence.

Expiry is wall-clock time (``server/clock.py``), which every process on the machine
shares.
"""

from __future__ import annotations

import sqlite3

from server import clock
from server.store.port import Lease, LeaseLost

_ACQUIRE = (
    "INSERT INTO lease (name, owner, token, expires_us) VALUES (:name, :owner, 1, :expires) "
    "ON CONFLICT (name) DO UPDATE SET "
    "token = CASE WHEN lease.owner IS excluded.owner THEN lease.token ELSE lease.token + 1 END, "
    "owner = excluded.owner, expires_us = excluded.expires_us "
    "WHERE lease.owner IS excluded.owner OR lease.expires_us <= :now "
    "RETURNING token, expires_us"
)
_RELEASE = ("UPDATE lease SET owner = NULL, expires_us = 0 "
            "WHERE name = ? AND owner = ? AND token = ?")
_HELD = "SELECT 1 FROM lease WHERE name = ? AND owner = ? AND token = ?"
_ACK = ("INSERT INTO outbox_consumer (name, position) VALUES (?, ?) ON CONFLICT (name) "
        "DO UPDATE SET position = max(position, excluded.position)")


def acquire(conn: sqlite3.Connection, name: str, owner: str,
            ttl_seconds: float) -> Lease | None:
    """Take or renew lease ``name`` (one statement, in the caller's unit of work); None
    if held by another owner and unexpired."""
    if not owner:
        raise ValueError("a lease needs a non-empty owner")
    _, now = clock.now()
    expires = now + int(ttl_seconds * 1_000_000)
    rows = conn.execute(_ACQUIRE, {"name": name, "owner": owner, "expires": expires,
                                   "now": now}).fetchall()
    if not rows:
        return None
    token, expires_us = rows[0]
    return Lease(name, owner, token, expires_us)


def release(conn: sqlite3.Connection, lease: Lease) -> None:
    """Free ``lease`` if it is still held with its token. The row stays (owner NULL) so
    the next holder's token continues from it."""
    conn.execute(_RELEASE, (lease.name, lease.owner, lease.token))


def ack(conn: sqlite3.Connection, consumer: str, position: int,
        lease: Lease | None = None) -> None:
    """Acknowledge ``position`` inside the unit of work whose connection is ``conn``,
    after checking ``lease`` (if given) is still held with its token."""
    if lease is not None and conn.execute(
            _HELD, (lease.name, lease.owner, lease.token)).fetchone() is None:
        raise LeaseLost(f"lease {lease.name!r} is no longer held with token {lease.token}")
    conn.execute(_ACK, (consumer, position))
