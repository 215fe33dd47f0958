"""Units of work on mongomock, which has no sessions or transactions: for tests only
(``mongomock://`` store URLs). On MongoDB the same guarantees come from real
multi-document transactions (``mongo.py``); here they are emulated so that the storage
contract can run in CI, where no MongoDB server can:

- units of work queue on one lock per database (serialised, as on MongoDB, where the
  writer document does it);
- a unit's writes are kept in the unit (its own reads see them through an overlay)
  and applied at commit under a second lock, which readers take for each read, so
  nobody sees a half-applied or uncommitted unit and readers never wait for a unit;
- a unit that searches, reads history or acknowledges an outbox position needs its
  writes in the collections: it applies them then, holds the commit lock from then on
  (readers wait for it to end), and takes them back from an undo log if it does not
  commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from server.search.query import HistoryQuery, SearchQuery
from server.store import mongo_subscriptions
from server.store.mongo import WRITER, MongoUnitOfWork, Written, _version
from server.store.mongo_search import stored
from server.store.port import (
    UNRESTRICTED,
    AccessFilter,
    Delivery,
    ExportJob,
    HistoryPage,
    Lease,
    SearchPage,
)

_CLIENTS: dict[str, object] = {}
_REGISTRY: dict[tuple[str, str], Emulated] = {}
_LOCK = threading.Lock()


def mock_client(url: str):
    """One mongomock client per ``mongomock://host`` in this process (tests open the
    same store twice: the app's and the test's view of it)."""
    import mongomock

    host = urlsplit(url).netloc or "default"
    with _LOCK:
        client = _CLIENTS.get(host)
        if client is None:
            client = _CLIENTS[host] = mongomock.MongoClient()
        return client


class Emulated:
    """The locks of one mongomock database."""

    def __init__(self) -> None:
        self.unit_lock = threading.Lock()
        self.commit_lock = threading.RLock()

    @classmethod
    def of(cls, url: str, name: str) -> Emulated:
        with _LOCK:
            return _REGISTRY.setdefault((urlsplit(url).netloc, name), cls())

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self.commit_lock:
            yield

    @contextmanager
    def unit(self, db) -> Iterator[EmulatedUnitOfWork]:
        with self.unit_lock:
            uow = EmulatedUnitOfWork(db, db.counters.find_one({"_id": WRITER}),
                                     self.commit_lock)
            try:
                yield uow
                if uow.committed:
                    uow.finish()
            finally:
                uow.close()


class EmulatedUnitOfWork(MongoUnitOfWork):
    def __init__(self, db, counters: dict | None, commit_lock: threading.RLock):
        super().__init__(db, None, counters)
        self._commit_lock = commit_lock
        self._pending: list[Written] = []
        self._resources: dict[str, dict] = {}  # the overlay: this unit's writes
        self._versions: dict[str, dict] = {}
        self._undo: list[Callable[[], object]] = []
        self._holding = False
        self._done = False

    def read(self, type: str, id: str):
        doc = self._resources.get(f"{type}/{id}")
        return stored(doc) if doc else super().read(type, id)

    def vread(self, type: str, id: str, version: int):
        doc = self._versions.get(f"{type}/{id}/{version}")
        return _version(doc) if doc else super().vread(type, id, version)

    def _current(self, key: str) -> dict | None:
        return self._resources.get(key) or super()._current(key)

    def search(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED) -> SearchPage:
        self._materialise()
        return super().search(query, access)

    def history(self, query: HistoryQuery, access: AccessFilter = UNRESTRICTED) -> HistoryPage:
        self._materialise()
        return super().history(query, access)

    def read_visible(self, type: str, id: str, access: AccessFilter):
        self._materialise()
        return super().read_visible(type, id, access)

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        self._materialise()
        return super().readable(type, id, access)

    def basis(self, refs, access: AccessFilter) -> dict:
        self._materialise()
        return super().basis(refs, access)

    def set_timer(self, name: str, due_us: int | None) -> None:
        self._materialise()
        timers = self.db.timers
        before = timers.find_one({"_id": name})
        super().set_timer(name, due_us)
        self._undo.append(lambda: timers.replace_one({"_id": name}, before, upsert=True)
                          if before is not None else timers.delete_one({"_id": name}))

    def timer(self, name: str) -> int | None:
        self._materialise()
        return super().timer(name)

    def add_notification(self, subscription: str, topic: str, focus: str, at_us: int) -> int:
        self._materialise()
        deliveries, events = self.db.deliveries, self.db.notifications
        before = deliveries.find_one({"_id": subscription})
        number = super().add_notification(subscription, topic, focus, at_us)
        self._undo.append(lambda: events.delete_one(
            {"_id": mongo_subscriptions.event_id(subscription, number)}))
        self._undo.append(_restore(deliveries, subscription, before))
        return number

    def set_delivery(self, delivery: Delivery) -> None:
        self._materialise()
        deliveries = self.db.deliveries
        before = deliveries.find_one({"_id": delivery.subscription})
        super().set_delivery(delivery)
        self._undo.append(_restore(deliveries, delivery.subscription, before))

    def delivery(self, subscription: str) -> Delivery | None:
        self._materialise()
        return super().delivery(subscription)

    def export_job(self, id: str) -> ExportJob | None:
        self._materialise()
        return super().export_job(id)

    def save_export_job(self, job: ExportJob) -> None:
        self._materialise()
        before = self.db.exports.find_one({"_id": job.id})
        super().save_export_job(job)
        self._undo.append(_restore(self.db.exports, job.id, before))

    def delete_export_job(self, id: str) -> None:
        self._materialise()
        before = self.db.exports.find_one({"_id": id})
        super().delete_export_job(id)
        self._undo.append(_restore(self.db.exports, id, before))

    def ack(self, consumer: str, position: int, lease: Lease | None = None) -> None:
        self._materialise()
        consumers = self.db.outbox_consumers
        before = consumers.find_one({"_id": consumer})
        super().ack(consumer, position, lease)
        self._undo.append(lambda: consumers.replace_one({"_id": consumer}, before)
                          if before is not None else consumers.delete_one({"_id": consumer}))

    def set_index_fields(self, key: str, version: int, fields: dict) -> bool:
        current = self._current(key)
        if current is None or current["version"] != version or current["deleted"]:
            return False
        self._apply(Written(key, current, {**current, **fields}))
        return True

    def _apply(self, written: Written) -> None:
        self._resources[written.key] = written.doc
        if written.history is not None:
            self._versions[written.history["_id"]] = written.history
        if self._holding:
            self._apply_now(written)
        else:
            self._pending.append(written)

    def _apply_now(self, written: Written) -> None:
        resources, versions, outbox = self.resources, self.versions, self.db.outbox
        key, current = written.key, written.current
        resources.replace_one({"_id": key}, written.doc, upsert=True)
        self._undo.append(lambda: resources.replace_one({"_id": key}, current)
                          if current is not None else resources.delete_one({"_id": key}))
        if written.history is not None:  # None: a reindexed resource, not a new version
            versions.insert_one(written.history)
            self._undo.append(lambda: versions.delete_one({"_id": written.history["_id"]}))
        if written.event is not None:
            outbox.insert_one(written.event)
            self._undo.append(lambda: outbox.delete_one({"_id": written.event["_id"]}))

    def _materialise(self) -> None:
        """Take the commit lock (kept until the unit ends) and apply pending writes."""
        if not self._holding:
            self._commit_lock.acquire()
            self._holding = True
        pending, self._pending = self._pending, []
        for written in pending:
            self._apply_now(written)

    def finish(self) -> None:
        self._materialise()
        self._save_counters()
        self._undo.clear()
        self._done = True

    def close(self) -> None:
        """End the unit: take back whatever was applied and not committed."""
        try:
            if not self._done:
                for undo in reversed(self._undo):
                    undo()
        finally:
            if self._holding:
                self._holding = False
                self._commit_lock.release()


def _restore(collection, id: str, before: dict | None) -> Callable[[], object]:
    """An undo: put document ``id`` of ``collection`` back as it was (``before``; None:
    it did not exist)."""
    if before is None:
        return lambda: collection.delete_one({"_id": id})
    return lambda: collection.replace_one({"_id": id}, before, upsert=True)
