"""The audit trail in the storage port, on every adapter (the ``store`` fixture: a real
SQLite file, the MongoDB adapter on mongomock, a real MongoDB with ``MONGODB_URI``):
``UnitOfWork.append_audit``/``audit_head`` move entries and head with the unit's
writes or not at all; ``Store.audit_head``, ``audit_entries``, ``audit_entry``,
``audit_search`` and ``import_audit`` read and copy what was committed.

Entries here are made by hand (the port does not look inside a body); sealed events
appended through ``server/audit/trail.py`` are tested in ``tests/server/audit``."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from pymongo.errors import PyMongoError

from server import clock
from server.audit import chain
from server.search.index import ResourceIndex
from server.store import NewVersion, Store, open_store
from server.store.mongo import WRITER, MongoUnitOfWork, _begin
from server.store.port import AUDIT_GENESIS, AuditEntry, AuditQuery
from server.store.sqlite import path_of
from tests.stores import drop_store, new_store_url

#: 2026-11-28T00:00:00Z in microseconds; entry ``n`` is recorded ``n`` hours later.
DAY = 1_795_824_000_000_000
HOUR = 3_600_000_000


def entry(n: int, **fields) -> AuditEntry:
    """Entry ``n`` (position ``n``, id ``e<n>``); searchable values by default derived
    from ``n`` so that every filter has something to find and something to leave."""
    values = {"id": f"e{n}", "patient": f"Patient/p{n % 3}",
              "institution": f"Organization/i{n % 2}", "client": f"client{n % 2}",
              "user": None if n % 4 == 0 else f"u{n % 4}",
              "purpose": "BTG" if n % 5 == 0 else "TREAT",
              "outcome": "4" if n % 7 == 0 else "0"}
    values.update(fields)
    return AuditEntry(n, recorded_us=DAY + n * HOUR, body=b'{"n":%d}' % n, **values)


def digest(n: int) -> str:
    return f"{n:064x}"


def append(store: Store, *entries: AuditEntry) -> None:
    with store.unit_of_work() as uow:
        for e in entries:
            uow.append_audit(e, digest(e.position))
        uow.commit()


def positions(entries: list[AuditEntry]) -> list[int]:
    return [e.position for e in entries]


def test_the_store_and_the_chain_start_from_the_same_genesis():
    assert AUDIT_GENESIS == chain.GENESIS


# -- appending: entries and head move with the unit --------------------------------------

def test_entries_and_head_move_only_when_the_unit_commits(store):
    assert store.audit_head() == (0, AUDIT_GENESIS)
    assert store.audit_entries(0, 10) == []
    with store.unit_of_work() as uow:
        assert uow.audit_head() == (0, AUDIT_GENESIS)
        uow.append_audit(entry(1), digest(1))
        assert uow.audit_head() == (1, digest(1))  # the unit sees its own move
        uow.append_audit(entry(2), digest(2))
        assert uow.audit_head() == (2, digest(2))
        assert store.audit_head() == (0, AUDIT_GENESIS)  # nobody else does yet
        assert store.audit_entries(0, 10) == [] and store.audit_entry("e1") is None
        uow.commit()
    assert store.audit_head() == (2, digest(2))
    assert store.audit_entries(0, 10) == [entry(1), entry(2)]
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.append_audit(entry(3), digest(3))
        raise RuntimeError
    with store.unit_of_work() as uow:
        uow.append_audit(entry(3), digest(3))  # no commit(): rolled back
    assert store.audit_head() == (2, digest(2))
    assert store.audit_entries(0, 10) == [entry(1), entry(2)]
    assert store.audit_entry("e3") is None
    with store.unit_of_work() as uow:
        assert uow.audit_head() == (2, digest(2))
        uow.commit()  # a unit that appends nothing leaves the trail
    assert store.audit_head() == (2, digest(2))
    append(store, entry(3))  # the position the rolled-back units did not keep
    assert store.audit_head() == (3, digest(3))
    assert positions(store.audit_entries(0, 10)) == [1, 2, 3]


def test_entries_are_appended_with_the_unit_s_resource_writes(store):
    def version(type: str, id: str, n: int) -> NewVersion:
        at, us = clock.now()
        return NewVersion(type, id, n, at, us, "PUT", b'{"resourceType":"Patient"}',
                          ResourceIndex(), {"*": "public"})

    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 1))
        uow.append_audit(entry(1), digest(1))
        raise RuntimeError
    assert store.read("Patient", "p1") is None and store.audit_entries(0, 10) == []
    with store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 1))
        uow.append_audit(entry(1), digest(1))
        uow.commit()
    assert store.read("Patient", "p1") is not None
    assert store.audit_head() == (1, digest(1)) and store.audit_entry("e1") == entry(1)


def test_a_unit_refused_on_a_taken_position_or_id_leaves_no_entry(store):
    """An entry whose position or id is taken (a head rewritten by hand) is refused, and
    the whole unit with it: nothing it appended stays, the head stays."""
    append(store, entry(1), entry(2))
    for taken in (entry(2, patient="Patient/x"), entry(4, id="e1")):
        with pytest.raises((sqlite3.IntegrityError, PyMongoError)), \
                store.unit_of_work() as uow:
            uow.append_audit(entry(3), digest(3))
            uow.append_audit(taken, digest(4))
            uow.commit()
        assert store.audit_head() == (2, digest(2))
        assert store.audit_entries(0, 10) == [entry(1), entry(2)]


def test_the_trail_is_durable(store):
    append(store, entry(1), entry(2))
    again = open_store(store.url)
    try:
        assert again.audit_head() == (2, digest(2))
        assert again.audit_entries(0, 10) == [entry(1), entry(2)]
    finally:
        again.close()


# -- reading -----------------------------------------------------------------------------

def test_entries_come_back_as_appended_in_position_order(store):
    bare = AuditEntry(4, "e4", DAY, b"{}")  # nothing to search on: every field None
    append(store, entry(1), entry(2), entry(3, user=None, purpose=None), bare)
    assert store.audit_entries(0, 10) == [entry(1), entry(2),
                                          entry(3, user=None, purpose=None), bare]
    assert store.audit_entries(1, 2) == [entry(2), entry(3, user=None, purpose=None)]
    assert store.audit_entries(4, 10) == [] and store.audit_entries(0, 0) == []
    assert store.audit_entry("e4") == bare and store.audit_entry("e9") is None
    assert isinstance(store.audit_entry("e1").body, bytes)


def _all(store: Store, **query) -> list[int]:
    return positions(store.audit_search(AuditQuery(count=100, **query)).entries)


def test_each_search_field_matches_any_of_its_values_and_all_fields_must_match(store):
    trail = [entry(n) for n in range(1, 22)]
    append(store, *trail)

    def expected(test) -> list[int]:
        return [e.position for e in reversed(trail) if test(e)]  # newest first

    assert _all(store) == list(range(21, 0, -1))
    assert _all(store, patient=("Patient/p1",)) == expected(lambda e: e.patient == "Patient/p1")
    assert _all(store, patient=("Patient/p1", "Patient/p2")) \
        == expected(lambda e: e.patient != "Patient/p0")
    assert _all(store, institution=("Organization/i0",)) \
        == expected(lambda e: e.institution == "Organization/i0")
    assert _all(store, client=("client1",)) == expected(lambda e: e.client == "client1")
    assert _all(store, user=("u1", "u3")) == expected(lambda e: e.user in ("u1", "u3"))
    assert _all(store, purpose=("BTG",)) == [20, 15, 10, 5]
    assert _all(store, outcome=("4",)) == [21, 14, 7]
    assert _all(store, purpose=("BTG",), outcome=("4",)) == []
    assert _all(store, patient=("Patient/p0",), purpose=("BTG",)) == [15]
    assert _all(store, patient=("Patient/none",)) == []


def test_recorded_bounds_are_inclusive_below_and_exclusive_above(store):
    append(store, *(entry(n) for n in range(1, 11)))
    assert _all(store, since_us=DAY + 3 * HOUR) == list(range(10, 2, -1))
    assert _all(store, until_us=DAY + 3 * HOUR) == [2, 1]
    assert _all(store, since_us=DAY + 3 * HOUR, until_us=DAY + 6 * HOUR) == [5, 4, 3]
    assert _all(store, since_us=DAY + 6 * HOUR, until_us=DAY + 6 * HOUR) == []


def test_search_pages_newest_first_through_the_cursor_and_totals_every_page(store):
    append(store, *(entry(n) for n in range(1, 24)))
    query = AuditQuery(institution=("Organization/i1",), count=5, total=True)
    matching = [n for n in range(23, 0, -1) if n % 2 == 1]  # 12 of them
    seen, pages, before = [], 0, None
    while True:
        page = store.audit_search(replace(query, before=before))
        pages += 1
        assert page.total == 12  # the cursor does not change the total
        assert positions(page.entries) == sorted(positions(page.entries), reverse=True)
        seen += positions(page.entries)
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.entries[-1].position
        before = page.next_cursor
    assert seen == matching and pages == 3
    exact = store.audit_search(AuditQuery(institution=("Organization/i1",), count=12))
    assert positions(exact.entries) == matching and exact.next_cursor is None
    assert exact.total is None  # not asked
    nothing = store.audit_search(AuditQuery(count=0, total=True))
    assert (nothing.entries, nothing.total, nothing.next_cursor) == ([], 23, None)


def test_a_page_written_to_meanwhile_neither_shifts_nor_repeats(store):
    append(store, *(entry(n) for n in range(1, 7)))
    first = store.audit_search(AuditQuery(count=3))
    append(store, entry(7), entry(8))  # newer entries come before the first page
    second = store.audit_search(AuditQuery(count=3, before=first.next_cursor))
    assert positions(first.entries) == [6, 5, 4] and positions(second.entries) == [3, 2, 1]
    assert second.next_cursor is None


# -- copying -----------------------------------------------------------------------------

def test_import_keeps_entries_as_they_are_skips_those_there_and_sets_the_head(store):
    append(store, entry(1))
    copied = [entry(1, patient="Patient/other"), entry(2), entry(3, user=None)]
    store.import_audit(copied)
    assert store.audit_entries(0, 10) == [entry(1), entry(2), entry(3, user=None)]
    assert store.audit_head() == (1, digest(1))  # no head given: left
    store.import_audit(copied, (3, digest(3)))
    store.import_audit([], (3, digest(3)))  # again: nothing changes
    assert store.audit_entries(0, 10) == [entry(1), entry(2), entry(3, user=None)]
    assert store.audit_head() == (3, digest(3))
    store.import_audit([entry(4, id="e2"), entry(5), entry(5, id="again")])
    assert positions(store.audit_entries(0, 10)) == [1, 2, 3, 5]  # a taken id is left too
    assert store.audit_entry("e5") == entry(5) and store.audit_entry("again") is None
    append(store, entry(4))  # appends go on from the imported head
    assert store.audit_head() == (4, digest(4))


# -- adapter specifics ---------------------------------------------------------------------

def test_a_database_made_before_the_trail_gets_its_tables_from_init(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url)
    store.init()
    store.close()
    with sqlite3.connect(path_of(url)) as conn:  # as the file was before these tables
        conn.execute("DROP TABLE audit_head")
        conn.execute("DROP TABLE audit_event")
    store = open_store(url)
    with pytest.raises(sqlite3.OperationalError):
        store.audit_head()
    store.init()
    assert store.audit_head() == (0, AUDIT_GENESIS) and store.audit_entries(0, 1) == []
    store.close()


def test_on_mongodb_init_creates_the_trail_s_collection_and_indexes(tmp_path):
    url = new_store_url("mongomock", tmp_path)
    store = open_store(url)
    try:
        store.init()
        store.init()  # idempotent
        indexes = store.db.audit.index_information()
        assert indexes["id"]["unique"] and indexes["id"]["key"] == [("id", 1)]
        assert indexes["patient_position"]["key"] == [("patient", 1), ("_id", 1)]
        assert indexes["institution_position"]["key"] == [("institution", 1), ("_id", 1)]
        assert indexes["recorded"]["key"] == [("recorded_us", 1)]
        append(store, entry(1, patient=None))
        assert store.db.audit.find_one({"_id": 1}).keys() >= {"id", "recorded_us", "body"}
        assert "patient" not in store.db.audit.find_one({"_id": 1})  # None is left out
    finally:
        store.close()
        drop_store(url)


class _Recorder:
    """A collection that records the writes made to it (and the session used)."""

    def __init__(self, doc: dict | None = None, log: list | None = None):
        self.doc, self.log = doc, log if log is not None else []

    def find_one_and_update(self, *args, **kwargs):
        return self.doc

    def update_one(self, filter, update, **kwargs):
        self.log.append(("update_one", filter, update, kwargs.get("session")))

    def insert_many(self, docs, **kwargs):
        self.log.append(("insert_many", [dict(d) for d in docs], kwargs.get("session")))


class _Db:
    def __init__(self, counters: _Recorder):
        self.counters = counters
        self.audit = _Recorder(log=counters.log)
        self.resources = self.versions = self.outbox = None

    def __getitem__(self, name: str):
        return getattr(self, name)


class _Session:
    in_transaction = False

    def start_transaction(self, **kwargs):
        self.in_transaction = True


def test_on_mongodb_entries_and_head_are_written_in_the_unit_s_transaction():
    """On a MongoDB server (not in CI) the head lives in the writer document that every
    unit of work takes first inside its transaction (``_begin``): a concurrent unit
    conflicts on it and waits, so two units never chain to the same entry. The unit's
    entries are inserted in that transaction when it commits, then the head saved."""
    counters = _Recorder({"_id": WRITER, "rid": 1, "seq": 2, "position": 2,
                          "audit_count": 7, "audit_hash": "f" * 64})
    session = _Session()
    uow = _begin(_Db(counters), session)
    assert uow.audit_head() == (7, "f" * 64)
    uow._save_counters()  # nothing appended: the head is not written
    assert counters.log == [("update_one", {"_id": WRITER},
                             {"$set": {"rid": 1, "seq": 2, "position": 2}}, session)]
    counters.log.clear()
    uow.append_audit(entry(8, user=None), digest(8))
    uow.append_audit(entry(9), digest(9))
    assert uow.audit_head() == (9, digest(9)) and counters.log == []  # kept till commit
    uow._save_counters()
    (insert, inserted, used), (update, filter, change, also) = counters.log
    assert (insert, used) == ("insert_many", session)  # in the unit's transaction
    assert [d["_id"] for d in inserted] == [8, 9] and "user" not in inserted[0]
    assert (update, filter, also) == ("update_one", {"_id": WRITER}, session)
    assert change == {"$set": {"rid": 1, "seq": 2, "position": 2, "audit_count": 9,
                               "audit_hash": digest(9)}}
    assert MongoUnitOfWork(_Db(_Recorder()), None, None).audit_head() == (0, AUDIT_GENESIS)
