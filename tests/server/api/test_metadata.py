"""The CapabilityStatement (GET /fhir/metadata) and /health.

See: https://hl7.org/fhir/R4B/http.html#capabilities and
https://hl7.org/fhir/R4B/capabilitystatement.html
"""

from __future__ import annotations

import json

import requests

from profiles import ig, validate_structure
from server.api.router import routes
from server.api.write import NOT_WRITABLE
from server.search.definitions import params_for, resource_types
from tests.conftest import patient

R4 = "application/fhir+json; fhirVersion=4.0"
#: Resource types new in R4B: an R4 client must not be told they exist.
R4B_ONLY = {"SubscriptionTopic", "SubscriptionStatus", "Citation", "EvidenceReport",
            "Ingredient", "NutritionProduct", "RegulatedAuthorization",
            "AdministrableProductDefinition", "ClinicalUseDefinition",
            "ManufacturedItemDefinition", "PackagedProductDefinition"}
#: A value of each search parameter type that a supporting server must accept.
SAMPLES = {"token": "x", "string": "x", "date": "2020-01-01", "number": "1", "quantity": "1",
           "uri": "http://example.org/x", "composite": "x$y", "special": "x"}


def statement(live, **headers) -> dict:
    response = live.get("metadata", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def rest(cs: dict) -> dict:
    (server,) = cs["rest"]
    assert server["mode"] == "server"
    return server


def resource(cs: dict, type: str) -> dict:
    (found,) = [r for r in rest(cs)["resource"] if r["type"] == type]
    return found


# the statement itself -------------------------------------------------------------------

def test_the_capability_statement_is_valid_r4b(live):
    cs = statement(live)
    assert cs["resourceType"] == "CapabilityStatement"
    assert validate_structure(cs) == []


def test_the_capability_statement_says_r4b_json_and_json_patch(live):
    response = live.get("metadata")
    assert response.headers["Content-Type"] == "application/fhir+json; fhirVersion=4.3"
    cs = response.json()
    assert cs["fhirVersion"] == "4.3.0"
    assert cs["kind"] == "instance" and cs["status"] == "active"
    assert "application/fhir+json" in cs["format"]
    assert cs["patchFormat"] == ["application/json-patch+json"]
    assert cs["implementation"]["url"] == live.base


def test_the_capability_statement_lists_every_r4b_resource_type(live):
    types = {r["type"] for r in rest(statement(live))["resource"]}
    assert types == resource_types()
    assert {"Patient", "Observation", "SubscriptionTopic", "Consent"} <= types
    assert live.get("DomainResource").status_code == 404  # abstract: not served, not listed


# interactions ---------------------------------------------------------------------------

def test_the_interactions_listed_are_exactly_those_of_the_route_table(live):
    cs = statement(live)
    system, typed = set(), set()
    for route in routes():
        for code in (route.interaction or "").split():
            (system if route.level == "system" else typed).add(code)
    assert {i["code"] for i in rest(cs)["interaction"]} == system
    for entry in rest(cs)["resource"]:
        # conformance resources: no create, update, patch or delete; the audit trail, not
        # made of versions, is read and searched only (server/api/audit.py)
        expected = typed - {"create", "update", "patch", "delete"} \
            if entry["type"] in NOT_WRITABLE else typed
        if entry["type"] == "AuditEvent":
            expected = {"read", "vread", "search-type"}
        assert {i["code"] for i in entry["interaction"]} == expected, entry["type"]


def _exercise(live, code: str, pid: str) -> requests.Response:
    """A real request for the interaction ``code`` on Patient ``pid``."""
    batch = {"resourceType": "Bundle", "type": code, "entry": [
        {"request": {"method": "GET", "url": f"Patient/{pid}"}}]}
    requests_by_code = {
        "read": lambda: live.get(f"Patient/{pid}"),
        "vread": lambda: live.get(f"Patient/{pid}/_history/1"),
        "update": lambda: live.put(f"Patient/{pid}", json=patient(id=pid, active=True)),
        "patch": lambda: live.patch(f"Patient/{pid}", data=json.dumps(
            [{"op": "add", "path": "/gender", "value": "female"}]),
            headers={"Content-Type": "application/json-patch+json"}),
        "delete": lambda: live.delete(f"Patient/{pid}"),
        "history-instance": lambda: live.get(f"Patient/{pid}/_history"),
        "history-type": lambda: live.get("Patient/_history"),
        "create": lambda: live.post("Patient", json=patient()),
        "search-type": lambda: live.get("Patient", params={"_id": pid}),
        "history-system": lambda: live.get("_history"),
        "transaction": lambda: live.post("", json=batch),
        "batch": lambda: live.post("", json=batch),
    }
    assert code in requests_by_code, f"no check for the listed interaction {code}"
    return requests_by_code[code]()


def test_every_listed_interaction_works(live):
    cs = statement(live)
    codes = [i["code"] for i in resource(cs, "Patient")["interaction"]]
    codes += [i["code"] for i in rest(cs)["interaction"]]
    codes.sort(key=lambda code: code == "delete")  # delete last: the others need the Patient
    pid = live.post("Patient", json=patient()).json()["id"]
    for code in codes:
        response = _exercise(live, code, pid)
        assert response.status_code in (200, 201, 204), (code, response.text)


def test_conditional_delete_is_single_and_refuses_several_matches(live):
    assert resource(statement(live), "Patient")["conditionalDelete"] == "single"
    for _ in range(2):
        live.post("Patient", json=patient(active=True))
    assert live.delete("Patient?active=true").status_code == 412


# search parameters ----------------------------------------------------------------------

def _sample(code: str, type: str) -> str:
    definition = params_for(type).get(code)
    if definition is None or definition.type == "token":
        return "x"
    if definition.type == "reference":
        return f"{definition.target[0]}/x" if definition.target else "x"
    return SAMPLES[definition.type]


def _ignored(live, type: str, code: str) -> bool:
    response = live.get(type, params={code: _sample(code, type)})
    assert response.status_code == 200, (code, response.text)
    outcome = [e for e in response.json().get("entry", []) if e["search"]["mode"] == "outcome"]
    return bool(outcome)


def test_each_listed_search_parameter_has_its_type_and_definition(live):
    for entry in resource(statement(live), "Patient")["searchParam"]:
        definition = params_for("Patient")[entry["name"]]
        assert entry["type"] == definition.type
        assert entry["definition"] == definition.url


def test_the_search_parameters_listed_are_exactly_those_applied(live):
    type = "Patient"
    listed = {p["name"] for p in resource(statement(live), type)["searchParam"]}
    assert "_id" in listed
    for code in sorted(set(params_for(type)) | listed):
        assert _ignored(live, type, code) == (code not in listed), code


def test_a_listed_search_parameter_selects_resources(live):
    listed = {p["name"] for p in resource(statement(live), "Patient")["searchParam"]}
    assert {"identifier", "active", "gender"} <= listed
    female = live.post("Patient", json=patient(gender="female", active=True)).json()["id"]
    live.post("Patient", json=patient(gender="male", active=False))
    for code, value in (("gender", "female"), ("active", "true")):
        found = live.get("Patient", params={code: value}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == [female], code


# operations -----------------------------------------------------------------------------

def test_each_operation_names_the_igs_definition_or_else_r4bs(live):
    """R4B defines no EpisodeOfCare operation: those point at the IG's OperationDefinitions
    (that they resolve is tested in test_operation_definitions.py); a Subscription's at the
    Subscriptions Backport IG's; the rest keep R4B's canonical, ``[type]/$validate`` on
    every type as ``Resource-validate``."""
    ours = {(t, d["code"]): d["url"] for d in ig.operation_definitions()
            for t in d.get("resource", [])}
    backport = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/"
    ours |= {("Subscription", code): f"{backport}backport-subscription-{code}"
             for code in ("status", "events", "get-ws-binding-token")}
    for entry in rest(statement(live))["resource"]:
        for operation in entry.get("operation", []):
            key = (entry["type"], operation["name"])
            core = "http://hl7.org/fhir/OperationDefinition/" + (
                f"{entry['type']}-{operation['name']}" if operation["name"] != "validate"
                else "Resource-validate")
            assert operation["definition"] == ours.get(key, core), key
    case = {o["name"]: o["definition"] for o in resource(statement(live), "EpisodeOfCare")[
        "operation"]}
    assert case["summary"] == "https://fhir.amparo.cl/OperationDefinition/EpisodeOfCare-summary"
    assert case["everything"] == ("https://fhir.amparo.cl/OperationDefinition/"
                                  "EpisodeOfCare-everything")
    patient_ops = {o["name"]: o["definition"] for o in resource(statement(live), "Patient")[
        "operation"]}
    assert patient_ops["everything"] == ("http://hl7.org/fhir/OperationDefinition/"
                                         "Patient-everything")
    subscription = resource(statement(live), "Subscription")
    assert {o["name"] for o in subscription["operation"]} >= {"status", "events"}


def test_the_subscription_topics_are_listed_on_subscription(live):
    """The Backport IG's way to list the topics a server offers: one
    ``capabilitystatement-subscriptiontopic-canonical`` extension per topic."""
    subscription = resource(statement(live), "Subscription")
    listed = {e["valueCanonical"] for e in subscription["extension"] if e["url"].endswith(
        "/capabilitystatement-subscriptiontopic-canonical")}
    assert listed == {t["url"] for t in ig.subscription_topics()}
    assert len(listed) == 9


# R4 clients -----------------------------------------------------------------------------

def test_an_r4_client_gets_an_r4_capability_statement(live):
    response = live.get("metadata", headers={"Accept": R4})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == R4
    cs = response.json()
    assert cs["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in rest(cs)["resource"]}
    assert "Patient" in types
    assert not types & R4B_ONLY


def test_the_r4b_statement_lists_the_types_the_r4_one_leaves_out(live):
    types = {r["type"] for r in rest(statement(live))["resource"]}
    assert types >= R4B_ONLY


# health ---------------------------------------------------------------------------------

def test_health_answers_ok_outside_the_fhir_base(live):
    response = live.http.get(live.base.removesuffix("/fhir") + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
