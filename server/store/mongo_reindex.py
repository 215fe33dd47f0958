"""Reindexing a MongoDB store in place: the port's ``reindex`` hooks (``port.py``) as
plain functions, which ``MongoStore`` delegates to.

A batch is read outside any transaction (the writer document is not held while the
caller recomputes index values) on the ``type_rid`` index, and written in one unit of
work: each resource document gets the fields a write gives it (``index_fields``), on
the condition that it still holds the version read, so a resource updated or deleted
in between keeps what its own write gave it. No ``versions`` or ``outbox`` document is
written, and ``lu``/``last_updated`` stay as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.store.mongo_documents import index_fields
from server.store.mongo_search import BODY, stored
from server.store.port import IndexUpdate, StoredVersion

if TYPE_CHECKING:
    from server.store.mongo import MongoUnitOfWork


def stored_types(db: Any) -> list[str]:
    """Every type stored, read off the ``type_rid`` index alone (no filter on
    ``deleted``, which would read every document)."""
    return sorted(db.resources.distinct("type"))


def current_batch(db: Any, type: str, after: int,
                  limit: int) -> list[tuple[int, StoredVersion]]:
    """Current, non-deleted versions of ``type`` with rid > ``after``, by rid."""
    docs = db.resources.find({"type": type, "rid": {"$gt": after}, "deleted": False}, BODY,
                             sort=[("rid", 1)], limit=limit)
    return [(doc["rid"], stored(doc)) for doc in docs]


def replace_indexes(uow: MongoUnitOfWork, updates: list[IndexUpdate]) -> int:
    """Set, inside ``uow``, the search fields of every update whose version is still
    current and not deleted; the number set."""
    return sum(uow.set_index_fields(f"{u.type}/{u.id}", u.version,
                                    index_fields(u.index, u.access_keys))
               for u in updates)
