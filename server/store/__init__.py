"""Storage: the port (``port.py``) and its adapters. Nothing outside this package knows
which adapter is in use; everything calls ``open_store(url)``."""

from __future__ import annotations

import os

from server.store.port import (
    UNRESTRICTED,
    AccessFilter,
    HistoryPage,
    NewVersion,
    OutboxEvent,
    Reader,
    SearchPage,
    Store,
    StoredVersion,
    UnitOfWork,
)

DEFAULT_STORE = "sqlite:///var/amparo.db"

__all__ = ["UNRESTRICTED", "AccessFilter", "HistoryPage", "NewVersion", "OutboxEvent",
           "Reader", "SearchPage", "Store", "StoredVersion", "UnitOfWork", "open_store",
           "store_url"]


def store_url(url: str | None = None) -> str:
    """The store URL to use: the given one, else ``AMPARO_STORE``, else the default."""
    return url or os.environ.get("AMPARO_STORE") or DEFAULT_STORE


def open_store(url: str) -> Store:
    """An adapter for ``url`` (``sqlite:///file.db``); raises ValueError on others."""
    if url.startswith("sqlite:///"):
        from server.store.sqlite import SqliteStore

        return SqliteStore(url, durability=os.environ.get("AMPARO_SQLITE_DURABILITY", "group"))
    if url.startswith(("mongodb://", "mongodb+srv://")):
        raise ValueError("the MongoDB store is not available yet (issue 4)")
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path/to/file.db")
