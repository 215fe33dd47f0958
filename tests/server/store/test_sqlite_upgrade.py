"""A SQLite store made by an earlier release opens with today's schema."""

from __future__ import annotations

import sqlite3

from server.store import AccessFilter, open_store


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
