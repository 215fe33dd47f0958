"""Copying a whole store (``server/store/migrate.py``) through the storage port: real
SQLite files on both sides, and SQLite -> MongoDB -> SQLite with the MongoDB adapter on
mongomock (no MongoDB server runs on CI; mongomock stands in for it).

A copy must be indistinguishable from its source: every version with its seq,
timestamps and outbox position, the current versions' index values (searches answer
the same) and access keys, the consumers' positions, the audit trail (its entries and
head, so that ``amparo audit verify`` passes on the copy); and the copy goes on from
there.
"""

from __future__ import annotations

import orjson
import pytest

from server import clock
from server.audit.events import Interaction, audit_event
from server.audit.trail import MISSING, append, check, verify
from server.search.extract import extract
from server.search.parse import parse_search
from server.search.query import HistoryQuery
from server.store import UNRESTRICTED, AccessFilter, NewVersion, Store, open_store
from server.store.migrate import MigrationError, check_counts, migrate
from server.store.port import AuditEntry, CopiedVersion
from tests.stores import drop_store, new_store_url

ALL = 10**9


@pytest.fixture
def stores(tmp_path):
    """Fresh SQLite stores by name, each ``init()``ed, closed afterwards."""
    opened: list[Store] = []

    def new(name: str) -> Store:
        store = open_store(f"sqlite:///{tmp_path / name}.db")
        store.init()
        opened.append(store)
        return store

    yield new
    for store in opened:
        store.close()


def put(store: Store, resource: dict, n: int, keys=("inst:A",), method="PUT") -> None:
    at, us = clock.now()
    body = {**resource, "meta": {"versionId": str(n), "lastUpdated": at}}
    with store.unit_of_work() as uow:
        uow.write(NewVersion(body["resourceType"], body["id"], n, at, us, method,
                             orjson.dumps(body), extract(body),
                             {key: f"rule-{key}" for key in keys}))
        uow.commit()


def delete(store: Store, type: str, id: str, n: int) -> None:
    at, us = clock.now()
    with store.unit_of_work() as uow:
        uow.write(NewVersion(type, id, n, at, us, "DELETE", None, None, {}))
        uow.commit()


def patient(id: str, value: str, family: str = "Rojas", born: str = "1990-04-02") -> dict:
    return {"resourceType": "Patient", "id": id, "identifier": [{"system": "rut",
                                                                 "value": value}],
            "name": [{"family": family}], "birthDate": born}


def audit(store: Store, *units: int) -> None:
    """Append audit events through the trail, ``units[k]`` of them in the k-th unit."""
    for size in units:
        with store.unit_of_work() as uow:
            for _ in range(size):
                n = uow.audit_head()[0] + 1
                event = audit_event(Interaction("read", (f"Patient/p{n % 3}",),
                                                f"Patient/p{n % 3}"),
                                    recorded="2026-11-28T10:00:00-03:00", permitted=n % 4 > 0,
                                    client_id="cliente", institution="Organization/cdm",
                                    purpose="BTG" if n % 5 == 0 else "TREAT")
                append(uow, event, clock.now())
            uow.commit()


def trail(store: Store) -> tuple[tuple[int, str], list[AuditEntry]]:
    return store.audit_head(), store.audit_entries(0, ALL)


def populate(store: Store) -> None:
    """History, deletes, a resurrection, every kind of index value, two institutions'
    access keys, two outbox consumers, an audit trail and a timer."""
    put(store, patient("p1", "1", "Soto"), 1, method="POST")
    put(store, patient("p1", "1", "Soto Pérez"), 2)
    put(store, patient("p2", "2"), 1)
    delete(store, "Patient", "p2", 2)
    put(store, patient("p2", "2b", "Vera"), 3)  # resurrected, with another identifier
    put(store, patient("p3", "3"), 1, keys=("inst:B",))
    delete(store, "Patient", "p3", 2)
    for i in range(20):
        put(store, patient(f"bulk{i}", f"b{i}", born=f"19{60 + i}-01-01"), 1,
            keys=("inst:A",) if i % 2 else ("inst:B",))
    put(store, {"resourceType": "Observation", "id": "o1", "status": "final",
                "subject": {"reference": "Patient/p1"},
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "effectiveDateTime": "2024-05-01T10:00:00Z",
                "valueQuantity": {"value": 72, "unit": "/min",
                                  "system": "http://unitsofmeasure.org", "code": "/min"},
                "component": [{"code": {"coding": [{"system": "http://loinc.org",
                                                    "code": "8480-6"}]},
                               "valueQuantity": {"value": 120, "unit": "mmHg"}}]}, 1)
    put(store, {"resourceType": "RiskAssessment", "id": "r1", "status": "final",
                "subject": {"reference": "Patient/p2"},
                "prediction": [{"probabilityDecimal": 0.8}]}, 1, keys=("inst:B",))
    put(store, {"resourceType": "ValueSet", "id": "vs1", "status": "active",
                "url": "http://amparo.cl/fhir/ValueSet/riesgo"}, 1, keys=("*",))
    events = store.outbox(0, ALL)
    store.outbox_ack("audit", events[4].position)
    store.outbox_ack("notify", events[-2].position)
    audit(store, 1, 3, 2)
    with store.unit_of_work() as uow:
        uow.set_timer("access-keys:Patient/p1", 1_900_000_000_000_000)
        uow.commit()


QUERIES = [
    ("Patient", [("identifier", "rut|2b")]),
    ("Patient", [("identifier", "rut|2")]),  # p2's identifier before its deletion: none
    ("Patient", [("family", "soto")]),
    ("Patient", [("birthdate", "lt1970")]),
    ("Patient", [("_sort", "birthdate")]),
    ("Observation", [("code-value-quantity", "http://loinc.org|8867-4$72")]),
    ("Observation", [("component-code-value-quantity", "http://loinc.org|8480-6$120")]),
    ("Observation", [("value-quantity", "gt70")]),
    ("Observation", [("subject", "Patient/p1")]),
    ("Observation", [("date", "2024-05")]),
    ("RiskAssessment", [("probability", "ge0.5")]),
    ("ValueSet", [("url", "http://amparo.cl/fhir/ValueSet/riesgo")]),
]


def query(type: str, params: list[tuple[str, str]]):
    return parse_search(type, [*params, ("_count", "100")], strict=True).query


def answers(store: Store, access: AccessFilter = UNRESTRICTED) -> list[list[str]]:
    return [[m.id for m in store.search(query(type, params), access).matches]
            for type, params in QUERIES]


def assert_same(source: Store, target: Store) -> None:
    """Everything the port shows of a store is equal on both sides."""
    assert target.export_versions(0, ALL) == source.export_versions(0, ALL)
    assert target.outbox(0, ALL) == source.outbox(0, ALL)
    assert target.consumers() == source.consumers()
    assert target.last_seq() == source.last_seq()
    assert trail(target) == trail(source) and trail(source)[0][0] > 0
    assert check(target).intact
    found = answers(source)
    assert all(ids for ids in found[:1] + found[2:]), found  # the others find something
    assert answers(target) == found
    only_b = AccessFilter(frozenset({"inst:B"}))
    assert answers(target, only_b) == answers(source, only_b)
    refs = [("Patient", f"bulk{i}") for i in range(4)]
    assert target.basis(refs, only_b) == source.basis(refs, only_b) != {}
    assert target.due_timers(2**62) == source.due_timers(2**62) != []
    for id in ("p1", "p2", "p3"):
        assert (target.history(HistoryQuery("Patient", id)).versions
                == source.history(HistoryQuery("Patient", id)).versions)
        assert target.read("Patient", id) == source.read("Patient", id)


def test_a_copy_keeps_every_version_index_value_access_key_and_position(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    seen = []
    report = migrate(source, target, batch=7, progress=lambda *p: seen.append(p))
    assert_same(source, target)
    total = source.version_count()
    assert (report.copied, report.resumed_after, report.versions) == (total, 0, total)
    assert report.resources == source.count() == 25  # p3 stays deleted
    assert report.resources_by_type == {"Observation": 1, "Patient": 22,
                                        "RiskAssessment": 1, "ValueSet": 1}
    assert report.consumers == {"audit": 5, "notify": total - 1}
    assert seen[0] == (0, total) and seen[-1] == (total, total) and len(seen) == 6
    assert target.read("Patient", "p3").deleted
    assert target.vread("Patient", "p2", 2).deleted


def test_writes_after_a_copy_continue_after_its_seq_and_outbox_position(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    migrate(source, target)
    last_seq, last_position = source.last_seq(), source.outbox(0, ALL)[-1].position
    put(target, patient("new", "n"), 1)
    put(target, patient("p3", "3"), 3)  # resurrects a copied deletion
    put(target, patient("p1", "1", "Soto"), 3)
    tail = target.export_versions(last_seq, ALL)
    assert [c.seq for c in tail] == [last_seq + 1, last_seq + 2, last_seq + 3]
    assert [c.outbox_position for c in tail] == [last_position + 1, last_position + 2,
                                                 last_position + 3]
    assert [(e.id, e.version) for e in target.outbox(last_position)] == [
        ("new", 1), ("p3", 3), ("p1", 3)]
    found = target.search(query("Patient", [("family", "soto")])).matches
    assert [(m.id, m.version) for m in found] == [("p1", 3)]
    with pytest.raises(ValueError), target.unit_of_work() as uow:  # a copied version
        uow.write(NewVersion("Patient", "p2", 3, *clock.now(), "PUT", b"{}"))


def test_an_interrupted_copy_resumes_after_its_last_batch_and_ends_exact(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    total = source.version_count()

    def interrupt(done: int, _total: int) -> None:
        if done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        migrate(source, target, batch=10, progress=interrupt)
    assert target.version_count() == 10
    assert target.consumers() == {}  # copied only at the end
    put(source, patient("late", "l"), 1)  # the source moves on meanwhile
    report = migrate(source, target, batch=10)
    assert (report.resumed_after, report.copied) == (10, total + 1 - 10)
    assert report.versions == total + 1
    assert_same(source, target)
    again = migrate(source, target, batch=10)  # nothing left: copies nothing, checks
    assert (again.copied, again.versions) == (0, total + 1)


def test_a_target_holding_other_data_is_refused_and_left_alone(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    put(target, patient("mine", "m"), 1)
    with pytest.raises(MigrationError, match="not from this source"):
        migrate(source, target)
    assert [c.version.id for c in target.export_versions(0, ALL)] == ["mine"]
    other = stores("other")  # the same first write, then a different history
    put(other, patient("p1", "1", "Soto"), 1, method="POST")
    put(other, patient("x", "x"), 1)
    copy = stores("copy")
    migrate(other, copy)
    with pytest.raises(MigrationError, match="not from this source"):
        migrate(source, copy)


def test_the_count_check_gives_the_figures_that_differ(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    with pytest.raises(MigrationError) as raised:
        check_counts(source, target)
    message = str(raised.value)
    assert f"versions: source {source.version_count()}, target 0" in message
    assert "Patient: source 22, target 0" in message


def test_import_is_idempotent_and_refuses_a_version_out_of_order(stores):
    source, target = stores("source"), stores("target")
    populate(source)
    batch = source.export_versions(0, 5)
    target.import_versions(batch)
    target.import_versions(batch)
    assert target.export_versions(0, ALL) == batch
    assert target.outbox(0, ALL) == source.outbox(0, 5)
    skipped = source.export_versions(6, 1)  # p2 version 3 before its version 2
    with pytest.raises(ValueError, match="does not follow"):
        target.import_versions(skipped)
    assert target.version_count() == 5  # the failed batch left nothing


def test_outbox_positions_are_found_when_they_differ_from_the_seq(stores):
    """Positions are matched to versions by order, not by being equal to the seq."""
    source, middle, target = stores("source"), stores("middle"), stores("target")
    populate(source)
    shifted = [CopiedVersion(c.seq * 3, c.outbox_position * 5 + 100, c.version)
               for c in source.export_versions(0, ALL)]
    middle.import_versions(shifted)
    assert middle.export_versions(0, ALL) == shifted
    for after in (0, 3, 4, 30):
        assert middle.export_versions(after, 4) == [c for c in shifted if c.seq > after][:4]
    migrate(middle, target, batch=3)
    assert target.export_versions(0, ALL) == shifted


def test_sqlite_to_mongodb_and_back_through_the_port(stores, tmp_path):
    """SQLite -> MongoStore (on mongomock) -> SQLite: all equal, searches included."""
    source, back = stores("source"), stores("back")
    populate(source)
    url = new_store_url("mongomock", tmp_path)
    mongo = open_store(url)
    try:
        mongo.init()
        there = migrate(source, mongo, batch=6)
        assert_same(source, mongo)
        home = migrate(mongo, back, batch=100)
        assert_same(source, back)
        assert there == home
        put(mongo, patient("after", "a"), 1)
        assert mongo.export_versions(source.last_seq(), 1)[0].seq == source.last_seq() + 1
    finally:
        mongo.close()
        drop_store(url)


# -- the audit trail ---------------------------------------------------------------------

def test_the_audit_trail_is_copied_whole_and_verifies_on_the_copy(stores):
    source, target = stores("source"), stores("target")
    audit(source, *[3] * 9)  # 27 events, copied in trail batches of 1000
    migrate(source, target)
    assert trail(target) == trail(source)
    report = check(target)
    assert (report.intact, report.checked) == (True, 27)
    audit(target, 1)  # the copy's trail goes on from the source's head
    assert verify(target) is None and target.audit_head()[0] == 28


def test_an_interrupted_trail_copy_is_completed_by_the_next_run(stores):
    from server.store.migrate import copy_audit_head

    source, target = stores("source"), stores("target")
    audit(source, 4, 4, 4)
    target.import_audit(source.audit_entries(0, 5))  # entries of a copy cut short, no head
    assert target.audit_head()[0] == 0 and not check(target).intact
    audit(source, 2)  # the source goes on meanwhile
    copy_audit_head(source, target, batch=3)
    assert trail(target) == trail(source) and check(target).checked == 14
    copy_audit_head(source, target, batch=3)  # nothing left: nothing changes
    assert trail(target) == trail(source) and verify(target) is None


def test_a_broken_trail_is_copied_as_it_is_not_mended(stores):
    import sqlite3

    from server.store.sqlite import path_of

    source, target = stores("source"), stores("target")
    audit(source, 6)
    with sqlite3.connect(path_of(source.url)) as conn:  # an event removed in the source
        conn.execute("DELETE FROM audit_event WHERE position = 3")
    migrate(source, target)
    assert trail(target) == trail(source)
    assert verify(target) == verify(source) and verify(target).reason == MISSING


# -- subscriptions ------------------------------------------------------------------------

def test_each_subscriptions_events_and_delivery_state_are_copied(stores):
    from dataclasses import replace

    from server.store.migrate import copy_subscriptions

    source, target = stores("source"), stores("target")
    topic = "https://fhir.amparo.cl/SubscriptionTopic/riesgo-alto"
    with source.unit_of_work() as uow:
        for n in range(5):
            uow.add_notification("a", topic, f"Flag/{n}/_history/1", 1000 + n)
        uow.add_notification("b", topic, "Flag/x/_history/2", 2000)
        uow.set_delivery(replace(uow.delivery("a"), delivered=3, due_us=77,
                                 failing_since_us=50, attempts=2))
        uow.commit()
    migrate(source, target)
    for id in ("a", "b"):
        assert target.delivery(id) == source.delivery(id)
        assert target.notifications(id, 0) == source.notifications(id, 0)
    with source.unit_of_work() as uow:  # one more event: a second run copies it alone
        uow.add_notification("a", topic, "Flag/5/_history/1", 1005)
        uow.commit()
    copy_subscriptions(source, target)
    assert [e.number for e in target.notifications("a", 0)] == [1, 2, 3, 4, 5, 6]
    assert target.delivery("a") == source.delivery("a")
