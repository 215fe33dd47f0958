"""The CapabilityStatement advertises exactly what search does: every listed search
parameter, modifier, include, revinclude and result parameter is exercised here over
HTTP, driven from the statement itself (on the R4B examples).

See https://hl7.org/fhir/R4B/capabilitystatement.html and
https://hl7.org/fhir/R4B/search.html#include
"""

from __future__ import annotations

import pytest

from server.search.definitions import params_for, resource_types
from tests.conftest import assert_outcome

#: Types the examples hold plenty of (and the domain model's core).
SAMPLED = ("Patient", "Observation", "Encounter", "Organization", "Consent", "Task")
#: A value of each result parameter that any type accepts.
RESULT_SAMPLES = {"_sort": "_id", "_count": "3", "_total": "accurate", "_summary": "true",
                  "_elements": "id", "_include": None, "_revinclude": None, "_has": "x"}


@pytest.fixture(scope="module")
def statement(examples) -> dict:
    response = examples.live.get("metadata")
    assert response.status_code == 200
    return response.json()


def resource(statement: dict, type: str) -> dict:
    (found,) = [r for r in statement["rest"][0]["resource"] if r["type"] == type]
    return found


def outcomes(bundle: dict) -> list[dict]:
    return [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def test_result_parameters_are_listed_once_for_the_server(statement):
    listed = {p["name"] for p in statement["rest"][0]["searchParam"]}
    assert listed == set(RESULT_SAMPLES)


@pytest.mark.parametrize("type", SAMPLED)
def test_every_listed_result_parameter_works(examples, statement, type):
    for entry in statement["rest"][0]["searchParam"]:
        name = entry["name"]
        value = RESULT_SAMPLES[name]
        if name == "_include":
            value = (resource(statement, type).get("searchInclude") or [None])[0]
        elif name == "_revinclude":
            value = (resource(statement, type).get("searchRevInclude") or [None])[0]
        if value is None:
            continue
        if name == "_has":  # Provenance.target may reference any type
            name = "_has:Provenance:target:_id"
        bundle = examples.search(type, {name: value})
        assert not outcomes(bundle), (type, name)


@pytest.mark.parametrize("type", SAMPLED)
def test_every_listed_include_and_revinclude_works(examples, statement, type):
    listed = resource(statement, type)
    includes = listed.get("searchInclude", [])
    assert includes == sorted(includes)
    for value in includes:
        source, code = value.split(":")
        assert source == type and params_for(type)[code].type == "reference"
        bundle = examples.search(type, {"_include": value, "_count": "50"})
        assert not outcomes(bundle), value
    for value in listed.get("searchRevInclude", []):
        source, code = value.split(":")
        assert type in params_for(source)[code].target
        bundle = examples.search(type, {"_revinclude": value, "_count": "50"})
        assert not outcomes(bundle), value


def test_includes_list_every_reference_parameter(statement):
    patient = resource(statement, "Patient")
    assert {"Patient:organization", "Patient:general-practitioner", "Patient:link"} <= \
        set(patient["searchInclude"])
    assert {"Observation:subject", "Observation:patient", "Encounter:subject",
            "Consent:patient"} <= set(patient["searchRevInclude"])
    assert "Encounter:subject" not in resource(statement, "Observation").get(
        "searchRevInclude", [])


def test_unlisted_includes_are_refused(examples, statement):
    listed = set(resource(statement, "Observation").get("searchRevInclude", []))
    for source in sorted(resource_types())[:40]:
        for code, definition in params_for(source).items():
            if definition.type != "reference":
                continue
            value = f"{source}:{code}"
            response = examples.live.get("Observation", params={"_revinclude": value})
            if value in listed:
                assert response.status_code == 200, value
            elif definition.target:
                assert_outcome(response, 400, "invalid")


@pytest.mark.parametrize("type", SAMPLED)
def test_listed_modifiers_are_applied(examples, statement, type):
    for entry in resource(statement, type)["searchParam"]:
        documentation = entry.get("documentation", "")
        if not documentation.startswith("Modifiers: "):
            continue
        listed = documentation.removeprefix("Modifiers: ").split(". ")[0]
        for modifier in listed.split(", "):
            value = MODIFIER_SAMPLES.get(modifier, "x")
            bundle = examples.search(type, {f"{entry['name']}{modifier}": value})
            assert not outcomes(bundle), (entry["name"], modifier)


def test_reference_parameters_are_listed_as_chainable_and_chains_work(examples, statement):
    entry = next(e for e in resource(statement, "Observation")["searchParam"]
                 if e["name"] == "subject")
    assert "Chainable" in entry["documentation"]
    bundle = examples.search("Observation", {"subject:Patient.gender": "male"})
    assert not outcomes(bundle)
    assert any(e["name"] == "_has" for e in statement["rest"][0]["searchParam"])


#: A valid value for each modifier (a ``:[type]`` modifier takes an id: "x").
MODIFIER_SAMPLES = {":missing": "true", ":identifier": "urn:x|y", ":below": "http://x.org/a",
                    ":above": "http://x.org/a/b", ":not": "x", ":text": "x", ":exact": "x",
                    ":contains": "x"}
