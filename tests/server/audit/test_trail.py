"""The stored audit trail (server/audit/trail.py): events appended through real units of
work on a real SQLite file and on the MongoDB adapter (over mongomock, the stand-in for a
MongoDB server CI cannot run: tests/stores.py), verified intact, searched the way
auditors search it, then tampered with directly in the database (the ``audit_event``
table through sqlite3, the ``audit`` collection) and reported at the right first
position."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace

import orjson
import pytest
from pymongo.errors import PyMongoError

from server import clock
from server.audit import chain
from server.audit.events import Interaction, audit_event
from server.audit.trail import (
    BEYOND,
    MISPLACED,
    MISSING,
    MOVED,
    NO_POSITION,
    NOT_LAST,
    POSITION,
    TRUNCATED,
    UNREADABLE,
    UNSEARCHABLE,
    append,
    check,
    entry_of,
    verify,
)
from server.search.query import HistoryQuery, SearchQuery
from server.store import Store, open_store
from server.store.migrate import migrate
from server.store.port import AUDIT_GENESIS, AuditEntry, AuditQuery
from server.store.reindex import reindex
from server.store.sqlite import path_of
from tests.stores import adapters, drop_store, new_store_url


@pytest.fixture(params=adapters())
def store(request, tmp_path):
    url = new_store_url(request.param, tmp_path)
    opened = open_store(url)
    opened.init()
    yield opened
    opened.close()
    drop_store(url)


def event(i: int, *, patient: str = "Patient/p1", institution: str = "Organization/cdm",
          permitted: bool = True, purpose: str = "TREAT", recorded: str | None = None,
          client: str = "cliente", user: str | None = None) -> dict:
    return audit_event(Interaction("read", (f"Observation/o{i}",), patient),
                       recorded=recorded or f"2026-11-28T10:00:{i % 60:02d}-03:00",
                       permitted=permitted, client_id=client, institution=institution,
                       user=user, purpose=purpose, justification="riesgo vital"
                       if purpose == "BTG" else None,
                       basis=("policy:ley-21675.json#fiscalia",))


def fill(store: Store, units: tuple[int, ...] = (1, 3, 1, 2, 1)) -> list[str]:
    """Append ``sum(units)`` events, ``units[k]`` of them in the k-th unit; their ids
    in trail order."""
    ids = []
    for size in units:
        with store.unit_of_work() as uow:
            for _ in range(size):
                ids.append(append(uow, event(len(ids) + 1), clock.now()))
            uow.commit()
    return ids


def body(store: Store, id: str) -> dict:
    return orjson.loads(store.audit_entry(id).body)


def position_of(resource: dict) -> int | None:
    return next((e["valueInteger"] for e in resource.get("extension", [])
                 if e["url"] == POSITION), None)


def stored_positions(store: Store) -> list[int]:
    return [e.position for e in store.audit_entries(0, 10**6)]


# -- tampering, straight in the database -----------------------------------------------

#: AuditEntry field -> its column in SQLite's ``audit_event`` (the MongoDB documents use
#: the field names)
_COLUMNS = {"user": "user_id"}


class Tamper:
    """Changes what the store holds behind its back: the ``audit_event`` table of the
    SQLite file (through a connection of its own) or the ``audit`` collection."""

    def __init__(self, store: Store):
        self.store = store
        self.sqlite = store.url.startswith("sqlite:")

    def set_body(self, id: str, resource: dict | bytes) -> None:
        raw = resource if isinstance(resource, bytes) else orjson.dumps(resource)
        self.set(id, "body", raw)

    def set(self, id: str, field: str, value: object) -> None:
        """Overwrite one stored value of the entry ``id`` (``body``, ``patient``...)."""
        if self.sqlite:
            with self._sqlite() as conn:
                changed = conn.execute(f"UPDATE audit_event SET {_COLUMNS.get(field, field)}"
                                       " = ? WHERE id = ?", (value, id)).rowcount
        else:
            changed = self.store.db.audit.update_one(
                {"id": id}, {"$set": {field: value}}).matched_count
        assert changed == 1

    def delete(self, id: str) -> None:
        if self.sqlite:
            with self._sqlite() as conn:
                conn.execute("DELETE FROM audit_event WHERE id = ?", (id,))
        else:
            assert self.store.db.audit.delete_one({"id": id}).deleted_count == 1
        assert self.store.audit_entry(id) is None

    def insert(self, entry: AuditEntry) -> None:
        """A record written without going through the trail (nor moving its head)."""
        if self.sqlite:
            with self._sqlite() as conn:
                conn.execute("INSERT INTO audit_event (position, id, recorded_us, body, "
                             "patient, institution, client, user_id, purpose, outcome) "
                             "VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (entry.position, entry.id, entry.recorded_us, entry.body,
                              entry.patient, entry.institution, entry.client, entry.user,
                              entry.purpose, entry.outcome))
        else:
            from server.store.mongo_audit import document

            self.store.db.audit.insert_one(document(entry))

    def _sqlite(self) -> _Committing:
        return _Committing(sqlite3.connect(path_of(self.store.url), isolation_level=None))


class _Committing:
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, *exc):
        self.conn.execute("COMMIT" if exc[0] is None else "ROLLBACK")
        self.conn.close()


def set_position(resource: dict, position: int) -> dict:
    for extension in resource["extension"]:
        if extension["url"] == POSITION:
            extension["valueInteger"] = position
    return resource


# -- appending -------------------------------------------------------------------------

def test_appended_events_are_chained_in_position_order_and_verify_intact(store):
    ids = fill(store)
    assert len(set(ids)) == 8
    assert [e.id for e in store.audit_entries(0, 100)] == ids
    stored = [body(store, id) for id in ids]
    assert [position_of(r) for r in stored] == list(range(1, 9))
    previous = AUDIT_GENESIS
    for id, resource in zip(ids, stored, strict=True):
        linked, digest = chain.seal_of(resource)
        assert linked == previous and chain.matches_seal(resource, (linked, digest))
        assert resource["id"] == id and resource["meta"]["versionId"] == "1"
        assert resource["resourceType"] == "AuditEvent" and resource["outcome"] == "0"
        previous = digest
    assert store.audit_head() == (8, previous)
    assert chain.verify(stored) is None
    report = check(store)
    assert (report.intact, report.checked, report.head) == (True, 8, (8, previous))
    assert verify(store) is None


def test_the_seal_covers_the_position():
    raw = event(1)
    with_position = {**raw, "extension": [{"url": POSITION, "valueInteger": 1}]}
    sealed = chain.seal(with_position, AUDIT_GENESIS)
    assert chain.matches_seal(sealed, chain.seal_of(sealed))
    sealed["extension"][0]["valueInteger"] = 2
    assert not chain.matches_seal(sealed, chain.seal_of(sealed))


def test_events_are_lean_records_not_resource_versions(store):
    """No version, search index, history or outbox event: the trail is its own."""
    ids = fill(store, (2, 2))
    assert store.read("AuditEvent", ids[0]) is None
    assert store.search(SearchQuery("AuditEvent", count=100)).matches == []
    assert store.history(HistoryQuery()).versions == []
    assert store.version_count() == 0 and store.outbox(0) == []
    assert [e.id for e in store.audit_search(AuditQuery(count=100)).entries] \
        == list(reversed(ids))


def test_an_entry_holds_what_auditors_search_on_read_from_its_sealed_event(store):
    at = clock.now()
    raw = event(1, patient="Patient/x", institution="Organization/y", purpose="BTG",
                permitted=False, client="c9", user="u7")
    with store.unit_of_work() as uow:
        id = append(uow, raw, at)
        uow.commit()
    entry = store.audit_entry(id)
    assert (entry.position, entry.id) == (1, id)
    assert entry.recorded_us == clock.parse_instant(raw["recorded"])
    assert (entry.patient, entry.institution, entry.client, entry.user, entry.purpose,
            entry.outcome) == ("Patient/x", "Organization/y", "c9", "u7", "BTG", "4")
    assert entry == entry_of(orjson.loads(entry.body), 1)
    assert orjson.loads(entry.body)["meta"]["lastUpdated"] == at[0]


def test_appending_refuses_what_is_not_an_audit_event(store):
    with store.unit_of_work() as uow, pytest.raises(ValueError):
        append(uow, {"resourceType": "Patient"}, clock.now())
    assert store.audit_head() == (0, AUDIT_GENESIS) and store.audit_entries(0, 10) == []


def test_a_position_or_seal_the_caller_sent_is_replaced(store):
    raw = event(1)
    raw["extension"] = [{"url": POSITION, "valueInteger": 99},
                        {"url": chain.SEAL, "valueString": "x:y"}]
    with store.unit_of_work() as uow:
        id = append(uow, raw, clock.now())
        uow.commit()
    stored = body(store, id)
    assert position_of(stored) == 1 and len(stored["extension"]) == 2
    assert verify(store) is None


# -- tampering is reported at the first broken position ---------------------------------

def test_an_altered_event_is_reported_at_its_position(store):
    ids = fill(store)
    altered = body(store, ids[4])
    altered["outcome"] = "4"
    Tamper(store).set_body(ids[4], altered)
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (5, ids[4], chain.ALTERED)


def test_a_removed_event_is_reported_as_a_missing_position(store):
    ids = fill(store)
    Tamper(store).delete(ids[3])
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (4, None, MISSING)


def test_events_reordered_in_the_trail_break_it_at_the_first_of_them(store):
    ids = fill(store)
    tamper = Tamper(store)
    tamper.set_body(ids[2], set_position(body(store, ids[2]), 5))
    tamper.set_body(ids[4], set_position(body(store, ids[4]), 3))
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (3, ids[4], chain.NOT_FOLLOWING)


def test_bodies_swapped_between_records_are_reported(store):
    ids = fill(store)
    third, sixth = store.audit_entry(ids[2]).body, store.audit_entry(ids[5]).body
    tamper = Tamper(store)
    tamper.set_body(ids[2], sixth)
    tamper.set_body(ids[5], third)
    broken = verify(store)
    assert (broken.position, broken.id) == (3, ids[5])
    assert broken.reason == MOVED.format(stored=ids[5], sealed=ids[2])


def test_a_truncated_tail_is_reported_after_the_last_event_left(store):
    ids = fill(store)
    tamper = Tamper(store)
    tamper.delete(ids[7])
    tamper.delete(ids[6])
    broken = verify(store)
    assert (broken.position, broken.id) == (7, None)
    assert broken.reason == TRUNCATED.format(count=8)


def test_a_replaced_last_event_that_seals_itself_differs_from_the_head(store):
    ids = fill(store)
    last = body(store, ids[-1])
    linked, _ = chain.seal_of(last)
    last["outcome"] = "4"
    forged = {**chain.seal(last, linked), "id": last["id"], "meta": last["meta"]}
    tamper = Tamper(store)
    tamper.set_body(ids[-1], forged)
    tamper.set(ids[-1], "outcome", "4")  # its searchable values along with it
    assert chain.matches_seal(forged, chain.seal_of(forged))  # it seals itself
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (8, ids[-1], NOT_LAST)


@pytest.mark.parametrize(("field", "value"), [
    ("patient", "Patient/otra"),  # hidden from a search on her
    ("patient", None),
    ("purpose", "TREAT"),  # a break-the-glass access passed off as an ordinary one
    ("outcome", "0"),
    ("institution", "Organization/otra"),
    ("client", "otro"),
    ("user", "otra"),
    ("recorded_us", 0),  # moved out of a date search
])
def test_a_searchable_value_edited_without_the_body_is_reported(store, field, value):
    """The body still matches its seal, but the values searched on say otherwise: an
    edit that would hide the event from auditors' searches."""
    ids = fill(store, (2,))
    with store.unit_of_work() as uow:
        ids.append(append(uow, event(3, purpose="BTG", permitted=False, user="u1"),
                          clock.now()))
        uow.commit()
    fill(store, (2,))
    Tamper(store).set(ids[2], field, value)
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (3, ids[2], UNSEARCHABLE)


def test_events_without_seal_or_position_are_reported_where_they_stand(store):
    ids = fill(store)
    tamper = Tamper(store)
    unsealed = body(store, ids[5])
    unsealed["extension"] = [e for e in unsealed["extension"] if e["url"] != chain.SEAL]
    tamper.set_body(ids[5], unsealed)
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (6, ids[5], chain.NO_SEAL)
    unplaced = body(store, ids[1])
    unplaced["extension"] = [e for e in unplaced["extension"] if e["url"] != POSITION]
    tamper.set_body(ids[1], unplaced)
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (2, ids[1], NO_POSITION)


def test_an_unreadable_body_is_reported_where_it_stands(store):
    ids = fill(store)
    Tamper(store).set_body(ids[3], b"not json")
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (4, ids[3], UNREADABLE)


def test_the_first_break_wins_whatever_the_store_order(store):
    ids = fill(store)
    tamper = Tamper(store)
    late = body(store, ids[6])
    late["outcome"] = "4"
    tamper.set_body(ids[6], late)
    tamper.delete(ids[2])
    assert verify(store).position == 3
    early = body(store, ids[1])
    early["action"] = "D"
    tamper.set_body(ids[1], early)
    assert (verify(store).position, verify(store).id) == (2, ids[1])


def test_events_written_past_the_trail_s_head_are_reported(store):
    ids = fill(store, (2, 2))
    forged = {k: v for k, v in body(store, ids[3]).items() if k not in ("id", "meta")}
    forged["extension"] = [e for e in forged["extension"] if e["url"] not in
                           (POSITION, chain.SEAL)] + [{"url": POSITION, "valueInteger": 5}]
    forged = {**chain.seal(forged, store.audit_head()[1]), "id": "forjado"}
    tamper = Tamper(store)
    tamper.insert(entry_of(forged, 5))  # not through the trail: no head
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (5, "forjado", BEYOND)
    with pytest.raises((sqlite3.IntegrityError, PyMongoError)), \
            store.unit_of_work() as uow:  # the next append takes position 5: refused
        append(uow, event(5), clock.now())
        uow.commit()
    assert store.audit_head()[0] == 4 and verify(store).reason == BEYOND


def test_a_copy_of_an_event_stored_as_another_record_is_reported(store):
    ids = fill(store, (4,))
    copy = {**body(store, ids[1]), "id": "copia"}
    Tamper(store).insert(replace(entry_of(copy, 2), position=9))
    broken = verify(store)
    assert (broken.position, broken.id) == (2, "copia")
    assert broken.reason == MISPLACED.format(stored=9, sealed=2)


def test_an_empty_trail_is_intact_and_a_head_without_events_is_not(store):
    assert verify(store) is None and check(store).checked == 0
    ids = fill(store, (1,))
    Tamper(store).delete(ids[0])
    broken = verify(store)
    assert (broken.position, broken.reason) == (1, TRUNCATED.format(count=1))


def test_verify_pages_through_a_trail_longer_than_a_page(store):
    ids = fill(store, (40, 25))
    assert check(store, page=7).checked == 65 and check(store, page=7).intact
    altered = body(store, ids[50])
    altered["recorded"] = "2020-01-01T00:00:00Z"
    Tamper(store).set_body(ids[50], altered)
    assert check(store, page=7).broken.position == 51


def test_a_copy_written_over_an_event_is_reported_where_the_event_was_lost(store):
    """Store order 1, 4 (a copy over event 2), 3, 4, ...: the duplicate 4 shows before
    position 2 is known to be missing, yet position 2 is the first break."""
    ids = fill(store, (6,))
    copy = {**body(store, ids[3]), "id": ids[1]}  # under event 2's record and id
    Tamper(store).set_body(ids[1], copy)
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (2, None, MISSING)


def test_an_event_after_a_duplicate_in_store_order_is_still_checked_first(store):
    """Store order 1, 2, 4 (a copy), 4, 3 (altered), 6: the duplicate 4 is seen first,
    yet the altered 3 before it is the first break."""
    ids = fill(store, (6,))
    third, fourth = body(store, ids[2]), body(store, ids[3])
    third["outcome"] = "4"
    tamper = Tamper(store)
    tamper.set_body(ids[2], {**fourth, "id": ids[2]})
    tamper.set_body(ids[4], {**third, "id": ids[4]})
    broken = verify(store)
    assert (broken.position, broken.id, broken.reason) == (3, ids[4], chain.ALTERED)


# -- units of work -----------------------------------------------------------------------

def test_a_unit_that_rolls_back_leaves_the_head_and_the_trail_unchanged(store):
    fill(store, (2,))
    head = store.audit_head()
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        append(uow, event(10), clock.now())
        append(uow, event(11), clock.now())
        assert uow.audit_head()[0] == 4  # the unit sees its own moves
        raise RuntimeError("the request failed")
    with store.unit_of_work() as uow:  # left without commit(): rolled back too
        append(uow, event(12), clock.now())
    assert store.audit_head() == head
    assert stored_positions(store) == [1, 2]
    with store.unit_of_work() as uow:
        id = append(uow, event(13), clock.now())
        uow.commit()
    assert position_of(body(store, id)) == 3 and store.audit_entry(id).position == 3
    assert verify(store) is None


def test_a_rolled_back_unit_inside_a_sqlite_commit_group_leaves_the_head(tmp_path):
    """Units of one process that queue up share one SQLite transaction
    (server/store/sqlite_commit.py): the one that fails rolls back to its savepoint
    only, entries and head included, while the group commits the others."""
    store = open_store(f"sqlite:///{tmp_path / 'group.db'}")
    store.init()
    appended, failed, grouped = threading.Event(), [], []

    def second() -> None:
        appended.wait()
        try:
            with store.unit_of_work() as uow:
                grouped.append(uow.audit_head()[0])
                append(uow, event(2), clock.now())
                raise RuntimeError("rolled back")
        except RuntimeError as exc:
            failed.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    with store.unit_of_work() as uow:
        first = append(uow, event(1), clock.now())
        appended.set()
        deadline = time.monotonic() + 10
        while store._writer._waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.001)  # the second unit waits for the lock: same group
        uow.commit()
    thread.join()
    assert failed and grouped == [1]  # it ran in the group, after the first
    assert store.audit_head()[0] == 1 and store.audit_entry(first) is not None
    assert stored_positions(store) == [1]
    assert verify(store) is None
    store.close()


@pytest.mark.parametrize("shared", [True, False], ids=["one store", "a store per thread"])
def test_concurrent_appends_to_one_sqlite_file_make_one_chain(tmp_path, shared):
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    first = open_store(url)
    first.init()
    stores = [first] * 4 if shared else [first, *(open_store(url) for _ in range(3))]
    errors = []

    def work(store: Store, n: int) -> None:
        try:
            for i in range(n):
                with store.unit_of_work() as uow:
                    for _ in range(1 + i % 2):
                        append(uow, event(i), clock.now())
                    uow.commit()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, 20)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = check(first)
    assert report.intact and report.checked == report.head[0] == 4 * 30
    assert [position_of(orjson.loads(e.body)) for e in first.audit_entries(0, 1000)] \
        == list(range(1, 121))
    for opened in set(stores):
        opened.close()


def test_concurrent_appends_on_the_mongodb_adapter_make_one_chain(tmp_path):
    """On mongomock (no MongoDB server in CI), whose units of work are emulated: on a
    server the writer document serialises them (tests/server/store/test_audit_head.py)."""
    url = new_store_url("mongomock", tmp_path)
    store = open_store(url)
    store.init()

    def work() -> None:
        for i in range(15):
            with store.unit_of_work() as uow:
                append(uow, event(i), clock.now())
                uow.commit()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = check(store)
    assert report.intact and report.checked == 45
    assert stored_positions(store) == list(range(1, 46))
    store.close()
    drop_store(url)


# -- search --------------------------------------------------------------------------------

def _instant(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text).timestamp() * 1_000_000)


def test_auditors_search_the_trail_on_each_value(store):
    days = ("2026-11-27T10:00:00-03:00", "2026-11-28T10:00:00-03:00",
            "2026-11-29T10:00:00-03:00")
    with store.unit_of_work() as uow:
        ids = {
            "btg": append(uow, event(1, purpose="BTG", patient="Patient/x",
                                     recorded=days[1]), clock.now()),
            "denied": append(uow, event(2, permitted=False, institution="Organization/y",
                                        client="otro", recorded=days[2]), clock.now()),
            "plain": append(uow, event(3, user="u1", recorded=days[0]), clock.now()),
        }
        uow.commit()

    def found(**query) -> list[str]:
        return [e.id for e in store.audit_search(AuditQuery(**query)).entries]

    assert found() == [ids["plain"], ids["denied"], ids["btg"]]  # newest first
    assert found(purpose=("BTG",)) == [ids["btg"]]
    assert found(purpose=("TREAT",)) == [ids["plain"], ids["denied"]]
    assert found(patient=("Patient/x",)) == [ids["btg"]]
    assert found(patient=("Patient/x", "Patient/p1")) == [ids["plain"], ids["denied"],
                                                          ids["btg"]]
    assert found(institution=("Organization/y",)) == [ids["denied"]]
    assert found(outcome=("4",)) == [ids["denied"]]
    assert found(outcome=("0",), purpose=("TREAT",)) == [ids["plain"]]
    assert found(client=("otro",)) == [ids["denied"]]
    assert found(user=("u1",)) == [ids["plain"]]
    assert found(since_us=_instant("2026-11-28T00:00:00-03:00")) == [ids["denied"],
                                                                     ids["btg"]]
    assert found(until_us=_instant("2026-11-28T00:00:00-03:00")) == [ids["plain"]]
    assert found(since_us=_instant(days[1]), until_us=_instant(days[2])) == [ids["btg"]]
    assert found(patient=("Patient/nadie",)) == []


def test_paging_through_the_cursor_gives_every_match_once(store):
    ids = []
    for n in range(1, 48):
        with store.unit_of_work() as uow:
            patient = "Patient/a" if n % 3 else "Patient/b"
            ids.append((append(uow, event(n, patient=patient), clock.now()), patient))
            uow.commit()
    for patient, size in (("Patient/a", 7), ("Patient/b", 4), ("Patient/a", 31)):
        expected = [id for id, p in reversed(ids) if p == patient]
        seen, before = [], None
        while True:
            page = store.audit_search(AuditQuery(patient=(patient,), count=size,
                                                 before=before, total=True))
            assert page.total == len(expected)
            assert len(page.entries) <= size
            seen += [e.id for e in page.entries]
            if page.next_cursor is None:
                break
            before = page.next_cursor
        assert seen == expected  # no duplicate, nothing missing, newest first
    assert store.audit_search(AuditQuery(count=10)).total is None  # only when asked


# -- around the store: copies and reindexing ----------------------------------------------

@pytest.mark.parametrize("target_kind", ["sqlite", "mongomock"])
def test_a_copied_store_keeps_an_intact_trail(tmp_path, target_kind):
    source = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    (tmp_path / "target").mkdir()
    target_url = new_store_url(target_kind, tmp_path / "target")
    target = open_store(target_url)
    for opened in (source, target):
        opened.init()
    fill(source)
    migrate(source, target, batch=3)
    assert target.audit_head() == source.audit_head()
    assert target.audit_entries(0, 100) == source.audit_entries(0, 100)
    assert check(target).intact and check(target).checked == 8
    with target.unit_of_work() as uow:  # the copy's trail goes on from the source's
        append(uow, event(9), clock.now())
        uow.commit()
    assert check(target).intact and target.audit_head()[0] == 9
    source.close()
    target.close()
    drop_store(target_url)


def test_reindexing_leaves_the_trail_alone(store):
    ids = fill(store, (3,))
    before = store.audit_entries(0, 100)
    reindex(store)
    assert store.audit_entries(0, 100) == before
    assert [e.id for e in before] == ids and verify(store) is None
