"""Subscription event logs and delivery states for the SQLite adapter (the port's
contract, "Subscriptions"), as functions over a connection; ``SqliteStore`` and
``SqliteUnitOfWork`` delegate to them.

Tables ``subscription_event`` (keyed by subscription and number) and
``subscription_delivery`` (one row per subscription). ``add_notification`` takes the
next number by bumping the delivery's count with ``RETURNING``, inside the unit of
work: the unit holds the write lock from ``BEGIN IMMEDIATE`` to its commit, so no other
unit, in this process or another, can take the same number, and a unit rolled back to
its savepoint takes its events and its count back together.

``due_deliveries`` walks two index ranges one after the other (the due rows, then the
healthy rows with a backlog not due yet, from a partial index), both in the order asked
for, so it reads no more rows than its limit; one ``OR`` would read every row and sort.
"""

from __future__ import annotations

import sqlite3

from server.store.port import Delivery, Notification

_COLUMNS = "subscription, count, delivered, due_us, failing_since_us, attempts"
_BUMP = (
    "INSERT INTO subscription_delivery (subscription, count) VALUES (?, 1) "
    "ON CONFLICT (subscription) DO UPDATE SET count = count + 1 RETURNING count"
)
_ADD = ("INSERT INTO subscription_event (subscription, number, topic, focus, at_us) "
        "VALUES (?, ?, ?, ?, ?)")
_SET = (
    "INSERT INTO subscription_delivery (subscription, delivered, due_us, failing_since_us, "
    "attempts) VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscription) DO UPDATE SET "
    "delivered = excluded.delivered, due_us = excluded.due_us, "
    "failing_since_us = excluded.failing_since_us, attempts = excluded.attempts"
)
_DUE = (
    f"SELECT {_COLUMNS} FROM subscription_delivery WHERE due_us <= :now "
    f"UNION ALL SELECT {_COLUMNS} FROM subscription_delivery "
    "WHERE count > delivered AND failing_since_us IS NULL AND due_us > :now "
    "ORDER BY due_us, subscription LIMIT :limit"
)


def add_notification(conn: sqlite3.Connection, subscription: str, topic: str, focus: str,
                     at_us: int) -> int:
    """Inside a unit of work: append the subscription's next event; its number."""
    # fetchall: the statement runs to completion (nothing left open on the connection)
    ((number,),) = conn.execute(_BUMP, (subscription,)).fetchall()
    conn.execute(_ADD, (subscription, number, topic, focus, at_us))
    return number


def set_delivery(conn: sqlite3.Connection, delivery: Delivery) -> None:
    """Inside a unit of work: store all of ``delivery`` but its count."""
    conn.execute(_SET, (delivery.subscription, delivery.delivered, delivery.due_us,
                        delivery.failing_since_us, delivery.attempts))


def delivery(conn: sqlite3.Connection, subscription: str) -> Delivery | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM subscription_delivery WHERE subscription = ?",
                       (subscription,)).fetchone()
    return Delivery(*row) if row else None


def notifications(conn: sqlite3.Connection, subscription: str, after: int,
                  limit: int) -> list[Notification]:
    rows = conn.execute(
        "SELECT subscription, number, topic, focus, at_us FROM subscription_event "
        "WHERE subscription = ? AND number > ? ORDER BY number LIMIT ?",
        (subscription, after, limit)).fetchall()
    return [Notification(*row) for row in rows]


def due_deliveries(conn: sqlite3.Connection, now_us: int, limit: int) -> list[Delivery]:
    rows = conn.execute(_DUE, {"now": now_us, "limit": limit}).fetchall()
    return [Delivery(*row) for row in rows]
