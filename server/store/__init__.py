"""Storage: the port (``port.py``) and its adapters. Nothing outside this package knows
which adapter is in use; everything calls ``open_store(url)``."""

from __future__ import annotations

import os

from server.store.port import (
    UNRESTRICTED,
    AccessFilter,
    AccessKeys,
    Delivery,
    ExportJob,
    HistoryPage,
    Lease,
    LeaseLost,
    NewVersion,
    Notification,
    OAuthClient,
    OutboxEvent,
    Reader,
    SearchPage,
    SigningKey,
    Store,
    StoredVersion,
    UnitOfWork,
)

DEFAULT_STORE = "sqlite:///var/amparo.db"

__all__ = ["UNRESTRICTED", "AccessFilter", "AccessKeys", "Delivery", "ExportJob",
           "HistoryPage", "Lease", "LeaseLost", "NewVersion", "Notification", "OAuthClient",
           "OutboxEvent", "Reader", "SearchPage", "SigningKey", "Store", "StoredVersion",
           "UnitOfWork", "open_store", "store_url"]


def store_url(url: str | None = None) -> str:
    """The store URL to use: the given one, else ``AMPARO_STORE``, else the default."""
    return url or os.environ.get("AMPARO_STORE") or DEFAULT_STORE


def open_store(url: str) -> Store:
    """An adapter for ``url``: ``sqlite:///file.db``, ``mongodb://host/db`` (a replica
    set or sharded cluster), or ``mongomock://name/db`` (in-memory, for tests only).
    Raises ValueError on others, and on a MongoDB server that cannot run transactions."""
    if url.startswith("sqlite:///"):
        from server.store.sqlite import SqliteStore

        return SqliteStore(url, durability=os.environ.get("AMPARO_SQLITE_DURABILITY", "group"))
    if url.startswith(("mongodb://", "mongodb+srv://", "mongomock://")):
        from server.store.mongo import MongoStore

        return MongoStore(url)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path/to/file.db or "
                     "mongodb://host/database")
