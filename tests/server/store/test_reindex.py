"""Reindexing in place (``Store.reindex``, ``server/store/reindex.py``), run against every
adapter through the ``store`` fixture (SQLite file, MongoDB on mongomock).

Resources here are written as they were stored before the implementation guide gained
``RiskAssessment-basis``: their version carries the index the extractor makes today
minus that parameter's rows. The parameter itself cannot be taken out of the
definitions the process has loaded (they are built once and cached), so the old index
is made by dropping its rows rather than by changing the definitions.
"""

from __future__ import annotations

import orjson
import pytest

from server import clock
from server.access import AUTHOR_SYSTEM, AccessGate
from server.search.extract import extract
from server.search.parse import parse_search
from server.search.query import HistoryQuery
from server.store import UNRESTRICTED, AccessFilter, NewVersion, Store
from server.store.reindex import recompute, reindex

QUESTIONNAIRE_RESPONSE = "QuestionnaireResponse/qr1"
ALL = 10**9


def risk_assessment(id: str, n: int = 1, basis: str = QUESTIONNAIRE_RESPONSE) -> dict:
    at, _ = clock.now()
    return {"resourceType": "RiskAssessment", "id": id,
            "meta": {"versionId": str(n), "lastUpdated": at}, "status": "final",
            "subject": {"reference": "Patient/p1"}, "basis": [{"reference": basis}]}


def stored_before_basis(resource: dict, n: int = 1,
                        keys: dict[str, str] | None = None) -> NewVersion:
    """The version as a write made it before ``basis`` existed: no ``basis`` rows."""
    index = extract(resource)
    index.references = [row for row in index.references if row[0] != "basis"]
    _, us = clock.now()
    return NewVersion(resource["resourceType"], resource["id"], n,
                      resource["meta"]["lastUpdated"], us, "PUT", orjson.dumps(resource),
                      index, {"*": "public"} if keys is None else keys)


def deletion(type: str, id: str, n: int) -> NewVersion:
    at, us = clock.now()
    return NewVersion(type, id, n, at, us, "DELETE", None)


def write(store: Store, *versions: NewVersion) -> None:
    with store.unit_of_work() as uow:
        for v in versions:
            uow.write(v)
        uow.commit()


def by_basis(store: Store, reference: str = QUESTIONNAIRE_RESPONSE,
             access: AccessFilter = UNRESTRICTED) -> list[str]:
    query = parse_search("RiskAssessment", [("basis", reference), ("_count", "100")],
                         strict=True).query
    return sorted(m.id for m in store.search(query, access).matches)


def everything(store: Store) -> dict:
    """All a reindex must leave as it was: versions, history, outbox, counters."""
    return {"current": store.read("RiskAssessment", "r1"),
            "history": store.history(HistoryQuery(count=ALL)).versions,
            "outbox": store.outbox(0, ALL), "versions": store.version_count(),
            "last_seq": store.last_seq(), "count": store.count()}


def indexes(store: Store) -> dict:
    """Each current version's index rows and access keys, as a store copy sees them."""
    return {(c.version.type, c.version.id): (c.version.index, c.version.access_keys)
            for c in store.export_versions(0, ALL) if c.version.index is not None}


def test_a_resource_stored_before_its_search_parameter_existed_is_found_after_reindex(store):
    write(store, stored_before_basis(risk_assessment("r1")),
          stored_before_basis(risk_assessment("r2", basis="Observation/o1")))
    assert by_basis(store) == []
    assert store.reindex(recompute) == {"RiskAssessment": 2}
    assert by_basis(store) == ["r1"]
    assert by_basis(store, "Observation/o1") == ["r2"]


def test_reindex_writes_no_version_no_timestamp_and_no_outbox_event(store):
    write(store, stored_before_basis(risk_assessment("r1")))
    write(store, stored_before_basis(risk_assessment("r1", 2), 2))
    store.outbox_ack("worker", store.outbox(0)[-1].position)
    before = everything(store)
    reindex(store)
    assert everything(store) == before
    assert before["current"].version == 2
    assert list(store.iter_outbox("worker")) == []  # no worker has anything to do


def test_reindex_gives_the_index_a_write_would_give_and_running_it_again_changes_nothing(
        store):
    resource = risk_assessment("r1")
    full = stored_before_basis(resource)
    full = NewVersion(full.type, full.id, 1, full.last_updated, full.updated_us, "PUT",
                      full.body, extract(resource),
                      AccessGate(store).access_keys(resource, store))
    write(store, full)
    written = indexes(store)
    reindex(store, batch=1)
    assert indexes(store) == written
    reindex(store, batch=1)
    assert indexes(store) == written
    assert by_basis(store) == ["r1"]


def test_access_keys_are_recomputed_as_a_write_computes_them(store):
    authored = risk_assessment("r1")
    authored["meta"]["tag"] = [{"system": AUTHOR_SYSTEM, "code": "centro"}]
    write(store, stored_before_basis(authored, keys={}))
    author = AccessFilter(frozenset({"inst:centro"}))  # what its author's callers hold
    assert store.search(parse_search("RiskAssessment", [], strict=True).query,
                        author).matches == []
    reindex(store)
    assert by_basis(store, access=author) == ["r1"]


def test_deleted_resources_stay_deleted_and_unsearchable(store):
    write(store, stored_before_basis(risk_assessment("r1")),
          stored_before_basis(risk_assessment("r2")))
    write(store, deletion("RiskAssessment", "r2", 2))
    flag = {"resourceType": "Flag", "id": "f1", "meta": {"versionId": "1"}, "status": "active"}
    at, us = clock.now()
    write(store, NewVersion("Flag", "f1", 1, at, us, "PUT", orjson.dumps(flag), extract(flag)))
    write(store, deletion("Flag", "f1", 2))
    report = reindex(store)
    assert report.reindexed == {"RiskAssessment": 1}  # no Flag: every one is deleted
    assert by_basis(store) == ["r1"]
    gone = store.read("RiskAssessment", "r2")
    assert (gone.version, gone.deleted, gone.body) == (2, True, None)
    assert store.count("RiskAssessment") == 1


def test_only_the_given_types_are_reindexed(store):
    patient = {"resourceType": "Patient", "id": "p1", "meta": {"versionId": "1"},
               "identifier": [{"system": "urn:rut", "value": "1-9"}]}
    at, us = clock.now()  # the Patient is stored without its identifier rows likewise
    write(store, stored_before_basis(risk_assessment("r1")),
          NewVersion("Patient", "p1", 1, at, us, "PUT", orjson.dumps(patient),
                     extract({"resourceType": "Patient", "id": "p1"}), {"*": "public"}))
    report = reindex(store, types=["RiskAssessment", "Observation"])
    assert report.reindexed == {"Observation": 0, "RiskAssessment": 1}
    assert report.total == 1
    assert by_basis(store) == ["r1"]
    by_identifier = parse_search("Patient", [("identifier", "urn:rut|1-9")], strict=True)
    assert store.search(by_identifier.query).matches == []  # Patient was left out
    reindex(store, types=["Patient"])
    assert [m.id for m in store.search(by_identifier.query).matches] == ["p1"]


def test_reindex_goes_in_batches_and_reports_its_progress(store):
    write(store, *(stored_before_basis(risk_assessment(f"r{n}")) for n in range(7)))
    seen = []
    report = reindex(store, batch=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(0, 7), (3, 7), (6, 7), (7, 7)]
    assert report.total == 7 and report.seconds >= 0
    assert by_basis(store) == [f"r{n}" for n in range(7)]


def test_an_interrupted_reindex_keeps_the_batches_it_finished_and_a_rerun_completes(store):
    write(store, *(stored_before_basis(risk_assessment(f"r{n}")) for n in range(5)))

    def failing(version):
        if version.id == "r3":
            raise KeyboardInterrupt  # the operator stops the run during the second batch
        return recompute(version)

    with pytest.raises(KeyboardInterrupt):
        store.reindex(failing, batch=2)
    assert by_basis(store) == ["r0", "r1"]  # the first batch committed, the second nothing
    assert store.reindex(recompute, batch=2) == {"RiskAssessment": 5}
    assert by_basis(store) == [f"r{n}" for n in range(5)]


def test_a_resource_written_during_its_batch_keeps_the_index_of_that_write(store):
    write(store, stored_before_basis(risk_assessment("r1")),
          stored_before_basis(risk_assessment("r2")))
    newer = risk_assessment("r1", 2, basis="Observation/o9")

    def meanwhile(version):
        if version.id == "r1" and version.version == 1:  # a client updates r1 meanwhile
            write(store, stored_before_basis(newer, 2))
        return recompute(version)

    assert store.reindex(meanwhile) == {"RiskAssessment": 1}  # r1 was skipped
    assert by_basis(store) == ["r2"]  # r1's old basis was not written back
    assert by_basis(store, "Observation/o9") == []  # r1 as its own write indexed it
    assert store.read("RiskAssessment", "r1").version == 2


def test_on_a_real_mongodb_only_the_version_read_gets_its_fields_and_nothing_else_is_written():
    """The store on mongomock runs the emulated unit of work (mongomock has no
    transactions); the real unit's conditional update is run here on its own, on a
    mongomock database without a session."""
    import mongomock

    from server.store.mongo import MongoUnitOfWork
    from server.store.mongo_documents import index_fields

    db = mongomock.MongoClient().db
    db.resources.insert_many([
        {"_id": "RiskAssessment/r1", "version": 2, "deleted": False, "lu": 7, "acc": []},
        {"_id": "RiskAssessment/r2", "version": 1, "deleted": True, "lu": 7, "acc": []}])
    uow = MongoUnitOfWork(db, None, None)
    fields = index_fields(extract(risk_assessment("r1")), {"*": "public"})
    assert uow.set_index_fields("RiskAssessment/r1", 1, fields) is False  # updated since
    assert uow.set_index_fields("RiskAssessment/r2", 1, fields) is False  # deleted
    assert uow.set_index_fields("RiskAssessment/r1", 2, fields) is True
    r1 = db.resources.find_one({"_id": "RiskAssessment/r1"})
    assert (r1["version"], r1["lu"], r1["acc"]) == (2, 7, ["*"])
    assert {"p": "basis", "tt": "QuestionnaireResponse", "ti": "qr1", "v": None,
            "u": None} in r1["ref"]
    assert db.resources.find_one({"_id": "RiskAssessment/r2"})["acc"] == []
    assert db.versions.count_documents({}) == db.outbox.count_documents({}) == 0
