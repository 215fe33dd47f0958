"""``$validate`` over HTTP: partner developers check resources against the
implementation guide before sending them; nothing is ever written."""

from __future__ import annotations

import copy

import pytest

from profiles import ig
from tests.conftest import assert_outcome

EXAMPLES = {name: (resource, valid) for name, resource, valid in ig.examples()}
INDEX = {entry["name"]: entry for entry in ig.example_index()}
SURVIVOR = "https://fhir.amparo.cl/StructureDefinition/Survivor"


def errors(response) -> list[dict]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [i for i in body["issue"] if i["severity"] == "error"]


def example(name: str) -> dict:
    resource = copy.deepcopy(EXAMPLES[name][0])
    resource.pop("id", None)
    return resource


@pytest.mark.parametrize("name", ["Survivor-valid-1", "Aggressor-valid-1",
                                  "ViolenceIncident-valid-1", "Referral-valid-1"])
def test_a_valid_example_has_no_problems(live, name):
    resource = example(name)
    response = live.post(f"{resource['resourceType']}/$validate", json=resource)
    assert errors(response) == []
    assert response.json()["issue"][0]["severity"] == "information"


@pytest.mark.parametrize("name", [n for n, (_, valid) in EXAMPLES.items() if not valid][::4])
def test_an_invalid_example_gets_its_problem_at_its_element(live, name):
    resource = example(name)
    found = errors(live.post(f"{resource['resourceType']}/$validate", json=resource))
    expected = INDEX[name]["issue"]["expression"]
    assert any(e["expression"][0].startswith(expected) or expected.startswith(
        e["expression"][0]) for e in found), found


def test_parameters_body_and_profile_parameter(live):
    resource = example("Survivor-valid-1")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": resource},
        {"name": "profile", "valueCanonical": SURVIVOR}]}
    assert errors(live.post("Patient/$validate", json=body)) == []
    broken = copy.deepcopy(resource)
    broken["identifier"] = [{"system": "http://regcivil.cl/Validacion/RUN",
                             "value": "12345678-0"}]  # a wrong check digit
    body["parameter"][0]["resource"] = broken
    assert any(e["code"] == "invariant" for e in errors(live.post("Patient/$validate",
                                                                  json=body)))


def test_structure_problems_are_reported_not_refused(live):
    found = errors(live.post("Patient/$validate", json={"resourceType": "Patient",
                                                        "gender": "abc", "bogus": 1}))
    assert {e["expression"][0] for e in found} >= {"Patient.gender", "Patient.bogus"}


def test_instance_modes_and_nothing_is_written(live):
    created = live.post("Patient", json=example("Survivor-valid-1")).json()
    id = created["id"]
    before = live.get("Patient", params={"_summary": "count"}).json()["total"]
    assert errors(live.get(f"Patient/{id}/$validate")) == []  # the stored resource
    mismatched = example("Survivor-valid-1")
    mismatched["id"] = "other"
    found = errors(live.post(f"Patient/{id}/$validate", params={"mode": "update"},
                             json=mismatched))
    assert [e["expression"] for e in found] == [["Patient.id"]]
    assert errors(live.post(f"Patient/{id}/$validate", params={"mode": "delete"})) == []
    assert_outcome(live.post("Patient/nope/$validate", params={"mode": "delete"}), 404)
    after = live.get("Patient", params={"_summary": "count"}).json()["total"]
    assert after == before == 1


@pytest.mark.parametrize(("path", "params", "body", "status"), [
    ("Patient/$validate", {"profile": "urn:unknown"}, {"resourceType": "Patient"}, 400),
    ("Patient/$validate", {"mode": "bogus"}, {"resourceType": "Patient"}, 400),
    ("Patient/$validate", {"mode": "update"}, {"resourceType": "Patient"}, 400),
    ("Patient/$validate", {"mode": "profile"}, {"resourceType": "Patient"}, 400),
    ("Patient/$validate", {"nonsense": "1"}, {"resourceType": "Patient"}, 400),
    ("Patient/$validate", {}, {"resourceType": "Observation"}, 400),
    ("Patient/$validate", {}, {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "valueString": "x"}]}, 400),
    ("Patient/$validate", {}, [1, 2], 400),
])
def test_a_request_that_cannot_be_validated_is_a_4xx(live, path, params, body, status):
    assert_outcome(live.post(path, params=params, json=body), status)


def test_malformed_json_is_a_400(live):
    response = live.http.post(live.url("Patient/$validate"), data=b"{nope")
    assert_outcome(response, 400)


def test_the_capability_statement_lists_validate_on_every_type(live):
    resources = live.get("metadata").json()["rest"][0]["resource"]
    for entry in resources:
        names = [o["name"] for o in entry.get("operation", [])]
        assert "validate" in names, entry["type"]
    patient = next(r for r in resources if r["type"] == "Patient")
    assert {"name": "validate", "definition":
            "http://hl7.org/fhir/OperationDefinition/Resource-validate"} in patient["operation"]
