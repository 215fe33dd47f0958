"""Writes checked against the implementation guide's profiles (``Settings.profiles``):
``strict`` (the default) checks every resource one of the guide's profiles recognises and
every profile it claims that the server holds; ``claimed`` only the claimed ones; ``off``
checks neither. A refusal is a 422 listing every problem; nothing is written."""

from __future__ import annotations

import copy

import pytest

from profiles import ig
from server.config import Settings
from tests.conftest import assert_outcome, serve

EXAMPLES = {name: resource for name, resource, _ in ig.examples()}
BASE = "https://fhir.amparo.cl/StructureDefinition/"


def resource(name: str, claim: bool = True) -> dict:
    out = copy.deepcopy(EXAMPLES[name])
    out.pop("id", None)
    if claim:
        out["meta"] = {"profile": [BASE + name.split("-")[0]]}
    else:
        out.pop("meta", None)
    return out


@pytest.fixture(params=["claimed", "strict", "off"])
def server(request, db_url):
    for live in serve(Settings(store=db_url, profiles=request.param)):
        yield request.param, live


def count(live, type: str) -> int:
    return live.get(type, params={"_summary": "count"}).json()["total"]


def test_conforming_resources_are_accepted_in_every_mode(server):
    mode, live = server
    for name in ("Survivor-valid-1", "Aggressor-valid-1", "ViolenceIncident-valid-1"):
        body = resource(name)
        assert live.post(body["resourceType"], json=body).status_code == 201, (mode, name)


def test_a_claimed_profile_is_enforced_unless_off(server):
    mode, live = server
    broken = resource("Survivor-invalid-run-check-digit")
    response = live.post("Patient", json=broken)
    if mode == "off":
        assert response.status_code == 201
        return
    body = assert_outcome(response, 422)
    assert any(i["code"] == "invariant" for i in body["issue"])
    assert count(live, "Patient") == 0


def test_strict_checks_what_a_profile_recognises_even_unclaimed(server):
    mode, live = server
    broken = resource("Survivor-invalid-run-check-digit", claim=False)
    response = live.post("Patient", json=broken)
    if mode == "strict":
        assert_outcome(response, 422)
    else:
        assert response.status_code == 201
    vital_sign = {"resourceType": "Observation", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}
    assert live.post("Observation", json=vital_sign).status_code == 201  # no profile


def test_transactions_patches_and_updates_are_checked_too(server):
    mode, live = server
    good = resource("Survivor-valid-1")
    bad = resource("Survivor-invalid-run-check-digit")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": good,
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:2", "resource": bad,
         "request": {"method": "POST", "url": "Patient"}}]}
    if mode == "off":  # nothing is checked: the whole transaction goes through
        assert live.post("", json=bundle).status_code == 200
        assert count(live, "Patient") == 2
        return
    body = assert_outcome(live.post("", json=bundle), 422)
    assert any("entry[1]" in e for i in body["issue"] for e in i.get("expression", []))
    assert count(live, "Patient") == 0
    created = live.post("Patient", json=good).json()
    wrong = bad["identifier"][0]["value"] if bad.get("identifier") else None
    patch = [{"op": "replace", "path": "/identifier/0/value", "value": wrong}]
    response = live.patch(f"Patient/{created['id']}", json=patch,
                          headers={"Content-Type": "application/json-patch+json"})
    if wrong is not None:
        assert_outcome(response, 422)
    updated = {**bad, "id": created["id"]}
    assert_outcome(live.put(f"Patient/{created['id']}", json=updated), 422)
    assert live.get(f"Patient/{created['id']}").json()["meta"]["versionId"] == "1"


def test_a_claim_of_a_profile_this_server_does_not_hold_is_not_judged(server):
    mode, live = server
    patient = {"resourceType": "Patient", "meta": {"profile": ["http://example.org/other"]},
               "name": [{"family": "Soto"}]}
    assert live.post("Patient", json=patient).status_code == 201


def test_claiming_another_profile_does_not_escape_the_guide_under_strict(server):
    mode, live = server
    broken = resource("Survivor-invalid-run-check-digit", claim=False)
    broken["meta"] = {"profile": ["http://example.org/other"]}
    response = live.post("Patient", json=broken)
    if mode == "strict":
        assert_outcome(response, 422)
        assert count(live, "Patient") == 0
    else:
        assert response.status_code == 201


def test_strict_is_the_default():
    assert Settings().profiles == "strict"
