"""The MongoDB adapter of the storage port (``port.py``): for deployments that outgrow
one machine (replica sets for availability, sharded clusters for size).

Collections (``docs/deployment.md`` says how to shard them):

- ``resources``: one document per (type, id), the current state, with the current
  version's search values as arrays of small elements (``mongo_documents.py``) under
  compound multikey indexes; searches run on them (``mongo_search.py``).
- ``versions``: every version ever written, one document each, so history never grows
  the current document towards MongoDB's 16 MB limit.
- ``outbox``: one event per committed version, ``_id`` its position in commit order;
  ``outbox_consumers``: each consumer's acknowledged position; ``leases``.
- ``clients``, ``jtis``, ``signing_keys``: the auth registry (``mongo_auth.py``).
- ``timers``: one document per timer, ``_id`` its name.
- ``deliveries``, ``notifications``: each Subscription's delivery state and event log
  (``mongo_subscriptions.py``).
- ``audit``: the audit trail, one lean document per entry, ``_id`` its position
  (``mongo_audit.py``).
- ``counters``: the ``writer`` document, which every unit of work updates first inside
  its transaction. Two transactions writing one document conflict, so holding it
  serialises units of work across processes and machines (the port's "units of work
  are serialised"), and the rid, seq and outbox positions it hands out follow commit
  order. It also holds the audit trail's head (``audit_count``, ``audit_hash``):
  read when the unit takes the document and written back with its counters, so the head
  moves with the unit's audit entries and two units can never chain to the same entry.

A unit of work is a multi-document transaction: all its writes commit together or not
at all. MongoDB runs transactions only on a replica set or a sharded cluster; on a
standalone server the store refuses to open rather than write bundles non-atomically.

``mongomock://host/db`` opens an in-memory mongomock database, for tests only:
mongomock has no sessions or transactions, so units of work there are emulated (one
lock per database, an overlay and an undo log: ``mongo_emulated.py``). The same
contract suite runs against a real MongoDB when ``MONGODB_URI`` is set.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import pymongo
from pymongo.errors import CollectionInvalid, ConnectionFailure, OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from server.search.query import HistoryQuery, SearchQuery
from server.store import (
    mongo_audit,
    mongo_auth,
    mongo_copy,
    mongo_exports,
    mongo_lease,
    mongo_reindex,
    mongo_subscriptions,
)
from server.store.mongo_documents import access_fields, index_fields
from server.store.mongo_search import BODY, Searcher, stored
from server.store.port import (
    UNRESTRICTED,
    AccessFilter,
    AccessKeys,
    AuditEntry,
    AuditPage,
    AuditQuery,
    CopiedVersion,
    Delivery,
    ExportJob,
    HistoryPage,
    IndexUpdate,
    Lease,
    NewVersion,
    Notification,
    OAuthClient,
    OutboxEvent,
    SearchPage,
    SigningKey,
    Store,
    StoredVersion,
    UnitOfWork,
)

DEFAULT_DATABASE = "amparo"
COLLECTIONS = ("resources", "versions", "outbox", "outbox_consumers", "leases", "counters",
               "timers",
               "clients", "jtis", "signing_keys", mongo_audit.COLLECTION,
               *mongo_subscriptions.COLLECTIONS, mongo_exports.COLLECTION)
WRITER = "writer"
#: How long a unit of work waits for the writer document before giving up (seconds).
LOCK_TIMEOUT = 60.0

#: Indexes of ``resources``: (name, keys). A compound index holds at most one array.
RESOURCE_INDEXES = [
    ("type_rid", [("type", 1), ("rid", 1)]),
    ("rid", [("rid", 1)]),
    ("type_lu", [("type", 1), ("lu", 1)]),
    ("type_id", [("type", 1), ("id", 1)]),
    ("acc_type", [("acc", 1), ("type", 1)]),
    ("tok_code", [("type", 1), ("tok.p", 1), ("tok.c", 1), ("tok.s", 1)]),
    ("tok_text", [("type", 1), ("tok.p", 1), ("tok.t", 1)]),
    ("str_value", [("type", 1), ("str.p", 1), ("str.n", 1)]),
    ("ref_target", [("ref.ti", 1), ("ref.tt", 1), ("ref.p", 1), ("type", 1)]),
    ("ref_param", [("type", 1), ("ref.p", 1)]),
    ("ref_url", [("ref.u", 1)]),
    ("dt_low", [("type", 1), ("dt.p", 1), ("dt.lo", 1)]),
    ("dt_high", [("type", 1), ("dt.p", 1), ("dt.hi", 1)]),
    # numbers: ``a``/``b`` are the compare bounds (lt/le/eq on a, gt/ge on b)
    ("num_low", [("type", 1), ("num.p", 1), ("num.a", 1)]),
    ("num_high", [("type", 1), ("num.p", 1), ("num.b", 1)]),
    ("qty_low", [("type", 1), ("qty.p", 1), ("qty.a", 1)]),
    ("qty_high", [("type", 1), ("qty.p", 1), ("qty.b", 1)]),
    ("uri_value", [("type", 1), ("uri.p", 1), ("uri.u", 1)]),
    ("cmp_first", [("type", 1), ("cmp.p", 1), ("cmp.a.k1", 1), ("cmp.a.k2", 1)]),
]
VERSION_INDEXES = [
    ("seq", [("seq", 1)], False),  # not unique: a sharded versions collection allows none
    ("type_seq", [("type", 1), ("seq", 1)], False),
    ("type_id_seq", [("type", 1), ("id", 1), ("seq", 1)], False),
]

def _database_name(url: str) -> str:
    path = urlsplit(url).path.strip("/")
    return path.split("/")[0] or DEFAULT_DATABASE


def check_transactions(hello: dict, where: str) -> None:
    """Refuse a server that cannot run multi-document transactions: a standalone mongod
    (no ``setName``) that is not a mongos router (``msg: isdbgrid``)."""
    if hello.get("setName") or hello.get("msg") == "isdbgrid":
        return
    raise ValueError(
        f"MongoDB at {where} is a standalone server. Amparo writes every transaction "
        "bundle as one multi-document transaction, which MongoDB runs only on a replica "
        "set or a sharded cluster; a standalone server would lose that atomicity. Start "
        "mongod with --replSet rs0 and run rs.initiate() once (a one-member replica set "
        "is enough for development), then use ?replicaSet=rs0 in the store URL.")


class MongoStore(Store):
    def __init__(self, url: str):
        self.url = url
        self.mock = url.startswith("mongomock://")
        if self.mock:
            from server.store.mongo_emulated import Emulated, mock_client

            self.client = mock_client(url)
            self._emulated = Emulated.of(url, _database_name(url))
        else:
            # fail fast on an unreachable server, unless the URL sets its own timeout
            timeout = {} if "serverselectiontimeoutms" in url.lower() \
                else {"serverSelectionTimeoutMS": 10_000}
            self.client = pymongo.MongoClient(url, **timeout)
            self._emulated = None
            where = urlsplit(url).hostname or "the given address"
            try:
                hello = self.client.admin.command("hello")
            except ConnectionFailure as exc:
                self.client.close()
                raise ValueError(f"cannot reach MongoDB at {where}: {exc}") from None
            try:
                check_transactions(hello, where)
            except ValueError:
                self.client.close()
                raise
        self.db = self.client[_database_name(url)]
        self._local_writer = threading.Lock()  # units of one process queue here first

    def close(self) -> None:
        if not self.mock:
            self.client.close()

    def init(self) -> None:
        """Collections, indexes (``create_index`` is idempotent) and the writer
        document. Collections are created here rather than on first write: a sharded
        cluster cannot create one inside a transaction."""
        existing = set(self.db.list_collection_names())
        for name in COLLECTIONS:
            if name not in existing:
                with suppress(CollectionInvalid):  # another process created it first
                    self.db.create_collection(name)
        for name, keys in RESOURCE_INDEXES:
            self.db.resources.create_index(keys, name=name)
        for name, keys, unique in VERSION_INDEXES:
            self.db.versions.create_index(keys, name=name, unique=unique)
        self.db.timers.create_index([("due", 1)], name="due")
        mongo_auth.init(self.db)
        mongo_audit.init(self.db)
        mongo_subscriptions.init(self.db)
        mongo_exports.init(self.db)
        self.db.counters.update_one(
            {"_id": WRITER},
            {"$setOnInsert": {"rid": 0, "seq": 0, "position": 0, "lock": 0}}, upsert=True)

    # -- reads ---------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Searcher]:
        if self._emulated is None:
            yield Searcher(self.db.resources, self.db.versions)
        else:
            with self._emulated.reading():
                yield Searcher(self.db.resources, self.db.versions)

    def read(self, type: str, id: str) -> StoredVersion | None:
        with self._reading():
            doc = self.db.resources.find_one({"_id": f"{type}/{id}"}, BODY)
        return stored(doc) if doc else None

    def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        with self._reading():
            doc = self.db.versions.find_one({"_id": f"{type}/{id}/{version}", "id": id})
        return _version(doc) if doc else None

    def search(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED) -> SearchPage:
        with self._reading() as searcher:
            return searcher.search(query, access)

    def history(self, query: HistoryQuery, access: AccessFilter = UNRESTRICTED) -> HistoryPage:
        with self._reading() as searcher:
            return searcher.history(query, access)

    def read_visible(self, type: str, id: str, access: AccessFilter) -> StoredVersion | None:
        with self._reading() as searcher:
            return searcher.read_visible(type, id, access)

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        with self._reading() as searcher:
            return searcher.readable(type, id, access)

    def basis(self, refs: Iterable[tuple[str, str]],
              access: AccessFilter) -> dict[tuple[str, str], tuple[str, ...]]:
        with self._reading() as searcher:
            return searcher.basis(refs, access)

    def count(self, type: str | None = None) -> int:
        filter: dict = {"deleted": False}
        if type is not None:
            filter["type"] = type
        with self._reading():
            return self.db.resources.count_documents(filter)

    # -- outbox ----------------------------------------------------------------------

    def outbox(self, after: int, limit: int = 100) -> list[OutboxEvent]:
        with self._reading():
            docs = list(self.db.outbox.find({"_id": {"$gt": after}}).sort("_id", 1)
                        .limit(limit))
        return [OutboxEvent(d["_id"], d["type"], d["id"], d["version"], d["method"], d["at"])
                for d in docs]

    def outbox_position(self, consumer: str) -> int:
        with self._reading():
            doc = self.db.outbox_consumers.find_one({"_id": consumer})
        return doc["position"] if doc else 0

    def outbox_ack(self, consumer: str, position: int) -> None:
        with self._reading():
            self.db.outbox_consumers.update_one(
                {"_id": consumer}, {"$max": {"position": position}}, upsert=True)

    # -- leases ----------------------------------------------------------------------

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> Lease | None:
        with self._reading():
            return mongo_lease.acquire(self.db, name, owner, ttl_seconds)

    def release_lease(self, lease: Lease) -> None:
        with self._reading():
            mongo_lease.release(self.db, lease)

    # -- the auth registry (mongo_auth.py) ---------------------------------------------

    def save_client(self, client: OAuthClient) -> None:
        with self._reading():
            mongo_auth.save_client(self.db, client)

    def get_client(self, client_id: str) -> OAuthClient | None:
        with self._reading():
            return mongo_auth.get_client(self.db, client_id)

    def use_jti(self, issuer: str, jti: str, expires_us: int) -> bool:
        with self._reading():
            return mongo_auth.use_jti(self.db, issuer, jti, expires_us)

    def add_signing_key(self, key: SigningKey) -> None:
        with self._reading():
            mongo_auth.add_signing_key(self.db, key)

    def signing_keys(self) -> list[SigningKey]:
        with self._reading():
            return mongo_auth.signing_keys(self.db)

    # -- the audit trail (mongo_audit.py) ----------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        with self._reading():
            doc = self.db.counters.find_one({"_id": WRITER}, mongo_audit.HEAD_FIELDS)
        return mongo_audit.head(doc)

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        with self._reading():
            return mongo_audit.entries(self.db, after, limit)

    def audit_entry(self, id: str) -> AuditEntry | None:
        with self._reading():
            return mongo_audit.entry(self.db, id)

    def audit_search(self, query: AuditQuery) -> AuditPage:
        with self._reading():
            return mongo_audit.search(self.db, query)

    def import_audit(self, entries: list[AuditEntry],
                     head: tuple[int, str] | None = None) -> None:
        with self.unit_of_work() as uow:  # atomic, and serialised with the appends
            uow.import_audit(entries, head)
            uow.commit()

    # -- reindexing (mongo_reindex.py) ------------------------------------------------

    def _stored_types(self) -> list[str]:
        with self._reading():
            return mongo_reindex.stored_types(self.db)

    def _current_batch(self, type: str, after: int, limit: int
                       ) -> list[tuple[int, StoredVersion]]:
        with self._reading():
            return mongo_reindex.current_batch(self.db, type, after, limit)

    def _replace_indexes(self, updates: list[IndexUpdate]) -> int:
        with self.unit_of_work() as uow:  # serialised and atomic like any write
            replaced = mongo_reindex.replace_indexes(uow, updates)
            uow.commit()
        return replaced

    # -- copying a whole store -------------------------------------------------------

    def export_versions(self, after_seq: int, limit: int) -> list[CopiedVersion]:
        if self._emulated is not None:
            with self._reading():
                return mongo_copy.export_versions(self.db, after_seq, limit)
        with self.client.start_session(snapshot=True) as session:  # one consistent state
            return mongo_copy.export_versions(self.db, after_seq, limit, session)

    def import_versions(self, batch: list[CopiedVersion]) -> None:
        with self._local_writer:
            if self._emulated is not None:
                with self._emulated.unit_lock, self._emulated.reading():
                    mongo_copy.import_versions(self.db, batch)
                return
            with self.client.start_session() as session:
                mongo_copy.import_versions(self.db, batch, session)

    def last_seq(self) -> int:
        with self._reading():
            return mongo_copy.last_seq(self.db)

    def version_count(self) -> int:
        with self._reading():
            return mongo_copy.version_count(self.db)

    def due_timers(self, before_us: int, limit: int = 100) -> list[tuple[str, int]]:
        with self._reading():
            docs = self.db.timers.find({"due": {"$lt": before_us}},
                                       sort=[("due", 1), ("_id", 1)], limit=limit)
            return [(doc["_id"], doc["due"]) for doc in docs]

    def consumers(self) -> dict[str, int]:
        with self._reading():
            return mongo_copy.consumers(self.db)

    # -- subscriptions (mongo_subscriptions.py) ----------------------------------------

    def delivery(self, subscription: str) -> Delivery | None:
        with self._reading():
            return mongo_subscriptions.delivery(self.db, subscription)

    def notifications(self, subscription: str, after: int,
                      limit: int = 100) -> list[Notification]:
        with self._reading():
            return mongo_subscriptions.notifications(self.db, subscription, after, limit)

    def due_deliveries(self, now_us: int, limit: int = 100) -> list[Delivery]:
        with self._reading():
            return mongo_subscriptions.due_deliveries(self.db, now_us, limit)

    # -- bulk exports (mongo_exports.py) -----------------------------------------------

    def export_job(self, id: str) -> ExportJob | None:
        with self._reading():
            return mongo_exports.get(self.db, id)

    def export_jobs(self, statuses: tuple[str, ...] = (), client_id: str | None = None,
                    expires_before: int | None = None, limit: int = 100) -> list[ExportJob]:
        with self._reading():
            return mongo_exports.jobs(self.db, statuses, client_id, expires_before, limit)

    # -- writes ----------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        with self._local_writer:
            if self._emulated is not None:
                with self._emulated.unit(self.db) as uow:
                    yield uow
                return
            with self.client.start_session() as session:
                uow = _begin(self.db, session)
                try:
                    yield uow
                    if uow.committed:
                        uow.finish()
                finally:
                    _abort(session)  # anything not committed (a no-op after a commit)


def _version(doc: dict) -> StoredVersion:
    return StoredVersion(doc["type"], doc["id"], doc["version"], doc["last_updated"],
                         bool(doc["deleted"]), doc.get("body"), doc["method"])


def _abort(session) -> None:
    if session.in_transaction:
        with suppress(PyMongoError):  # the server aborts it anyway when the session ends
            session.abort_transaction()


def _commit(session, attempts: int = 5) -> None:
    """Commit, retrying while the outcome is unknown (a network error or failover
    during the commit): committing again is safe, MongoDB applies a commit once."""
    for attempt in range(attempts):
        try:
            session.commit_transaction()
            return
        except PyMongoError as exc:
            if not isinstance(exc, (OperationFailure, ConnectionFailure)) \
                    or not exc.has_error_label("UnknownTransactionCommitResult") \
                    or attempt == attempts - 1:
                raise


def _begin(db, session, timeout: float = LOCK_TIMEOUT) -> MongoUnitOfWork:
    """Start a transaction and take the writer document as its first write. A write
    conflict means another unit of work holds it: abort, back off, start again (a
    fresh snapshot that includes what that unit committed)."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        session.start_transaction(read_concern=ReadConcern("snapshot"),
                                  write_concern=WriteConcern("majority"))
        try:
            counters = db.counters.find_one_and_update(
                {"_id": WRITER}, {"$inc": {"lock": 1}}, upsert=True,
                return_document=pymongo.ReturnDocument.AFTER, session=session)
            return MongoUnitOfWork(db, session, counters)
        except OperationFailure as exc:
            _abort(session)
            if not exc.has_error_label("TransientTransactionError") \
                    or time.monotonic() > deadline:
                raise
        time.sleep(pause * (1 + random.random()))
        pause = min(pause * 2, 0.05)


class MongoUnitOfWork(Searcher, UnitOfWork):
    """Writes go to MongoDB at once, inside the session's transaction (so the unit's
    own reads and searches see them, and nobody else does until commit); the writer
    document's counters, the audit head among them, are kept here and written back on
    commit, right after the unit's audit entries are inserted (``mongo_audit.py``)."""

    def __init__(self, db, session, counters: dict | None):
        super().__init__(db.resources, db.versions, session)
        self.db = db
        self.committed = False
        counters = counters or {}
        self.rid = counters.get("rid", 0)
        self.seq = counters.get("seq", 0)
        self.position = counters.get("position", 0)
        self.audit = mongo_audit.head(counters)
        self._audit_moved = False
        self._audit_docs: list[dict] = []  # inserted on commit, with the head

    def read(self, type: str, id: str) -> StoredVersion | None:
        doc = self.resources.find_one({"_id": f"{type}/{id}"}, BODY, session=self.session)
        return stored(doc) if doc else None

    def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        doc = self.versions.find_one({"_id": f"{type}/{id}/{version}", "id": id},
                                     session=self.session)
        return _version(doc) if doc else None

    def _current(self, key: str) -> dict | None:
        return self.resources.find_one({"_id": key}, session=self.session)

    def write(self, version: NewVersion) -> None:
        key = f"{version.type}/{version.id}"
        current = self._current(key)
        if version.version == 1:
            if current is not None:
                raise ValueError(f"{key} exists: version 1 is taken")
            self.rid += 1
            rid = self.rid
        else:
            if current is None or version.version != current["version"] + 1:
                raise ValueError(f"{key}: version {version.version} does not follow the "
                                 "current one")
            rid = current["rid"]
        self.seq += 1
        self.position += 1
        deleted = version.deleted
        doc = {"_id": key, "type": version.type, "id": version.id, "rid": rid,
               "version": version.version, "last_updated": version.last_updated,
               "lu": version.updated_us, "deleted": deleted, "method": version.method,
               "body": version.body,
               **index_fields(None if deleted else version.index, version.access_keys)}
        history = {"_id": f"{key}/{version.version}", "seq": self.seq, "rid": rid,
                   "type": version.type, "id": version.id, "version": version.version,
                   "last_updated": version.last_updated, "lu": version.updated_us,
                   "method": version.method, "deleted": deleted, "body": version.body,
                   "pos": self.position}
        event = {"_id": self.position, "type": version.type, "id": version.id,
                 "version": version.version, "method": version.method,
                 "at": version.last_updated}
        self._apply(Written(key, current, doc, history, event))

    def _apply(self, written: Written) -> None:
        session = self.session
        self.resources.replace_one({"_id": written.key}, written.doc, upsert=True,
                                   session=session)
        self.versions.insert_one(written.history, session=session)
        self.db.outbox.insert_one(written.event, session=session)

    def ack(self, consumer: str, position: int, lease: Lease | None = None) -> None:
        mongo_lease.ack(self.db, self.session, consumer, position, lease)

    def set_timer(self, name: str, due_us: int | None) -> None:
        if due_us is None:
            self.db.timers.delete_one({"_id": name}, session=self.session)
        else:
            self.db.timers.replace_one({"_id": name}, {"due": due_us}, upsert=True,
                                       session=self.session)

    def timer(self, name: str) -> int | None:
        doc = self.db.timers.find_one({"_id": name}, session=self.session)
        return doc["due"] if doc else None

    def add_notification(self, subscription: str, topic: str, focus: str, at_us: int) -> int:
        return mongo_subscriptions.add_notification(self.db, self.session, subscription,
                                                    topic, focus, at_us)

    def set_delivery(self, delivery: Delivery) -> None:
        mongo_subscriptions.set_delivery(self.db, self.session, delivery)

    def delivery(self, subscription: str) -> Delivery | None:
        return mongo_subscriptions.delivery(self.db, subscription, self.session)

    def export_job(self, id: str) -> ExportJob | None:
        return mongo_exports.get(self.db, id, self.session)

    def save_export_job(self, job: ExportJob) -> None:
        mongo_exports.save(self.db, self.session, job)

    def delete_export_job(self, id: str) -> None:
        mongo_exports.delete(self.db, self.session, id)

    def set_access_keys(self, type: str, id: str, version: int,
                        keys: AccessKeys) -> bool:
        return self.set_index_fields(f"{type}/{id}", version, access_fields(keys))

    def set_index_fields(self, key: str, version: int, fields: dict) -> bool:
        """Replace the search fields (``index_fields``) of resource ``key`` while
        ``version`` is its current, non-deleted one, writing no version and no outbox
        event (``mongo_reindex.py``); False when it has changed since (nothing done)."""
        found = self.resources.update_one({"_id": key, "version": version, "deleted": False},
                                          {"$set": fields}, session=self.session)
        return found.matched_count == 1

    def audit_head(self) -> tuple[int, str]:
        return self.audit

    def append_audit(self, entry: AuditEntry, hash: str) -> None:
        self._audit_docs.append(mongo_audit.document(entry))
        self.audit = (entry.position, hash)  # written with the counters on commit
        self._audit_moved = True

    def import_audit(self, entries: list[AuditEntry], head: tuple[int, str] | None) -> None:
        """``Store.import_audit`` in this unit: the entries not there yet, and the head
        when given."""
        self._audit_docs.extend(mongo_audit.absent(self.db, entries, self.session))
        if head is not None:
            self.audit = head
            self._audit_moved = True

    def commit(self) -> None:
        """Keep this unit's writes; they become visible when the block ends."""
        self.committed = True

    def finish(self) -> None:
        """Write the counters back and commit the transaction."""
        self._save_counters()
        _commit(self.session)

    def _save_counters(self) -> None:
        mongo_audit.insert(self.db, self._audit_docs, self.session)
        counters = {"rid": self.rid, "seq": self.seq, "position": self.position}
        if self._audit_moved:
            counters["audit_count"], counters["audit_hash"] = self.audit
        self.db.counters.update_one({"_id": WRITER}, {"$set": counters}, upsert=True,
                                    session=self.session)


@dataclass(frozen=True, slots=True)
class Written:
    """One version's three documents, and the resource document it replaces; a
    reindexed resource has only the first (``history`` and ``event`` are None)."""

    key: str
    current: dict | None
    doc: dict
    history: dict | None = None
    event: dict | None = None
