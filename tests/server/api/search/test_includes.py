"""``_include``, ``_revinclude`` and ``:iterate`` over HTTP on the R4B examples, the
access filter on included resources, and one query per include (no N+1).

Expected answers are computed from the example JSON. See
https://hl7.org/fhir/R4B/search.html#include
"""

from __future__ import annotations

import orjson
import pytest

from server import clock
from server.search.index import ResourceIndex
from server.search.query import Include, SearchQuery, SortKey
from server.store import AccessFilter, NewVersion, open_store
from tests.conftest import assert_outcome
from tests.server.store.test_contract import write


def entries(bundle: dict, mode: str) -> list[tuple[str, str]]:
    return [(e["resource"]["resourceType"], e["resource"]["id"])
            for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


def ref(resource: dict, element: str) -> tuple[str, str] | None:
    value = resource.get(element)
    reference = value.get("reference", "") if isinstance(value, dict) else ""
    type, _, id = reference.partition("/")
    return (type, id) if id and "/" not in id and type[:1].isupper() else None


def test_include_adds_the_referenced_resource_once(examples):
    bundle = examples.search("Observation", {"subject": "Patient/example",
                                             "_include": "Observation:subject",
                                             "_count": "100", "_total": "accurate"})
    expected = examples.where(
        "Observation", lambda r: ref(r, "subject") == ("Patient", "example"))
    assert {id for _, id in entries(bundle, "match")} == expected
    assert entries(bundle, "include") == [("Patient", "example")]
    assert bundle["total"] == len(expected)  # included resources are not counted
    (entry,) = [e for e in bundle["entry"] if e["search"]["mode"] == "include"]
    assert entry["fullUrl"] == f"{examples.live.base}/Patient/example"
    assert entry["resource"] == examples.loaded[("Patient", "example")] | {
        "meta": entry["resource"]["meta"]}


def test_include_follows_the_references_of_every_match_of_the_page(examples):
    bundle = examples.search("Encounter", {"_include": "Encounter:subject", "_count": "100"})
    expected = {ref(r, "subject") for (t, _), r in examples.loaded.items()
                if t == "Encounter"} & set(examples.loaded)
    included = entries(bundle, "include")
    assert set(included) == expected and len(included) == len(expected)
    assert len(expected) >= 3


def test_include_with_a_target_type_keeps_that_type_only(examples):
    everything = examples.search("Observation", {"_include": "Observation:subject",
                                                 "_count": "100"})
    groups = examples.search("Observation", {"_include": "Observation:subject:Group",
                                             "_count": "100"})
    assert {t for t, _ in entries(everything, "include")} >= {"Patient"}
    assert {t for t, _ in entries(groups, "include")} <= {"Group"}
    expected = {ref(r, "subject") for (t, _), r in examples.loaded.items()
                if t == "Observation"} & set(examples.loaded)
    assert set(entries(groups, "include")) == {x for x in expected if x[0] == "Group"}


def test_revinclude_adds_the_resources_that_reference_the_matches(examples):
    bundle = examples.search("Patient", {"_revinclude": "Observation:subject",
                                         "_count": "100"})
    patients = examples.where("Patient", lambda r: True)
    expected = {("Observation", id) for id in examples.where(
        "Observation", lambda r: (ref(r, "subject") or ("", ""))[0] == "Patient"
        and ref(r, "subject")[1] in patients)}
    included = entries(bundle, "include")
    assert set(included) == expected and len(included) == len(expected)
    assert {id for _, id in entries(bundle, "match")} == patients


def test_revinclude_only_for_the_matches_of_the_page(examples):
    bundle = examples.search("Patient", {"_id": "f001", "_revinclude": "Encounter:subject"})
    expected = {("Encounter", id) for id in examples.where(
        "Encounter", lambda r: ref(r, "subject") == ("Patient", "f001"))}
    assert set(entries(bundle, "include")) == expected and expected


def test_include_iterate_follows_the_included_resources(examples):
    bundle = examples.search("Encounter", [("_include", "Encounter:subject"),
                                           ("_include:iterate", "Patient:organization"),
                                           ("_count", "100")])
    subjects = {ref(r, "subject") for (t, _), r in examples.loaded.items()
                if t == "Encounter"} & set(examples.loaded)
    organizations = {ref(examples.loaded[s], "managingOrganization") for s in subjects
                     if s[0] == "Patient"} & set(examples.loaded)
    assert organizations
    included = entries(bundle, "include")
    assert set(included) == subjects | organizations
    assert len(included) == len(set(included))
    # without :iterate, the organizations of included patients are not followed
    assert_outcome(examples.live.get("Encounter", params=[
        ("_include", "Encounter:subject"), ("_include", "Patient:organization")]),
        400, "invalid")


def test_revinclude_iterate_goes_on_from_included_resources(examples):
    bundle = examples.search("Organization", [("_id", "f001"),
                                              ("_revinclude", "Patient:organization"),
                                              ("_revinclude:iterate", "Encounter:subject")])
    patients = {("Patient", id) for id in examples.where(
        "Patient", lambda r: ref(r, "managingOrganization") == ("Organization", "f001"))}
    encounters = {("Encounter", id) for id in examples.where(
        "Encounter", lambda r: ref(r, "subject") in patients)}
    assert patients and encounters
    assert set(entries(bundle, "include")) == patients | encounters


def test_a_match_is_never_repeated_as_an_include(examples):
    bundle = examples.search("Patient", {"_include": "Patient:link", "_count": "100"})
    matched = set(entries(bundle, "match"))
    assert not matched & set(entries(bundle, "include"))


def test_includes_are_left_out_of_a_count_only_search(examples):
    bundle = examples.search("Observation", {"_include": "Observation:subject",
                                             "_summary": "count"})
    assert "entry" not in bundle
    assert bundle["total"] == len(examples.where("Observation", lambda r: True))


@pytest.mark.parametrize("name,value", [
    ("_include", "Bogus:subject"),
    ("_include", "Observation:bogus"),
    ("_include", "Observation:code"),               # a token, not a reference
    ("_include", "Observation:encounter:Patient"),  # encounter cannot point to it
    ("_include", "Observation:subject:Bogus"),
    ("_include", "Patient:organization"),           # does not start from Observation
    ("_include", "Observation"),
    ("_include", "Observation:subject:Patient:x"),
    ("_include", "' OR 1=1 --"),
    ("_include", "*"),
    ("_revinclude", "Encounter:subject"),  # Encounter.subject cannot point to Observation
    ("_revinclude", "Encounter:subject:Group"),
    ("_include:bogus", "Observation:subject"),
])
def test_an_invalid_include_is_400(examples, name, value):
    assert_outcome(examples.live.get("Observation", params={name: value}), 400, "invalid")


# access filter and query count, at the store --------------------------------------------

def resource(type: str, id: str, keys: tuple[str, ...], subject: str | None = None):
    at, us = clock.now()
    body = {"resourceType": type, "id": id}
    index = ResourceIndex()
    if subject is not None:
        body["subject"] = {"reference": subject}
        t, _, i = subject.partition("/")
        index.references.append(("subject", t, i, None, None))
    return NewVersion(type, id, 1, at, us, "PUT", orjson.dumps(body), index,
                      dict.fromkeys(keys, "test"))


@pytest.fixture
def store(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'includes.db'}")
    store.init()
    yield store
    store.close()


def test_includes_only_add_what_the_caller_may_see(store):
    write(store, resource("Patient", "seen", ("A",)), resource("Patient", "hidden", ("B",)),
          resource("Observation", "o1", ("A",), "Patient/seen"),
          resource("Observation", "o2", ("A",), "Patient/hidden"),
          resource("Observation", "o3", ("B",), "Patient/seen"))
    only_a = AccessFilter(frozenset({"A"}))
    forward = store.search(SearchQuery("Observation", includes=(
        Include("Observation", "subject"),)), only_a)
    assert [m.id for m in forward.matches] == ["o1", "o2"]
    assert [(i.type, i.id) for i in forward.included] == [("Patient", "seen")]
    reverse = store.search(SearchQuery("Patient", includes=(
        Include("Observation", "subject", reverse=True),)), only_a)
    assert [m.id for m in reverse.matches] == ["seen"]
    assert [(i.type, i.id) for i in reverse.included] == [("Observation", "o1")]
    everyone = store.search(SearchQuery("Patient", includes=(
        Include("Observation", "subject", reverse=True),)))
    assert sorted(i.id for i in everyone.included) == ["o1", "o2", "o3"]


def test_deleted_resources_are_not_included(store):
    write(store, resource("Patient", "p", ("*",)),
          resource("Observation", "o", ("*",), "Patient/p"))
    at, us = clock.now()
    write(store, NewVersion("Patient", "p", 2, at, us, "DELETE", None))
    page = store.search(SearchQuery("Observation", includes=(
        Include("Observation", "subject"),)))
    assert [m.id for m in page.matches] == ["o"] and page.included == []


def statements(store, query: SearchQuery) -> tuple[list[str], object]:
    run: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(run.append)
    try:
        page = store.search(query)
    finally:
        conn.set_trace_callback(None)
    return [s for s in run if s.lstrip().upper().startswith(("SELECT", "WITH"))], page


@pytest.mark.parametrize("sort", [False, True])
def test_one_query_per_include_whatever_the_page_size(store, sort):
    write(store, *[resource("Patient", f"p{i}", ("*",)) for i in range(60)],
          *[resource("Observation", f"o{i}", ("*",), f"Patient/p{i}") for i in range(60)])
    keys = (SortKey("subject", "reference"),) if sort else ()
    includes = (Include("Observation", "subject"),)
    small, page10 = statements(store, SearchQuery("Observation", count=10, total=False,
                                                  sort=keys, includes=includes))
    large, page50 = statements(store, SearchQuery("Observation", count=50, total=False,
                                                  sort=keys, includes=includes))
    assert len(page10.included) == 10 and len(page50.matches) == 50
    assert len(page50.included) == 50
    assert len(large) == len(small) == 2, large  # the page, then one include query
    iterate = (Include("Observation", "subject"),
               Include("Observation", "subject", reverse=True, iterate=True))
    run, page = statements(store, SearchQuery("Observation", count=50, total=False,
                                              sort=keys, includes=iterate))
    assert len(page.included) == 50  # the reverse round finds only the matches again
    assert len(run) == 4, run  # page; round 1: two includes; round 2: the iterate one
