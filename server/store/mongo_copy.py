"""Copying a whole MongoDB store version by version: the port's ``export_versions``,
``import_versions``, ``last_seq``, ``version_count`` and ``consumers`` as plain
functions on a pymongo ``Database`` (``MongoStore`` delegates to them; the document
design is in ``server/store/mongo.py`` and ``mongo_documents.py``).

On a real MongoDB an import runs in a transaction when given a ``session``. Without one
(a standalone server, mongomock in tests) it is still safe to re-run: each version's
``versions`` document is written last, so a version whose import was cut short is
imported again, and every other write of it is an idempotent replace or ``$max``.

A version document carries its outbox position (``pos``), which the copy keeps.
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from server.store.mongo_documents import access_keys_of, index_fields, index_from_document
from server.store.port import CopiedVersion, NewVersion

Session = Any  # a pymongo ClientSession (optional everywhere)


# -- export ----------------------------------------------------------------------------

def export_versions(db: Any, after_seq: int, limit: int,
                    session: Session | None = None) -> list[CopiedVersion]:
    """Up to ``limit`` versions after ``after_seq``. A version is current when the
    ``resources`` document still holds its number; that document (read atomically)
    gives its index and access keys. A version read as not current always has a later
    version that a later batch copies."""
    docs = list(db.versions.find({"seq": {"$gt": after_seq}}, sort=[("seq", 1)],
                                 limit=limit, session=session))
    if not docs:
        return []
    names = sorted({f"{d['type']}/{d['id']}" for d in docs})
    heads = {h["_id"]: h for h in db.resources.find({"_id": {"$in": names}}, session=session)}
    copied = []
    for d in docs:
        head = heads.get(f"{d['type']}/{d['id']}")
        current = head is not None and head["version"] == d["version"]
        copied.append(CopiedVersion(d["seq"], d["pos"], NewVersion(
            d["type"], d["id"], d["version"], d["last_updated"], d["lu"], d["method"],
            None if d.get("body") is None else bytes(d["body"]),
            index_from_document(head) if current else None,
            access_keys_of(head) if current else {})))
    return copied


# -- import ----------------------------------------------------------------------------

def import_versions(db: Any, batch: list[CopiedVersion], session: Session | None = None) -> None:
    """Write ``batch`` in seq order; in one transaction when ``session`` is given."""
    ordered = sorted(batch, key=lambda c: c.seq)
    if session is None:
        for copied in ordered:
            _import_version(db, copied, None)
        return
    session.with_transaction(lambda s: [_import_version(db, c, s) for c in ordered],
                             read_concern=ReadConcern("snapshot"),
                             write_concern=WriteConcern("majority"))


def _import_version(db: Any, copied: CopiedVersion, session: Session | None) -> None:
    v = copied.version
    key, name = f"{v.type}/{v.id}/{v.version}", f"{v.type}/{v.id}"
    if db.versions.find_one({"_id": key}, {"_id": 1}, session=session) is not None:
        return  # already imported
    head = db.resources.find_one({"_id": name}, {"version": 1, "rid": 1}, session=session)
    current = head["version"] if head else 0
    # version == current: an import of this version cut short (no transaction) resumes
    if v.version != current + 1 and not (head is not None and v.version == current):
        raise ValueError(f"{name}: version {v.version} does not follow the current one "
                         f"({current or 'none'})")
    if db.versions.find_one({"seq": copied.seq}, {"_id": 1}, session=session) is not None:
        raise ValueError(f"seq {copied.seq} ({key}) is taken by another version")
    event = {"type": v.type, "id": v.id, "version": v.version, "method": v.method,
             "at": v.last_updated}
    taken = db.outbox.find_one({"_id": copied.outbox_position}, session=session)
    if taken is not None and {k: taken.get(k) for k in event} != event:
        raise ValueError(f"outbox position {copied.outbox_position} ({key}) is taken by "
                         "another event")
    rid = head["rid"] if head else db.counters.find_one_and_update(
        {"_id": "writer"}, {"$inc": {"rid": 1}}, upsert=True,
        return_document=ReturnDocument.AFTER, session=session)["rid"]
    db.outbox.replace_one({"_id": copied.outbox_position}, event, upsert=True,
                          session=session)
    current_index = None if v.deleted else v.index
    db.resources.replace_one({"_id": name}, {
        "type": v.type, "id": v.id, "rid": rid, "version": v.version,
        "last_updated": v.last_updated, "lu": v.updated_us, "deleted": v.deleted,
        "method": v.method, "body": v.body, **index_fields(current_index, v.access_keys)},
        upsert=True, session=session)
    db.counters.update_one({"_id": "writer"}, {"$max": {"seq": copied.seq,
                                                        "position": copied.outbox_position}},
                           upsert=True, session=session)
    db.versions.insert_one({
        "_id": key, "seq": copied.seq, "rid": rid, "type": v.type, "id": v.id,
        "version": v.version, "last_updated": v.last_updated, "lu": v.updated_us,
        "method": v.method, "deleted": v.deleted, "body": v.body,
        "pos": copied.outbox_position}, session=session)


# -- figures ---------------------------------------------------------------------------

def last_seq(db: Any, session: Session | None = None) -> int:
    doc = db.versions.find_one({}, {"seq": 1}, sort=[("seq", -1)], session=session)
    return 0 if doc is None else doc["seq"]


def version_count(db: Any, session: Session | None = None) -> int:
    return db.versions.count_documents({}, session=session)


def consumers(db: Any, session: Session | None = None) -> dict[str, int]:
    return {d["_id"]: d["position"] for d in db.outbox_consumers.find(session=session)}
