"""``server/store/mongo_copy.py`` called directly on a pymongo-style database.

No MongoDB server runs on CI: ``mongomock.MongoClient()["t"]`` stands in for MongoDB
(without sessions, so imports run without a transaction here; ``test_migrate.py`` copies
through ``MongoStore`` as well). The versions come from a real SQLite store.
"""

from __future__ import annotations

import mongomock
import pytest

from server.store import mongo_copy, open_store
from server.store.port import CopiedVersion
from tests.server.store.test_migrate import ALL, delete, patient, populate, put


@pytest.fixture
def source(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    store.init()
    populate(store)
    yield store
    store.close()


@pytest.fixture
def db():
    return mongomock.MongoClient()["t"]


def copy_in(db, versions: list[CopiedVersion], batch: int = 4) -> None:
    for start in range(0, len(versions), batch):
        mongo_copy.import_versions(db, versions[start:start + batch])


def contents(db) -> dict[str, list[dict]]:
    return {name: list(db[name].find().sort("_id", 1))
            for name in ("resources", "versions", "outbox", "counters")}


def test_a_round_trip_through_mongodb_documents_comes_back_equal(source, db, tmp_path):
    versions = source.export_versions(0, ALL)
    copy_in(db, versions)
    assert mongo_copy.export_versions(db, 0, ALL) == versions
    for after in (0, 1, 7, versions[-2].seq):
        assert mongo_copy.export_versions(db, after, 3) == [
            v for v in versions if v.seq > after][:3]
    back = open_store(f"sqlite:///{tmp_path / 'back.db'}")
    back.init()
    try:
        back.import_versions(mongo_copy.export_versions(db, 0, ALL))
        assert back.export_versions(0, ALL) == versions
        assert back.outbox(0, ALL) == source.outbox(0, ALL)
    finally:
        back.close()


def test_documents_follow_the_adapter_design_and_counters_continue_after_the_copy(
        source, db):
    versions = source.export_versions(0, ALL)
    copy_in(db, versions)
    head = db.resources.find_one({"_id": "Patient/p2"})
    assert (head["version"], head["deleted"], head["acc"]) == (3, False, ["inst:A"])
    assert {"p": "identifier", "s": "rut", "c": "2b", "t": None} in head["tok"]
    gone = db.resources.find_one({"_id": "Patient/p3"})
    assert gone["deleted"] and gone["body"] is None and gone["tok"] == []
    quantity = db.resources.find_one({"_id": "Observation/o1"})["qty"][0]
    assert (quantity["v"], quantity["a"], quantity["b"]) == (72.0, 72.0, 72.0)
    first = db.versions.find_one({"_id": "Patient/p1/1"})
    assert (first["seq"], first["method"]) == (versions[0].seq, "POST")
    assert db.outbox.find_one({"_id": versions[-1].outbox_position})["id"] == "vs1"
    counters = db.counters.find_one({"_id": "writer"})
    assert counters["seq"] == versions[-1].seq
    assert counters["position"] == versions[-1].outbox_position
    assert counters["rid"] == db.resources.count_documents({})
    rids = [db.resources.find_one({"_id": f"Patient/{id}"})["rid"] for id in ("p1", "p2")]
    assert rids == [1, 2]  # insertion order: first versions in seq order
    assert mongo_copy.last_seq(db) == versions[-1].seq
    assert mongo_copy.version_count(db) == len(versions)


def test_import_is_idempotent_and_resumes_a_version_cut_short(source, db):
    versions = source.export_versions(0, ALL)
    copy_in(db, versions)
    before = contents(db)
    copy_in(db, versions, batch=100)
    assert contents(db) == before
    # without a transaction an import can stop after any write but the last (the
    # versions document): importing again completes it
    db.versions.delete_one({"_id": "Patient/p2/3"})
    mongo_copy.import_versions(db, [v for v in versions if v.version.id == "p2"])
    assert contents(db) == before


def test_a_version_out_of_order_or_on_a_taken_seq_is_refused(source, db):
    versions = source.export_versions(0, ALL)
    with pytest.raises(ValueError, match="does not follow"):
        mongo_copy.import_versions(db, [versions[1]])  # p1 version 2 before version 1
    copy_in(db, versions[:3])
    p2 = versions[2].version
    assert (p2.id, p2.version) == ("p2", 1)
    elsewhere = CopiedVersion(versions[0].seq, 999, versions[3].version)
    with pytest.raises(ValueError, match="taken"):
        mongo_copy.import_versions(db, [elsewhere])


def test_positions_are_found_when_they_differ_from_the_seq(source, db):
    shifted = [CopiedVersion(c.seq * 2 + 10, c.outbox_position * 7, c.version)
               for c in source.export_versions(0, ALL)]
    copy_in(db, shifted)
    for after in (0, 11, 12, 13, shifted[-1].seq - 1, shifted[-1].seq):
        assert mongo_copy.export_versions(db, after, 5) == [
            c for c in shifted if c.seq > after][:5]


def test_consumers_are_read_from_their_documents(db, tmp_path):
    db.outbox_consumers.insert_many([{"_id": "audit", "position": 4},
                                     {"_id": "notify", "position": 9}])
    assert mongo_copy.consumers(db) == {"audit": 4, "notify": 9}
    assert (mongo_copy.last_seq(db), mongo_copy.version_count(db)) == (0, 0)
    assert mongo_copy.export_versions(db, 0, 10) == []


def test_a_resurrection_after_the_copy_keeps_the_index_of_the_new_version(source, db):
    put(source, patient("p3", "3c", "Nueva"), 3)
    delete(source, "Patient", "p1", 3)
    versions = source.export_versions(0, ALL)
    copy_in(db, versions, batch=5)
    assert mongo_copy.export_versions(db, 0, ALL) == versions
    p3 = db.resources.find_one({"_id": "Patient/p3"})
    assert not p3["deleted"] and {"p": "family", "n": "nueva", "e": "Nueva"} in p3["str"]
    assert db.resources.find_one({"_id": "Patient/p1"})["str"] == []
