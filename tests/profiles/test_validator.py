"""Profile validation (profiles/validator.py): every rule kind, valid and invalid, on a
small profile written out here; and, when ../shared is present, the examples HL7 Chile
published with CL Core 1.8.7 against its own profiles (all valid)."""

from __future__ import annotations

import copy
import json

import pytest

from profiles.snapshot import resolver
from profiles.validator import ProfileValidator
from tests.conftest import SHARED

BASE = "http://hl7.org/fhir/StructureDefinition/"


def element(id: str, min: int = 0, max: str = "*", *types: str, **more) -> dict:
    path = ".".join(part.split(":")[0] for part in id.split("."))
    out = {"id": id, "path": path, "min": min, "max": max, "base": {"max": more.pop(
        "base_max", max)}, **more}
    if types:
        out["type"] = [{"code": t} for t in types]
    return out


FLAG = {"url": "urn:ext:flag", "type": "Extension",
        "context": [{"type": "element", "expression": "Patient"}], "snapshot": {"element": [
    element("Extension", 0, "*"),
    element("Extension.url", 1, "1", "uri", fixedUri="urn:ext:flag"),
    element("Extension.value[x]", 1, "1", "boolean"),
]}}
PROFILE = {"url": "urn:test:profile", "type": "Patient", "snapshot": {"element": [
    element("Patient", 0, "*", constraint=[
        {"key": "inv-1", "severity": "error", "human": "a name or an id",
         "expression": "name.exists() or id.exists()"},
        {"key": "ele-1", "severity": "error", "human": "base", "expression": "false",
         "source": BASE + "Element"}]),
    element("Patient.extension", 0, "*", "Extension",
            slicing={"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}),
    {**element("Patient.extension:flag", 0, "1", base_max="*"),
     "type": [{"code": "Extension", "profile": ["urn:ext:flag"]}], "sliceName": "flag"},
    element("Patient.identifier", 0, "*", "Identifier",
            slicing={"discriminator": [{"type": "value", "path": "system"}],
                     "rules": "closed"}),
    element("Patient.identifier:run", 0, "1", "Identifier", sliceName="run", base_max="*"),
    element("Patient.identifier:run.system", 1, "1", "uri", fixedUri="urn:run"),
    element("Patient.identifier:run.value", 1, "1", "string", constraint=[
        {"key": "run-1", "severity": "error", "human": "digits, a dash, a check digit",
         "expression": "matches('^[0-9]+-[0-9K]$')"}]),
    element("Patient.name", 1, "1", "string", base_max="*"),
    element("Patient.maritalStatus", 0, "1", "CodeableConcept",
            binding={"strength": "required", "valueSet": "urn:vs:marital"}),
    element("Patient.language", 0, "1", "code",
            binding={"strength": "extensible", "valueSet": "urn:vs:language"}),
    element("Patient.gender", 0, "1", "code", fixedCode="female"),
    element("Patient.contact", 0, "1", "BackboneElement", base_max="*",
            patternBackboneElement={"relationship": [{"coding": [{"code": "N"}]}]}),
    {**element("Patient.generalPractitioner", 0, "*"),
     "type": [{"code": "Reference", "targetProfile": [BASE + "Practitioner"]}]},
    element("Patient.deceased[x]", 0, "1", "boolean"),
]}}
MEMBERS = {("urn:vs:marital", "M"), ("urn:vs:language", "es")}


def member(url: str, system: str | None, code: str) -> bool | None:
    if url == "urn:vs:unknown":
        return None
    return (url, code) in MEMBERS


VALIDATOR = ProfileValidator(PROFILE, resolver(extra=[FLAG]), member)
VALID = {
    "resourceType": "Patient", "name": "Ana",
    "extension": [{"url": "urn:ext:flag", "valueBoolean": True},
                  {"url": "urn:other", "valueString": "open slicing"}],
    "identifier": [{"system": "urn:run", "value": "12345678-5"}],
    "maritalStatus": {"coding": [{"system": "urn:x", "code": "M"}]},
    "language": "es", "gender": "female",
    "contact": {"relationship": [{"coding": [{"system": "urn:r", "code": "N"}]}]},
    "generalPractitioner": [{"reference": "Practitioner/p1"}],
    "deceasedBoolean": False,
}


def problems(change) -> list[tuple[str, str, str]]:
    resource = copy.deepcopy(VALID)
    change(resource)
    return [(i.severity, i.code, i.expression) for i in VALIDATOR.validate(resource)]


def test_a_conforming_resource_has_no_issues():
    assert VALIDATOR.validate(copy.deepcopy(VALID)) == []


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r.pop("name"), [("error", "required", "Patient.name"),
                               ("error", "invariant", "Patient")]),
    (lambda r: r.update(gender="male"), [("error", "value", "Patient.gender")]),
    (lambda r: r["contact"]["relationship"][0]["coding"][0].update(code="C"),
     [("error", "value", "Patient.contact[0]")]),
    (lambda r: r.update(maritalStatus={"coding": [{"code": "S"}]}),
     [("error", "code-invalid", "Patient.maritalStatus")]),
    (lambda r: r.update(language="fr"), [("warning", "code-invalid", "Patient.language")]),
    (lambda r: r["identifier"][0].update(value="12345678"),
     [("error", "invariant", "Patient.identifier[0].value")]),
    (lambda r: r["identifier"].append({"system": "urn:run", "value": "1-9"}),
     [("error", "structure", "Patient.identifier:run")]),
    (lambda r: r["identifier"].append({"system": "urn:passport", "value": "X1"}),
     [("error", "structure", "Patient.identifier[1]")]),
    (lambda r: r["identifier"][0].pop("value"),
     [("error", "required", "Patient.identifier[0].value")]),
    (lambda r: r["generalPractitioner"].append({"reference": "Observation/o1"}),
     [("error", "structure", "Patient.generalPractitioner[1]")]),
    (lambda r: (r.pop("deceasedBoolean"), r.update(deceasedDateTime="2020")),
     [("error", "structure", "Patient.deceased")]),
    (lambda r: r["extension"].append({"url": "urn:ext:flag", "valueBoolean": False}),
     [("error", "structure", "Patient.extension:flag")]),
    (lambda r: r["extension"][0].update(valueString="yes") or r["extension"][0].pop(
        "valueBoolean"), [("error", "structure", "Patient.extension[0].value")]),
])
def test_each_rule_reports_its_problem_at_the_element(change, expected):
    assert sorted(problems(change)) == sorted(expected)


def test_an_extension_outside_its_context_is_refused():
    profile = copy.deepcopy(PROFILE)
    flag = {**copy.deepcopy(FLAG), "context": [{"type": "element", "expression": "Observation"}]}
    validator = ProfileValidator(profile, resolver(extra=[flag]), member)
    issues = validator.validate(copy.deepcopy(VALID))
    assert [(i.code, i.expression) for i in issues] == [("structure", "Patient.extension[0]")]
    assert "context" in issues[0].diagnostics


def test_every_problem_is_reported_at_once():
    def many(r):
        r.pop("name")
        r.update(gender="male", language="fr")
        r["identifier"][0].update(value="bad")
    assert len(problems(many)) == 5


def test_an_unknown_value_set_is_not_judged_and_base_invariants_are_left_to_structure():
    profile = copy.deepcopy(PROFILE)
    for e in profile["snapshot"]["element"]:
        if e["id"] == "Patient.maritalStatus":
            e["binding"]["valueSet"] = "urn:vs:unknown"
    validator = ProfileValidator(profile, resolver(extra=[FLAG]), member)
    resource = copy.deepcopy(VALID)
    resource["maritalStatus"] = {"coding": [{"code": "whatever"}]}
    assert validator.validate(resource) == []  # and ele-1 ("false") was not evaluated


CLCORE = SHARED / "reference" / "chile" / "clcore-1.8.7"
R4B = SHARED / "reference" / "fhir-r4b"


@pytest.mark.skipif(not CLCORE.exists(), reason="needs ../shared/reference (CL Core, R4B)")
def test_cl_core_examples_conform_to_cl_core_profiles():
    definitions = [json.loads(p.read_text("utf-8"))
                   for p in sorted(CLCORE.glob("StructureDefinition-*.json"))]
    resolve = resolver(R4B / "profiles-resources.json", R4B / "profiles-types.json",
                       extra=definitions)
    by_url = {d["url"]: d for d in definitions}
    checked = 0
    for path in sorted(CLCORE.glob("*.json")):
        resource = json.loads(path.read_text("utf-8"))
        for url in resource.get("meta", {}).get("profile", []):
            if url in by_url:
                assert ProfileValidator(by_url[url], resolve).validate(resource) == [], path
                checked += 1
    assert checked >= 10


def test_conformance_keeps_one_validator_per_profile_and_names_unknown_profiles():
    from profiles.conformance import Conformance

    definitions = [{**PROFILE, "resourceType": "StructureDefinition"},
                   {**FLAG, "resourceType": "StructureDefinition"}]
    conformance = Conformance(definitions, member)
    assert conformance.validator("urn:test:profile|1.0") is conformance.validator(
        "urn:test:profile")
    assert conformance.validate(copy.deepcopy(VALID), ["urn:test:profile"]) == []
    bad = copy.deepcopy(VALID)
    bad.pop("name")
    assert {i.expression for i in conformance.validate(bad, ["urn:test:profile"])} == {
        "Patient.name", "Patient"}
    unknown = conformance.validate(copy.deepcopy(VALID), ["urn:nope", "urn:ext:flag"])
    assert [(i.code, i.expression) for i in unknown] == [
        ("not-supported", "Patient.meta.profile[0]"), ("invalid", "Patient.meta.profile[1]")]
