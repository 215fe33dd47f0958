"""The store adapters the suites run against, as store URLs.

- ``sqlite``: a real SQLite file (the embedded default);
- ``mongomock``: the MongoDB adapter on mongomock, in memory. A MongoDB server cannot
  run on the CI machines, so mongomock stands in for it there; mongomock has no
  transactions, so the adapter emulates them on it (``server/store/mongo.py``), and the
  pieces that rely on real transactions are tested directly (``test_mongo_adapter.py``);
- ``mongodb``: a real MongoDB (a replica set) when ``MONGODB_URI`` is set, each test on
  a database of its own that is dropped afterwards.

``AMPARO_TEST_STORE`` (sqlite, mongomock or mongodb) chooses the store of the HTTP
suites (``tests/conftest.py``); the storage contract runs on every available adapter.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

MONGODB_URI = os.environ.get("MONGODB_URI")
#: The adapter the HTTP suites run on.
TEST_STORE = os.environ.get("AMPARO_TEST_STORE", "sqlite")
#: For tests of SQLite's own query plans (the MongoDB adapter's are in test_mongo_*).
sqlite_only = pytest.mark.skipif(TEST_STORE != "sqlite",
                                 reason="checks the SQLite adapter's query plans")


def adapters() -> list[str]:
    return ["sqlite", "mongomock", *(["mongodb"] if MONGODB_URI else [])]


def new_store_url(kind: str, directory: Path) -> str:
    """A fresh, empty store of ``kind``."""
    if kind == "sqlite":
        return f"sqlite:///{directory / 'amparo.db'}"
    name = f"amparo_test_{uuid.uuid4().hex[:12]}"
    if kind == "mongomock":
        return f"mongomock://tests/{name}"
    if kind == "mongodb":
        if not MONGODB_URI:
            raise RuntimeError("AMPARO_TEST_STORE=mongodb needs MONGODB_URI")
        parts = urlsplit(MONGODB_URI)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    raise ValueError(f"unknown test store {kind!r}: sqlite, mongomock or mongodb")


def drop_store(url: str) -> None:
    """Drop a MongoDB test database (SQLite files go with the temporary directory)."""
    if url.startswith("sqlite:"):
        return
    from server.store.mongo import MongoStore

    store = MongoStore(url)
    try:
        store.client.drop_database(store.db.name)
    finally:
        store.close()
