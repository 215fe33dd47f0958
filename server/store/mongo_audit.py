"""The audit trail on MongoDB (the port's contract, "The audit trail"; the SQLite twin is
``sqlite_audit.py``).

Collection ``audit``: one lean document per entry, ``_id`` its position in the chain (so
positions are unique and position order is the ``_id`` index), ``id`` unique, and the
values auditors search on as top-level fields, left out when None so that an entry
without a patient costs nothing in the patient index. The trail's head is not here: it
lives in the writer document (``audit_count``, ``audit_hash``, ``mongo.py``), which
every unit of work takes first, so reading it and moving it are serialised with every
other write and two units never chain to the same entry.

A unit of work keeps the documents it appends and inserts them, in its transaction,
when it commits, right before it writes the head back: entries and head are one
atomic write. Inserting at commit rather than at each append is also what the mongomock
emulation (``mongo_emulated.py``) needs, as it applies a unit's writes only then, and it
costs one round trip per unit rather than per event.

Sharding: a unique ``id`` index needs the shard key as its prefix, so a sharded
``audit`` collection would have to drop it (ids are random UUIDs) or shard on ``id``.
"""

from __future__ import annotations

from pymongo.errors import PyMongoError

from server.store.port import AUDIT_GENESIS, AuditEntry, AuditPage, AuditQuery

COLLECTION = "audit"
#: Indexes of ``audit`` (name, keys, unique); ``_id`` (the position) comes with it.
INDEXES = [
    ("id", [("id", 1)], True),
    ("patient_position", [("patient", 1), ("_id", 1)], False),
    ("institution_position", [("institution", 1), ("_id", 1)], False),
    ("recorded", [("recorded_us", 1)], False),
]
#: The writer document's fields that hold the head (a projection).
HEAD_FIELDS = {"audit_count": 1, "audit_hash": 1}
#: AuditEntry fields searched with equality on any of a query's values (same names).
_FILTERS = ("patient", "institution", "client", "user", "purpose", "outcome")
_OPTIONAL = ("patient", "institution", "client", "user", "purpose")


def init(db) -> None:
    """The indexes (``create_index`` is idempotent); the collection is created with the
    others by ``MongoStore.init``."""
    for name, keys, unique in INDEXES:
        db[COLLECTION].create_index(keys, name=name, unique=unique)


def head(counters: dict | None) -> tuple[int, str]:
    """The head the writer document ``counters`` holds; ``(0, AUDIT_GENESIS)`` before
    the first entry (or before the document exists)."""
    counters = counters or {}
    return counters.get("audit_count", 0), counters.get("audit_hash", AUDIT_GENESIS)


def document(entry: AuditEntry) -> dict:
    doc = {"_id": entry.position, "id": entry.id, "recorded_us": entry.recorded_us,
           "body": entry.body, "outcome": entry.outcome}
    for field in _OPTIONAL:
        value = getattr(entry, field)
        if value is not None:
            doc[field] = value
    return doc


def entry_of(doc: dict) -> AuditEntry:
    """The entry as stored, even when a document was edited behind the store's back
    (a field removed or of another type): ``trail.check`` is what reports it."""
    return AuditEntry(doc["_id"], doc.get("id"), doc.get("recorded_us"), doc.get("body"),
                      doc.get("patient"), doc.get("institution"), doc.get("client"),
                      doc.get("user"), doc.get("purpose"), doc.get("outcome"))


def entries(db, after: int, limit: int) -> list[AuditEntry]:
    if limit < 1:
        return []
    docs = db[COLLECTION].find({"_id": {"$gt": after}}).sort("_id", 1).limit(limit)
    return [entry_of(doc) for doc in docs]


def entry(db, id: str) -> AuditEntry | None:
    doc = db[COLLECTION].find_one({"id": id})
    return entry_of(doc) if doc is not None else None


def search(db, query: AuditQuery) -> AuditPage:
    """Newest first; one entry more than the page to know whether another follows, and
    the total (when asked) over every page, ``before`` ignored."""
    filter: dict = {}
    for field in _FILTERS:
        values = getattr(query, field)
        if values:
            filter[field] = {"$in": list(values)}
    recorded = {}
    if query.since_us is not None:
        recorded["$gte"] = query.since_us
    if query.until_us is not None:
        recorded["$lt"] = query.until_us
    if recorded:
        filter["recorded_us"] = recorded
    collection = db[COLLECTION]
    total = collection.count_documents(filter) if query.total else None
    if query.before is not None:
        filter["_id"] = {"$lt": query.before}
    docs = collection.find(filter).sort("_id", -1).limit(query.count + 1)
    found = [entry_of(doc) for doc in docs]
    more = len(found) > query.count
    found = found[:query.count]
    return AuditPage(found, total, found[-1].position if more and found else None)


def absent(db, copied: list[AuditEntry], session=None) -> list[dict]:
    """The documents of ``copied`` whose position and id are both free (in the store
    and earlier in ``copied``): what an import inserts, the rest being already there."""
    if not copied:
        return []
    taken = db[COLLECTION].find(
        {"$or": [{"_id": {"$in": [e.position for e in copied]}},
                 {"id": {"$in": [e.id for e in copied]}}]},
        {"_id": 1, "id": 1}, session=session)
    positions, ids = set(), set()
    for doc in taken:
        positions.add(doc["_id"])
        ids.add(doc["id"])
    docs = []
    for e in copied:
        if e.position not in positions and e.id not in ids:
            positions.add(e.position)
            ids.add(e.id)
            docs.append(document(e))
    return docs


def insert(db, docs: list[dict], session=None) -> None:
    """Insert a unit's entries: in its transaction on MongoDB; on the mongomock
    emulation (no session, no transaction) one by one, taking back those inserted if
    one fails, so that a refused unit leaves no entry behind."""
    if not docs:
        return
    collection = db[COLLECTION]
    if session is not None:
        collection.insert_many(docs, ordered=True, session=session)
        return
    inserted = []
    try:
        for doc in docs:
            collection.insert_one(dict(doc))
            inserted.append(doc["_id"])
    except PyMongoError:
        if inserted:
            collection.delete_many({"_id": {"$in": inserted}})
        raise
