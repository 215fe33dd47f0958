"""Conformance resources (StructureDefinition, ValueSet, CodeSystem, ConceptMap,
SearchParameter, OperationDefinition): ``amparo init`` stores every one the IG and the
terminology hold, by its own id; they are then read, vread, searched (url, name, type,
version, status... are R4B parameters of those types) and their history listed like any
resource, and every write through the API to a type of ``READ_ONLY_TYPES``, alone or in a
bundle, is refused with 405 and an OperationOutcome, while nothing changes (the IG's
OperationDefinitions: test_operation_definitions.py).

See https://hl7.org/fhir/R4B/http.html (405 for an interaction a server does not offer
for a type) and https://hl7.org/fhir/R4B/capabilitystatement.html.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator

import pytest

from profiles import ig
from server.api.write import READ_ONLY_TYPES
from server.config import Settings
from server.loading import conformance_resources, initialise, load_resources
from server.store import open_store
from terminology import registry
from tests.conftest import LiveServer, assert_outcome, serve
from tests.server.api.search.conftest import matches
from tests.stores import TEST_STORE, drop_store, new_store_url

TYPES = sorted(READ_ONLY_TYPES)
READS = {"read", "vread", "search-type", "history-instance", "history-type"}
NIVEL = "https://fhir.amparo.cl/ValueSet/nivel-riesgo"
#: Every conformance resource the IG and the terminology hold (what init stores).
HELD = len(conformance_resources())


@pytest.fixture(scope="module")
def held() -> dict[tuple[str, str], dict]:
    return {(r["resourceType"], r["id"]): r for r in conformance_resources()}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("conformance"))
    summary = initialise(Settings(store=url))
    assert summary["conformance"] == {"created": HELD, "updated": 0, "unchanged": 0,
                                      "removed": 0}
    yield from serve(Settings(store=url))
    drop_store(url)


def ids(live: LiveServer, type: str, params: dict | None = None) -> set[str]:
    response = live.get(type, params={"_count": "500", **(params or {})})
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert not [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]
    return matches(bundle)


def _content(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k != "meta"}


# -- what init loads ----------------------------------------------------------------------


def test_init_loads_every_conformance_resource_of_the_ig_and_the_terminology(held):
    counts = Counter(type for type, _ in held)
    assert set(counts) == {*TYPES, "OperationDefinition"}, counts
    assert counts.pop("OperationDefinition") == len(ig.operation_definitions()) == 12
    assert counts.pop("SubscriptionTopic") == len(ig.subscription_topics()) == 9
    assert counts.pop("Measure") == len(ig.measures()) == 12
    assert min(counts.values()) >= 12, counts
    expected = {("StructureDefinition", d["id"]) for d in
                ig.structure_definitions() + ig.external_definitions()}
    expected |= {("SearchParameter", p["id"]) for p in ig.search_parameters()}
    expected |= {("OperationDefinition", d["id"]) for d in ig.operation_definitions()}
    expected |= {("SubscriptionTopic", t["id"]) for t in ig.subscription_topics()}
    expected |= {("Measure", m["id"]) for m in ig.measures()}
    expected |= {(t, id) for t in registry.TYPES for id in registry.ids(t)}
    assert set(held) == expected


@pytest.mark.parametrize("type", TYPES)
def test_every_one_is_stored_with_its_own_id_and_content(server, held, type):
    wanted = {id for t, id in held if t == type}
    assert ids(server, type) == wanted
    for id in sorted(wanted):
        response = server.get(f"{type}/{id}")
        assert response.status_code == 200, (type, id)
        body = response.json()
        assert body["meta"]["versionId"] == "1"
        assert _content(body) == _content(held[(type, id)])


def test_vread_and_history_work(server):
    assert server.get("StructureDefinition/Survivor/_history/1").json()["id"] == "Survivor"
    history = server.get("CodeSystem/CSCodComunasCL/_history").json()
    assert [e["request"]["method"] for e in history["entry"]] == ["PUT"]
    assert server.get("ValueSet/_history", params={"_count": "1"}).status_code == 200


def test_reloading_changes_nothing_and_a_changed_resource_gets_a_new_version(db_url):
    first = initialise(Settings(store=db_url))
    again = initialise(Settings(store=db_url))
    assert again["conformance"] == {"created": 0, "updated": 0, "unchanged": HELD,
                                    "removed": 0}
    assert again["institutions"] == first["institutions"]
    store = open_store(db_url)
    try:
        versions = store.version_count()
        changed = registry.get("ValueSet", "nivel-riesgo")
        changed["description"] = "otra descripción"
        assert load_resources(store, [changed]) == {"created": 0, "updated": 1,
                                                    "unchanged": 0, "removed": 0}
        assert store.read("ValueSet", "nivel-riesgo").version == 2
        assert store.version_count() == versions + 1
    finally:
        store.close()
    third = initialise(Settings(store=db_url))  # back to the packaged content: version 3
    assert third["conformance"] == {"created": 0, "updated": 1, "unchanged": HELD - 1,
                                    "removed": 0}


def test_init_removes_the_definitions_the_server_no_longer_ships(db_url):
    initialise(Settings(store=db_url))
    retired = {"resourceType": "ValueSet", "id": "retirado", "status": "retired",
               "url": "https://fhir.amparo.cl/ValueSet/retirado"}
    store = open_store(db_url)
    try:
        load_resources(store, [retired])  # as an earlier release would have shipped it
        assert store.read("ValueSet", "retirado").version == 1
    finally:
        store.close()
    again = initialise(Settings(store=db_url))
    assert again["conformance"] == {"created": 0, "updated": 0, "unchanged": HELD,
                                    "removed": 1}
    store = open_store(db_url)
    try:
        assert store.read("ValueSet", "retirado").deleted  # its history stays
        assert store.read("ValueSet", "nivel-riesgo").version == 1
        assert store.count("ValueSet") == len(list(registry.all_of("ValueSet")))
    finally:
        store.close()


def test_an_invalid_resource_is_not_loaded(db_url):
    store = open_store(db_url)
    try:
        store.init()
        broken = {"resourceType": "ValueSet", "id": "roto", "status": "unknown-status"}
        ok = {"resourceType": "ValueSet", "id": "bien", "status": "active"}
        with pytest.raises(ValueError, match="ValueSet/roto is not valid R4B"):
            load_resources(store, [ok, broken])
        assert store.read("ValueSet", "bien") is None  # one unit of work: nothing written
        with pytest.raises(ValueError, match="has no id"):
            load_resources(store, [{"resourceType": "ValueSet", "status": "active"}])
    finally:
        store.close()


# -- search ---------------------------------------------------------------------------------


def test_value_set_by_url(server, held):
    assert ids(server, "ValueSet", {"url": NIVEL}) == {"nivel-riesgo"}
    assert ids(server, "ValueSet", {"url": NIVEL + "-x"}) == set()
    prefix = "https://fhir.amparo.cl/ValueSet"
    assert ids(server, "ValueSet", {"url:below": prefix}) == {
        id for (t, id), r in held.items() if t == "ValueSet" and r["url"].startswith(prefix)}


@pytest.mark.parametrize("type", TYPES)
def test_every_one_is_found_by_its_url(server, held, type):
    for (t, id), resource in held.items():
        if t == type:
            found = ids(server, type, {"url": resource["url"]})
            assert found == {i for (u, i), r in held.items()
                             if u == type and r["url"] == resource["url"]}, id


def test_structure_definition_by_type_kind_and_derivation(server, held):
    assert ids(server, "StructureDefinition", {"type": "Patient"}) == {"Survivor"}
    extensions = {id for (t, id), r in held.items()
                  if t == "StructureDefinition" and r["type"] == "Extension"}
    assert len(extensions) == 17
    assert ids(server, "StructureDefinition", {"type": "Extension"}) == extensions
    assert ids(server, "StructureDefinition", {"kind": "resource"}) == {
        d["id"] for d in ig.structure_definitions() if d["kind"] == "resource"}
    assert ids(server, "StructureDefinition", {
        "base": "http://hl7.org/fhir/StructureDefinition/ServiceRequest"}) == {
        "Referral", "ProtectionMeasure"}


@pytest.mark.parametrize(("type", "id"), [("CodeSystem", "CSCodComunasCL"),
                                          ("CodeSystem", "formas-violencia"),
                                          ("ValueSet", "nivel-riesgo"),
                                          ("ConceptMap", "fono-1455-derivacion-institucion"),
                                          ("StructureDefinition", "ext-acceso-armas"),
                                          ("SearchParameter", "caso"),
                                          ("OperationDefinition", "EpisodeOfCare-summary")])
def test_name_version_and_status_are_indexed(server, held, type, id):
    resource = held[(type, id)]
    named = {i for (t, i), r in held.items() if t == type and r.get("name") == resource["name"]}
    assert ids(server, type, {"name:exact": resource["name"]}) == named
    assert id in ids(server, type, {"name": resource["name"][:4].lower()})
    assert id in ids(server, type, {"status": resource["status"]})
    assert id not in ids(server, type, {"status:not": resource["status"]})
    if "version" in resource:
        assert id in ids(server, type, {"url": resource["url"], "version": resource["version"]})
        assert ids(server, type, {"url": resource["url"], "version": "0.0.0-none"}) == set()


def test_code_system_by_name_and_code(server):
    assert ids(server, "CodeSystem", {"name": "CSCodComunasCL"}) == {"CSCodComunasCL"}
    assert ids(server, "CodeSystem", {"code": "13110"}) == {"CSCodComunasCL"}
    assert ids(server, "CodeSystem", {"system": "https://fhir.amparo.cl/CodeSystem/tipo-arma"}
               ) == {"tipo-arma"}


def test_search_parameter_by_base_finds_ours(server):
    ours = {p["id"] for p in ig.search_parameters() if "Observation" in p["base"]}
    assert ours == {"Observation-arma", "Observation-comuna-hechos",
                    "Observation-forma-violencia", "caso"}
    assert ids(server, "SearchParameter", {"base": "Observation"}) == ours
    assert ids(server, "SearchParameter", {"code": "comuna", "base": "Organization"}) == {
        "comuna"}
    assert ids(server, "SearchParameter", {"type": "reference"}) == {
        "caso", "RiskAssessment-institucion-evaluadora", "RiskAssessment-basis",
        "ServiceRequest-motivo"}
    assert ids(server, "SearchParameter", {"target": "EpisodeOfCare"}) == {"caso"}


# -- read-only -----------------------------------------------------------------------------


def _writes(type: str, id: str, resource: dict) -> list[tuple[str, str, dict]]:
    """(method, path, requests keyword arguments) of every write interaction."""
    fresh = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    patch = [{"op": "replace", "path": "/status", "value": "retired"}]
    as_patch = {"data": json.dumps(patch),
                "headers": {"Content-Type": "application/json-patch+json"}}
    criteria = f"{type}?url={resource['url']}"
    return [
        ("POST", type, {"json": fresh}),
        ("POST", type, {"json": fresh, "headers": {"If-None-Exist": f"url={resource['url']}"}}),
        ("PUT", f"{type}/{id}", {"json": {**resource, "status": "retired"}}),
        ("PUT", f"{type}/{id}", {"json": resource}),  # even a no-op update
        ("PUT", f"{type}/nuevo", {"json": {**fresh, "id": "nuevo"}}),
        ("PUT", criteria, {"json": {**resource, "status": "retired"}}),
        ("PATCH", f"{type}/{id}", as_patch),
        ("PATCH", criteria, as_patch),
        ("DELETE", f"{type}/{id}", {}),
        ("DELETE", f"{type}/no-existe", {}),
        ("DELETE", criteria, {}),
    ]


@pytest.mark.parametrize("type", TYPES)
def test_every_write_through_the_api_is_refused_and_changes_nothing(server, held, type):
    id = min(i for t, i in held if t == type)
    before = server.get(f"{type}/{id}").json()
    count = len(ids(server, type))
    history = len(server.get(f"{type}/_history", params={"_count": "500"}).json()["entry"])
    for method, path, kwargs in _writes(type, id, held[(type, id)]):
        response = server.http.request(method, server.url(path), **kwargs)
        body = assert_outcome(response, 405, "not-supported")
        assert "read-only" in body["issue"][0]["diagnostics"], (method, path)
        assert response.headers["Allow"] == "GET, HEAD", (method, path)
    assert server.get(f"{type}/{id}").json() == before
    assert len(ids(server, type)) == count
    assert server.get(f"{type}/nuevo").status_code == 404
    assert len(server.get(f"{type}/_history", params={"_count": "500"}).json()["entry"]
               ) == history


def _entry(method: str, url: str, resource: dict | None = None) -> dict:
    entry = {"request": {"method": method, "url": url}}
    if resource is not None:
        entry["resource"] = resource
    return entry


def _binary_patch() -> dict:
    data = base64.b64encode(json.dumps(
        [{"op": "replace", "path": "/status", "value": "retired"}]).encode()).decode()
    return {"resourceType": "Binary", "contentType": "application/json-patch+json",
            "data": data}


def test_a_transaction_with_a_conformance_write_is_refused_whole(server, held):
    patients = len(ids(server, "Patient"))
    value_set = held[("ValueSet", "nivel-riesgo")]
    for entry in (_entry("PUT", "ValueSet/nivel-riesgo", {**value_set, "status": "retired"}),
                  _entry("POST", "CodeSystem", {"resourceType": "CodeSystem",
                                                "status": "draft", "content": "complete"}),
                  _entry("DELETE", f"ValueSet?url={NIVEL}"),
                  _entry("PATCH", "ConceptMap/fono-1455-derivacion-institucion",
                         _binary_patch())):
        response = server.post("", {"resourceType": "Bundle", "type": "transaction", "entry": [
            _entry("POST", "Patient", {"resourceType": "Patient", "gender": "female",
                                       "name": [{"text": "Ana"}]}),
            entry]})
        body = assert_outcome(response, 405, "not-supported")
        assert body["issue"][0]["expression"] == ["Bundle.entry[1]"]
        assert body["issue"][0]["diagnostics"].startswith("Bundle.entry[1]")
        assert "Allow" not in response.headers  # the base URL itself takes POST
    assert len(ids(server, "Patient")) == patients
    assert server.get("ValueSet/nivel-riesgo").json()["meta"]["versionId"] == "1"


def test_a_batch_refuses_each_conformance_write_in_its_place(server, held):
    search_parameter = held[("SearchParameter", "caso")]
    response = server.post("", {"resourceType": "Bundle", "type": "batch", "entry": [
        _entry("PUT", "SearchParameter/caso", {**search_parameter, "status": "retired"}),
        _entry("DELETE", "StructureDefinition/Survivor"),
        _entry("PATCH", "ValueSet/nivel-riesgo", _binary_patch()),
        _entry("POST", "ConceptMap", {"resourceType": "ConceptMap", "status": "draft"}),
        _entry("GET", "SearchParameter/caso"),
        _entry("GET", f"ValueSet?url={NIVEL}"),
        _entry("GET", "ValueSet/nivel-riesgo/$expand"),
        _entry("POST", "Patient", {"resourceType": "Patient", "name": [{"text": "Ana"}]}),
    ]})
    assert response.status_code == 200, response.text
    entries = response.json()["entry"]
    assert [e["response"]["status"].split()[0] for e in entries] == [
        "405"] * 4 + ["200"] * 3 + ["201"]
    for i, entry in enumerate(entries[:4]):
        issue = entry["response"]["outcome"]["issue"][0]
        assert issue["code"] == "not-supported" and issue["expression"] == [
            f"Bundle.entry[{i}]"]
    assert entries[4]["resource"]["status"] == search_parameter["status"]
    assert server.get("StructureDefinition/Survivor").status_code == 200
    assert server.get("SearchParameter/caso").json()["meta"]["versionId"] == "1"


def test_operations_and_searches_by_post_are_not_writes(server):
    response = server.post("ValueSet/$expand", {"resourceType": "Parameters", "parameter": [
        {"name": "url", "valueUri": NIVEL}]})
    assert response.status_code == 200, response.text
    response = server.http.post(server.url("ValueSet/_search"), data={"url": NIVEL},
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    assert matches(response.json()) == {"nivel-riesgo"}


def test_the_capability_statement_lists_only_reads_for_them(server):
    statement = server.get("metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for type in TYPES:
        entry = by_type[type]
        assert {i["code"] for i in entry["interaction"]} == READS, type
        assert entry["updateCreate"] is False and entry["conditionalCreate"] is False
        assert entry["conditionalUpdate"] is False
        assert entry["conditionalDelete"] == "not-supported"
        assert entry["versioning"] == "versioned"
        name = "title" if type == "SubscriptionTopic" else "name"  # R4B gives topics no name
        assert {"url", name, "version", "status"} <= {p["name"] for p in entry["searchParam"]}
    assert {o["name"] for o in by_type["ValueSet"]["operation"]} >= {"expand", "validate-code"}
    patient = {i["code"] for i in by_type["Patient"]["interaction"]}
    assert patient >= READS | {"create", "update", "patch", "delete"}
    assert by_type["Patient"]["conditionalDelete"] == "single"
