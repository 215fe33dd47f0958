"""The OperationDefinitions the CapabilityStatement names: R4B's own, or the IG's for the
operations R4B does not define (``profiles/ig/OperationDefinition-*.json``), which
``amparo init`` stores and the server serves like the other conformance resources.

Each ``rest.resource.operation.definition`` must resolve: a client reading the statement
follows it to learn the operation's parameters. Ours are checked against what the
operations really take and answer (``server/api/everything.py``,
``server/api/case_summary.py`` with ``server/timeline/summary.py``,
``server/api/case_life.py``).
See: https://hl7.org/fhir/R4B/operationdefinition.html and
https://hl7.org/fhir/R4B/capabilitystatement-definitions.html#CapabilityStatement.rest.resource.operation.definition
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class

from profiles import ig, validate_structure
from server.api import everything, merge
from server.api.metadata import CORE_OPERATIONS
from server.api.router import routes
from server.api.write import READ_ONLY_TYPES
from server.config import Settings
from server.loading import initialise
from server.store import StoredVersion
from server.timeline import case_summary, entry
from server.timeline.dates import bounds
from tests.conftest import LiveServer, assert_outcome, serve
from tests.server.api.search.conftest import matches
from tests.stores import TEST_STORE, drop_store, new_store_url

AMPARO = "https://fhir.amparo.cl/OperationDefinition/"
#: R4B's own OperationDefinitions (https://hl7.org/fhir/R4B/operationslist.html), by id.
#: The R4B reference data we hold (``../shared/reference/fhir-r4b``) carries no
#: OperationDefinition resource, so they are listed here. Not ``EpisodeOfCare-everything``:
#: R5 adds it, R4B has no EpisodeOfCare operation at all.
R4B_OPERATIONS = frozenset({
    "Resource-convert", "Resource-graph", "Resource-graphql", "Resource-meta",
    "Resource-meta-add", "Resource-meta-delete", "Resource-validate",
    "ActivityDefinition-apply", "ActivityDefinition-data-requirements",
    "CapabilityStatement-conforms", "CapabilityStatement-implements",
    "CapabilityStatement-subset", "CapabilityStatement-versions",
    "ChargeItemDefinition-apply", "Claim-submit", "CodeSystem-find-matches",
    "CodeSystem-lookup", "CodeSystem-subsumes", "CodeSystem-validate-code",
    "Composition-document", "ConceptMap-closure", "ConceptMap-translate",
    "CoverageEligibilityRequest-submit", "Encounter-everything",
    "Library-data-requirements", "List-find", "Measure-care-gaps", "Measure-collect-data",
    "Measure-data-requirements", "Measure-evaluate-measure", "Measure-submit-data",
    "MessageHeader-process-message", "NamingSystem-preferred-id", "Observation-lastn",
    "Observation-stats", "Patient-everything", "Patient-match", "PlanDefinition-apply",
    "PlanDefinition-data-requirements", "StructureDefinition-questionnaire",
    "StructureDefinition-snapshot", "StructureMap-transform", "ValueSet-expand",
    "ValueSet-validate-code",
})
#: The Subscriptions Backport IG's (``hl7.fhir.uv.subscriptions-backport``, which HL7
#: publishes and which partners load beside R4B): the CapabilityStatement names them.
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/"
BACKPORT_OPERATIONS = {("Subscription", code) for code in
                       ("status", "events", "get-ws-binding-token")}
OURS = {d["id"]: d for d in ig.operation_definitions()}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("operations"))
    initialise(Settings(store=url))
    yield from serve(Settings(store=url))
    drop_store(url)


def listed(live: LiveServer) -> list[tuple[str, str, str]]:
    """(resource type, operation name, definition) of every operation in the statement."""
    response = live.get("metadata")
    assert response.status_code == 200, response.text
    (rest,) = response.json()["rest"]
    return [(r["type"], op["name"], op["definition"]) for r in rest["resource"]
            for op in r.get("operation", [])]


def routed() -> dict[tuple[str, str], set[str]]:
    """(resource type, code) -> levels, of every operation routed under a named type."""
    found: dict[tuple[str, str], set[str]] = {}
    for route in routes():
        code = next((p[1:] for p in route.pattern if p.startswith("$")), None)
        if code is not None and not route.pattern[0].startswith((":", "$")):
            found.setdefault((route.pattern[0], code), set()).add(route.level)
    return found


# -- the CapabilityStatement -------------------------------------------------------------


def test_every_definition_in_the_capability_statement_resolves(server):
    operations = listed(server)
    assert ("EpisodeOfCare", "summary", AMPARO + "EpisodeOfCare-summary") in operations
    for type, name, definition in operations:
        if definition.startswith(CORE_OPERATIONS):
            id = definition[len(CORE_OPERATIONS):]
            assert id in R4B_OPERATIONS, (type, name, definition)
            assert id in (f"{type}-{name}", f"Resource-{name}"), (type, name, definition)
            continue
        if definition.startswith(BACKPORT):
            assert (type, name) in BACKPORT_OPERATIONS
            assert definition == f"{BACKPORT}backport-subscription-{name}"
            continue
        response = server.get("OperationDefinition", params={"url": definition})
        assert response.status_code == 200, response.text
        [found] = [e["resource"] for e in response.json()["entry"]
                   if e["search"]["mode"] == "match"]
        assert found["url"] == definition
        assert found["code"] == name and type in found["resource"], (type, name)


def test_ours_are_exactly_the_routed_operations_r4b_does_not_define():
    """... and those that extend R4B's (``base``: $evaluate-measure's ``stratifier``)."""
    missing = {f"{type}-{code}" for type, code in routed()
               if (type, code) not in BACKPORT_OPERATIONS} - R4B_OPERATIONS
    assert {(t, d["code"]) for d in OURS.values() for t in d.get("resource", [])
            if "base" not in d} == {tuple(id.split("-", 1)) for id in missing}
    for d in OURS.values():
        if "base" in d:
            assert d["base"] == CORE_OPERATIONS + d["id"] and d["id"] in R4B_OPERATIONS
    assert set(OURS) == {"EpisodeOfCare-everything", "EpisodeOfCare-summary",
                         "EpisodeOfCare-close", "EpisodeOfCare-reopen",
                         "EpisodeOfCare-transfer", "Patient-merge", "Patient-unmerge",
                         "convert-data", "export", "Patient-export", "Group-export",
                         "Measure-evaluate-measure"}


def test_system_operations_are_ours_and_listed_on_rest(server):
    """``[base]/$convert-data`` and ``[base]/$export``: routed at the system level,
    defined by the IG (no resource), and named in ``rest.operation``."""
    system = {r.pattern[0][1:] for r in routes() if r.pattern[:1] and
              r.pattern[0].startswith("$")}
    assert system == {d["code"] for d in OURS.values() if d["system"] and
                      not d.get("resource")} == {"convert-data", "export"}
    (rest,) = server.get("metadata").json()["rest"]
    assert rest["operation"] == [{"name": "convert-data",
                                  "definition": AMPARO + "convert-data"},
                                 {"name": "export", "definition": AMPARO + "export"}]


def test_each_says_the_levels_it_is_routed_at():
    levels = routed()
    for definition in OURS.values():
        for type in definition.get("resource", []):
            said = {level for level in ("system", "type", "instance") if definition[level]}
            assert said == levels[(type, definition["code"])], definition["id"]


# -- served like the other conformance resources ------------------------------------------


def test_each_is_read_and_searched_by_url_and_code(server):
    for id, definition in OURS.items():
        response = server.get(f"OperationDefinition/{id}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert {k: v for k, v in body.items() if k != "meta"} == definition
        assert matches(server.get("OperationDefinition", params={
            "url": definition["url"], "version": definition["version"]}).json()) == {id}
    assert matches(server.get("OperationDefinition", params={"code": "everything"}).json()
                   ) == {"EpisodeOfCare-everything"}
    assert matches(server.get("OperationDefinition", params={"instance": "true"}).json()
                   ) == {id for id, d in OURS.items() if d["instance"]}
    assert matches(server.get("OperationDefinition", params={"type": "true"}).json()
                   ) == {"Patient-merge", "Patient-unmerge", "Patient-export"}


def test_ours_validate_on_the_server(server):
    for id in OURS:
        response = server.get(f"OperationDefinition/{id}/$validate")
        assert response.status_code == 200, response.text
        issues = response.json()["issue"]
        assert [i["severity"] for i in issues] == ["information"], (id, issues)


def test_a_write_of_ours_is_refused(server):
    assert "OperationDefinition" in READ_ONLY_TYPES
    definition = OURS["EpisodeOfCare-summary"]
    response = server.put(f"OperationDefinition/{definition['id']}",
                          {**definition, "status": "retired"})
    assert_outcome(response, 405, "not-supported")


# -- valid R4B, written like the IG's other resources -------------------------------------


def _parameters(parameters: list[dict]) -> Iterator[dict]:
    for parameter in parameters:
        yield parameter
        yield from _parameters(parameter.get("part", []))


@pytest.mark.parametrize("id", sorted(OURS))
def test_ours_are_valid_r4b_with_the_ig_metadata(id):
    definition = OURS[id]
    assert validate_structure(definition) == []
    get_fhir_model_class("OperationDefinition").model_validate(definition)
    assert definition["url"] == AMPARO + id
    version = ig.search_parameters()[0]["version"]
    assert (definition["language"], definition["version"], definition["status"],
            definition["publisher"], definition["kind"]) == (
        "es-CL", version, "active", "Amparo", "operation")
    assert definition["jurisdiction"][0]["coding"][0]["code"] == "CL"
    assert re.fullmatch("[A-Z]([A-Za-z0-9_]){0,254}", definition["name"])  # opd-0
    assert id == "-".join([*definition.get("resource", [])[:1], definition["code"]])
    for parameter in _parameters(definition["parameter"]):
        assert ("type" in parameter) != ("part" in parameter), parameter["name"]  # opd-1
        assert "searchType" not in parameter  # opd-2: string parameters only
        if "targetProfile" in parameter:  # opd-3
            assert parameter["type"] in ("Reference", "canonical"), parameter["name"]
        assert parameter["documentation"], parameter["name"]


# -- what the operations really take and answer -------------------------------------------


def _declared(id: str, use: str) -> dict[str, dict]:
    return {p["name"]: p for p in OURS[id]["parameter"] if p["use"] == use}


def test_everything_takes_patient_everythings_inputs_and_returns_a_bundle():
    inputs = _declared("EpisodeOfCare-everything", "in")
    assert set(inputs) == {*everything._SINGLE, "_type"}
    # R4B's Patient-everything: start, end (date), _since (instant), _type 0..*, _count
    assert {n: (p["type"], p["max"]) for n, p in inputs.items()} == {
        "start": ("dateTime", "1"), "end": ("dateTime", "1"), "_since": ("instant", "1"),
        "_type": ("code", "*"), "_count": ("integer", "1"), "_offset": ("integer", "1")}
    [out] = _declared("EpisodeOfCare-everything", "out").values()
    assert (out["name"], out["type"], out["min"], out["max"]) == ("return", "Bundle", 1, "1")


@pytest.mark.parametrize(("id", "inputs"), [("EpisodeOfCare-close", set()),
                                             ("EpisodeOfCare-reopen", set()),
                                             ("EpisodeOfCare-transfer", {"organization"})])
def test_a_cases_life_returns_the_case(id, inputs):
    assert set(_declared(id, "in")) == inputs
    [out] = _declared(id, "out").values()
    assert (out["name"], out["type"]) == ("return", "EpisodeOfCare")
    assert OURS[id]["affectsState"] is True


@pytest.mark.parametrize(("id", "inputs"), [("Patient-merge", merge._MERGE_INPUTS),
                                             ("Patient-unmerge", merge._UNMERGE_INPUTS)])
def test_merging_declares_what_it_takes_and_r5s_outputs(id, inputs):
    assert set(_declared(id, "in")) == set(inputs)
    assert set(_declared(id, "out")) == {"input", "outcome", "result"}
    assert OURS[id]["affectsState"] is True


def _version(type: str, id: str, resource: dict, at: str = "2025-03-01T00:00:00Z"
             ) -> StoredVersion:
    body = orjson.dumps({"resourceType": type, "id": id, **resource})
    return StoredVersion(type, id, 1, at, False, body, "POST")


LEVEL = "https://fhir.amparo.cl/CodeSystem/nivel-riesgo"
REFERRAL_TASK = "https://fhir.amparo.cl/StructureDefinition/ReferralTask"
PROTECTION = "https://fhir.amparo.cl/StructureDefinition/ProtectionMeasure"


def _full_summary() -> dict:
    """A summary with every parameter and part ``case_summary`` can give (no server)."""
    case = entry(_version("EpisodeOfCare", "c", {
        "status": "active", "patient": {"reference": "Patient/p"},
        "managingOrganization": {"reference": "Organization/lead"},
        "team": [{"reference": "CareTeam/t"}]}))
    concept = {"coding": [{"system": "https://example.org", "code": "x"}]}
    part = [case, *(entry(v) for v in (
        _version("RiskAssessment", f"r{n}", {
            "status": "final", "occurrenceDateTime": f"2025-0{n}-01T00:00:00Z",
            "method": concept, "prediction": [{"qualitativeRisk": {"coding": [
                {"system": LEVEL, "code": level}]}}]})
        for n, level in ((1, "medio"), (2, "alto")))),
        entry(_version("Task", "k", {
            "meta": {"profile": [REFERRAL_TASK]}, "status": "requested", "intent": "order",
            "focus": {"reference": "ServiceRequest/s"},
            "owner": {"reference": "Organization/shelter"}, "businessStatus": concept,
            "restriction": {"period": {"end": "2025-04-01T00:00:00Z"}}})),
        entry(_version("ServiceRequest", "m", {
            "meta": {"profile": [PROTECTION]}, "status": "active", "intent": "order",
            "code": concept, "orderDetail": [concept, concept],
            "occurrencePeriod": {"start": "2025-01-01", "end": "2099-12-31"}})),
        entry(_version("Flag", "f", {"status": "active", "code": concept,
                                     "period": {"start": "2025-03-01T00:00:00Z"}})),
        entry(_version("CareTeam", "t", {"participant": [
            {"member": {"reference": "Organization/police"}}]})),
        entry(_version("Encounter", "e", {
            "status": "finished", "period": {"start": "2025-03-02T00:00:00Z"},
            "serviceProvider": {"reference": "Organization/lead"}})),
    ]
    now = bounds("2025-06-01T00:00:00Z")[0]
    return case_summary(case, part, lambda ref: None, now)


def test_summary_declares_every_parameter_and_part_it_returns_with_its_type():
    """Both ways: what the answer holds is declared with its value type and within its
    cardinality, and every declared parameter and part is one the summary gives."""
    declared = _declared("EpisodeOfCare-summary", "out")
    assert not _declared("EpisodeOfCare-summary", "in")
    given: set[tuple[str, ...]] = set()

    def check(parameters: list[dict], definitions: dict[str, dict], path: tuple[str, ...]):
        for name in {p["name"] for p in parameters}:
            assert name in definitions, path + (name,)
            count = sum(p["name"] == name for p in parameters)
            assert count <= (10**6 if definitions[name]["max"] == "*"
                             else int(definitions[name]["max"])), path + (name,)
        for name, definition in definitions.items():
            if definition["min"] > 0:
                assert any(p["name"] == name for p in parameters), path + (name,)
        for parameter in parameters:
            definition = definitions[parameter["name"]]
            given.add(path + (parameter["name"],))
            if "part" in definition:
                check(parameter["part"], {d["name"]: d for d in definition["part"]},
                      path + (parameter["name"],))
            else:
                key = "value" + definition["type"][0].upper() + definition["type"][1:]
                assert set(parameter) == {"name", key}, (path, parameter)

    answer = _full_summary()
    check(answer["parameter"], declared, ())
    every = {path for path in _paths(declared.values(), ())}
    assert given == every


def _paths(parameters, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for parameter in parameters:
        yield path + (parameter["name"],)
        yield from _paths(parameter.get("part", []), path + (parameter["name"],))
