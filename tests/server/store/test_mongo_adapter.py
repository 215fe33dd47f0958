"""The pieces of the MongoDB adapter that mongomock cannot exercise, tested directly.

CI has no MongoDB server and mongomock has no sessions or transactions, so the storage
contract runs there on emulated units of work (``server/store/mongo_emulated.py``).
What the adapter does only on a real server is checked here on its own: refusing a
standalone server, taking the writer document with retries on write conflicts,
retrying a commit whose outcome is unknown, and filters that run on the indexes
``init`` creates (mongomock ignores indexes; with ``MONGODB_URI`` set,
``test_filters_use_indexes_on_a_real_server`` asks MongoDB's planner itself).
"""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from server import clock
from server.config import Settings
from server.search.parse import parse_search
from server.store import NewVersion, open_store
from server.store.mongo import RESOURCE_INDEXES, _begin, _commit, check_transactions
from server.store.mongo_conditions import Scope, resource_filter
from tests.conftest import GENERIC, assert_outcome, serve
from tests.stores import MONGODB_URI, drop_store, new_store_url


def test_a_standalone_server_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="standalone.*replica set"):
        check_transactions({"isWritablePrimary": True, "maxWireVersion": 21}, "db1")
    check_transactions({"setName": "rs0", "isWritablePrimary": True}, "db1")  # replica set
    check_transactions({"msg": "isdbgrid"}, "router")  # mongos


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot reach MongoDB at 127.0.0.1"):
        open_store("mongodb://127.0.0.1:1/amparo?serverSelectionTimeoutMS=200")


class FakeSession:
    """Records the transaction calls the adapter makes."""

    def __init__(self, commit_failures: int = 0):
        self.calls: list[str] = []
        self.in_transaction = False
        self.commit_failures = commit_failures

    def start_transaction(self, **kwargs):
        self.calls.append("start")
        self.in_transaction = True

    def abort_transaction(self):
        self.calls.append("abort")
        self.in_transaction = False

    def commit_transaction(self):
        self.calls.append("commit")
        if self.commit_failures:
            self.commit_failures -= 1
            raise OperationFailure("network", 6, {"errorLabels":
                                                  ["UnknownTransactionCommitResult"]})
        self.in_transaction = False


class Counters:
    def __init__(self, conflicts: int, error: OperationFailure | None = None):
        self.conflicts, self.error = conflicts, error

    def find_one_and_update(self, *args, **kwargs):
        if self.error is not None:
            raise self.error
        if self.conflicts:
            self.conflicts -= 1
            raise OperationFailure("WriteConflict", 112,
                                   {"errorLabels": ["TransientTransactionError"]})
        return {"_id": "writer", "rid": 7, "seq": 9, "position": 9}


class FakeDb:
    def __init__(self, counters: Counters):
        self.counters = counters
        self.resources = self.versions = self.outbox = None


def test_a_unit_of_work_waits_for_the_writer_document_through_write_conflicts():
    session = FakeSession()
    uow = _begin(FakeDb(Counters(conflicts=3)), session)
    assert session.calls == ["start", "abort"] * 3 + ["start"]
    assert (uow.rid, uow.seq, uow.position) == (7, 9, 9)  # counters continue from there


def test_other_errors_and_a_long_wait_are_not_retried_forever():
    duplicate = OperationFailure("duplicate key", 11000, {})
    session = FakeSession()
    with pytest.raises(OperationFailure, match="duplicate"):
        _begin(FakeDb(Counters(0, duplicate)), session)
    assert session.calls == ["start", "abort"]
    with pytest.raises(OperationFailure, match="WriteConflict"):
        _begin(FakeDb(Counters(conflicts=10**6)), FakeSession(), timeout=0.05)


def test_a_commit_with_an_unknown_outcome_is_retried():
    session = FakeSession(commit_failures=2)
    _commit(session)
    assert session.calls == ["commit"] * 3
    with pytest.raises(OperationFailure):
        _commit(FakeSession(commit_failures=9), attempts=3)


# Filters and indexes -------------------------------------------------------------

QUERIES = [
    ("Patient", [("identifier", "urn:x|1")]),
    ("Patient", [("gender:text", "fem")]),
    ("Patient", [("family", "sot")]),
    ("Patient", [("family:exact", "Soto")]),
    ("Patient", [("birthdate", "ge2020-01-01")]),
    ("Patient", [("birthdate", "lt2020")]),
    ("Patient", [("organization", "Organization/1")]),
    ("Observation", [("value-quantity", "gt5|http://unitsofmeasure.org|mg")]),
    ("RiskAssessment", [("probability", "0.5")]),
    ("RiskAssessment", [("probability", "ge0.5")]),
    ("ValueSet", [("url", "http://a.org/vs")]),
    ("Observation", [("code-value-quantity", "http://loinc.org|1$gt5")]),
    ("Observation", [("subject:Patient.identifier", "urn:x|1")]),
    ("Patient", [("_has:Observation:subject:code", "http://loinc.org|1")]),
]


def _elem_matches(filter: object) -> list[tuple[str, dict]]:
    """Every ``{array: {$elemMatch: ...}}`` in a filter."""
    found = []
    if isinstance(filter, dict):
        for key, value in filter.items():
            if isinstance(value, dict) and "$elemMatch" in value:
                found.append((key, value["$elemMatch"]))
            else:
                found += _elem_matches(value)
    elif isinstance(filter, list):
        for item in filter:
            found += _elem_matches(item)
    return found


def _fields(match: dict) -> set[str]:
    fields = set()
    for key, value in match.items():
        if key.startswith("$"):
            for item in value if isinstance(value, list) else [value]:
                fields |= _fields(item)
        else:
            fields.add(key)
    return fields


@pytest.mark.parametrize(("type", "params"), QUERIES)
def test_every_condition_is_an_element_match_an_index_can_answer(type, params):
    """Each condition compares the fields of one array element, and an index leads with
    the type (or the reference target), the array's ``p`` and one of those fields: the
    lookup is bounded by the index, never a scan of the documents or their JSON."""
    steps: list[dict] = []

    def find(filter: dict, projection: dict, limit: int) -> list[dict]:
        steps.append(filter)
        return [{"id": "x", "ref": [{"p": "subject", "tt": "Patient", "ti": "x"}]}]

    query = parse_search(type, params, strict=True).query
    filter = resource_filter(Scope(type, find=find), query.conditions)
    matches = [m for f in [filter, *steps] for m in _elem_matches(f)]
    assert matches, filter
    index_keys = [[key for key, _ in keys] for _, keys in RESOURCE_INDEXES]
    for array, match in matches:
        assert "p" in match, (array, match)
        compared = {f"{array}.{field}" for field in _fields(match) - {"p"}}
        assert any(f"{array}.p" in keys and compared & set(keys) for keys in index_keys), \
            (array, match)


@pytest.mark.skipif(not MONGODB_URI, reason="needs a real MongoDB (MONGODB_URI)")
@pytest.mark.parametrize(("type", "params"), QUERIES[:11])
def test_filters_use_indexes_on_a_real_server(tmp_path, type, params):
    url = new_store_url("mongodb", tmp_path)
    store = open_store(url)
    try:
        store.init()
        query = parse_search(type, params, strict=True).query
        filter = resource_filter(Scope(type), query.conditions)
        plan = store.db.command("explain", {"find": "resources", "filter": filter},
                                verbosity="queryPlanner")
        assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"]), plan
    finally:
        store.close()
        drop_store(url)


# Documents and bounds ------------------------------------------------------------

def test_history_lives_outside_the_current_document(tmp_path):
    url = new_store_url("mongomock", tmp_path)
    store = open_store(url)
    store.init()
    for n in range(1, 4):
        at, us = clock.now()
        with store.unit_of_work() as uow:
            uow.write(NewVersion("Patient", "p", n, at, us, "PUT",
                                 b'{"resourceType":"Patient","id":"p"}'))
            uow.commit()
    current = store.db.resources.find_one({"_id": "Patient/p"})
    assert current["version"] == 3 and "history" not in current
    assert store.db.versions.count_documents({"type": "Patient", "id": "p"}) == 3
    drop_store(url)


def test_a_chain_over_too_many_resources_is_refused_with_too_costly(tmp_path, monkeypatch):
    monkeypatch.setenv("AMPARO_MONGO_MAX_CHAIN_IDS", "3")
    url = new_store_url("mongomock", tmp_path)
    for live in serve(Settings(store=url, profiles=GENERIC)):
        people = [live.post("Patient", json={"resourceType": "Patient",
                                             "name": [{"family": "Soto"}]}).json()["id"]
                  for _ in range(4)]
        for id in people:
            live.post("Observation", json={"resourceType": "Observation", "status": "final",
                                           "code": {"text": "x"},
                                           "subject": {"reference": f"Patient/{id}"}})
        body = assert_outcome(live.get("Observation", params={"subject:Patient.family": "soto"}),
                              400, "too-costly")
        assert "more than 3" in body["issue"][0]["diagnostics"]
        narrow = live.get("Observation", params={"subject:Patient._id": people[0]})
        assert narrow.status_code == 200 and narrow.json()["total"] == 1
        has = live.get("Patient", params={"_has:Observation:subject:status": "final"})
        assert_outcome(has, 400, "too-costly")
    drop_store(url)


def test_init_and_the_institutions_load_are_idempotent_on_mongodb(tmp_path):
    from server.loading import initialise

    url = new_store_url("mongomock", tmp_path)
    first = initialise(Settings(store=url))
    again = initialise(Settings(store=url))
    assert first["institutions"] == again["institutions"] > 0
    store = open_store(url)
    names = set(store.db.resources.index_information())
    assert {name for name, _ in RESOURCE_INDEXES} <= names
    assert again["conformance"]["created"] == again["conformance"]["updated"] == 0
    assert again["plans"]["created"] == again["plans"]["updated"] == 0
    # reloading wrote nothing new
    assert store.version_count() == (first["institutions"] + first["conformance"]["created"]
                                     + first["plans"]["created"])
    drop_store(url)
