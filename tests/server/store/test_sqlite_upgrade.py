"""A SQLite store made by an earlier release opens with today's schema."""

from __future__ import annotations

import sqlite3

from server.store import AccessFilter, Delivery, open_store


def test_access_keys_made_before_the_basis_get_the_column_and_keep_their_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE resource_access (key TEXT NOT NULL, rid INTEGER NOT NULL, "
                     "PRIMARY KEY (key, rid)) WITHOUT ROWID")
        conn.execute("INSERT INTO resource_access (key, rid) VALUES ('inst:A', 1)")
    store = open_store(f"sqlite:///{path}")
    try:
        store.init()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT key, rid, basis FROM resource_access").fetchall() == [
                ("inst:A", 1, "")]
        store.init()  # and again: nothing to add
        assert store.basis([("Patient", "x")], AccessFilter(frozenset({"inst:A"}))) == {}
    finally:
        store.close()


def test_a_store_made_before_subscriptions_gets_their_tables_and_keeps_its_timers(tmp_path):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    store.init()
    with store.unit_of_work() as uow:
        uow.set_timer("rekey:Patient/a", 100)
        uow.commit()
    store.close()
    with sqlite3.connect(path) as conn:  # the file as an earlier release left it
        conn.execute("DROP TABLE subscription_event")
        conn.execute("DROP TABLE subscription_delivery")
    store = open_store(f"sqlite:///{path}")
    try:
        store.init()
        with store.unit_of_work() as uow:
            assert uow.add_notification("s", "https://t.example/t", "Flag/x/_history/1", 5) == 1
            uow.commit()
        assert store.delivery("s") == Delivery("s", count=1)
        assert [n.number for n in store.notifications("s", 0)] == [1]
        assert store.due_timers(1000) == [("rekey:Patient/a", 100)]
    finally:
        store.close()
