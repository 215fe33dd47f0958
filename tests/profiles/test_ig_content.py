"""The implementation guide's content (profiles/ig): definitions that parse, snapshots
that are what our generator writes, bindings and references that resolve, invariants that
hold on the valid examples and fail on theirs, SearchParameters the extractor runs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import fhirpathpy
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.searchparameter import SearchParameter
from fhir.resources.R4B.structuredefinition import StructureDefinition
from fhirpathpy.models import models

import profiles.ig as ig
import terminology
from mappings import run
from profiles import validate_structure
from profiles.r4b import element_types
from server.search.definitions import SearchParam
from server.search.extract import compile_plan, extract
from tests.conftest import SHARED

R4 = models["r4"]
SD = "https://fhir.amparo.cl/StructureDefinition/"
DESIGN = {  # DESIGN.md, "The implementation guide": profile -> base
    "Survivor": "Patient", "Aggressor": "RelatedPerson", "InstitutionalContact": "Encounter",
    "VAWCase": "EpisodeOfCare", "ViolenceIncident": "Observation",
    "RiskInstrument": "Questionnaire", "RiskAnswers": "QuestionnaireResponse",
    "VAWRiskAssessment": "RiskAssessment", "Referral": "ServiceRequest",
    "ReferralTask": "Task", "ProtectionMeasure": "ServiceRequest", "CasePlan": "CarePlan",
    "MinimumServicePackage": "PlanDefinition", "Statement": "DocumentReference",
    "SharingConsent": "Consent", "Alert": "Flag", "AlertEvidence": "DetectedIssue",
    "Institution": "Organization", "Staff": "PractitionerRole",
}
DEFINITIONS = {d["url"]: d for d in ig.structure_definitions()}
EXTERNAL = {d["url"]: d for d in ig.external_definitions()}
PROFILES = {u: d for u, d in DEFINITIONS.items() if d["kind"] == "resource"}
INDEX = ig.example_index()
EXAMPLES = {name: resource for name, resource, _ in ig.examples()}
VALID = [e for e in INDEX if e["expected"] == "valid"]
INVALID = [e for e in INDEX if e["expected"] == "invalid"]


@cache
def _compiled(expression: str):
    return fhirpathpy.compile(expression, R4)


def fhirpath(resource: dict, expression: str) -> list:
    """``expression`` evaluated on ``resource`` by fhirpathpy with its R4 model (the
    server's engine; there is no R4B model), parsed once."""
    return _compiled(expression)(resource)


def invariants(profile_url: str) -> list[dict]:
    return PROFILES[profile_url]["differential"]["element"][0].get("constraint", [])


def names(entries: list[dict]) -> list[str]:
    return [e["name"] for e in entries]


# --- definitions ---------------------------------------------------------------------

def test_every_profile_of_the_design_is_defined_on_its_base():
    assert {d["id"]: d["type"] for d in PROFILES.values()} == DESIGN
    for definition in PROFILES.values():
        assert definition["url"] == SD + definition["id"]
        assert definition["baseDefinition"] == "http://hl7.org/fhir/StructureDefinition/" \
            + definition["type"]
        assert (definition["fhirVersion"], definition["derivation"]) == ("4.3.0", "constraint")
        assert definition["language"] == "es-CL" and definition["title"]
        assert any(e.get("mustSupport") for e in definition["differential"]["element"])


def test_extensions_are_ours_with_a_context():
    extensions = [d for d in DEFINITIONS.values() if d["type"] == "Extension"]
    assert len(extensions) == len(DEFINITIONS) - len(DESIGN) >= 6
    for definition in extensions:
        assert definition["id"].startswith("ext-") and definition["context"]
        assert definition["kind"] == "complex-type"


@pytest.mark.parametrize("url", sorted(DEFINITIONS) + sorted(EXTERNAL))
def test_definitions_parse_as_r4b_structure_definitions(url):
    StructureDefinition.model_validate({**DEFINITIONS, **EXTERNAL}[url])


def test_every_differential_element_is_in_the_snapshot_with_its_constraints():
    for definition in DEFINITIONS.values():
        snapshot = {e["id"]: e for e in definition["snapshot"]["element"]}
        for element in definition["differential"]["element"]:
            generated = snapshot[element["id"]]
            for key, value in element.items():
                if key == "constraint":
                    keys = {c["key"] for c in generated["constraint"]}
                    assert {c["key"] for c in value} <= keys
                else:
                    assert generated[key] == value, (definition["id"], element["id"], key)


@pytest.mark.skipif(not (SHARED / "reference").exists(),
                    reason="needs ../shared/reference (the R4B base definitions)")
def test_committed_snapshots_are_what_the_generator_writes_now():
    from scripts.build_ig import build

    files = build(SHARED)
    stale = [path.name for path, text in files.items()
             if not path.exists() or path.read_text("utf-8") != text]
    assert not stale, "run python scripts/build_ig.py"


def _value_sets() -> set[str]:
    folder = Path(terminology.__file__).parent / "valuesets"
    return {json.loads(p.read_text("utf-8"))["url"] for p in folder.glob("*.json")}


def test_bindings_name_our_value_sets_or_hl7_ones():
    ours = _value_sets()
    for definition in DEFINITIONS.values():
        for element in definition["differential"]["element"]:
            value_set = element.get("binding", {}).get("valueSet")
            if value_set is None:
                continue
            if value_set.startswith("https://fhir.amparo.cl/"):
                assert value_set in ours, (definition["id"], element["id"])
            else:
                assert value_set.startswith(("http://hl7.org/fhir/ValueSet/",
                                             "http://terminology.hl7.org/ValueSet/"))


def test_profiles_and_targets_resolve_to_definitions_we_ship_or_r4b_types():
    known = set(DEFINITIONS) | set(EXTERNAL)
    base = "http://hl7.org/fhir/StructureDefinition/"
    for definition in DEFINITIONS.values():
        for element in definition["differential"]["element"]:
            for kind in element.get("type", []):
                for url in kind.get("profile", []) + kind.get("targetProfile", []):
                    assert url in known or (url.startswith(base)
                                            and url[len(base):] in element_types()), url


# --- examples ------------------------------------------------------------------------

def test_every_profile_has_a_valid_example_and_three_invalid_ones():
    for url in PROFILES:
        assert [e for e in VALID if e["profile"] == url], url
        assert len([e for e in INVALID if e["profile"] == url]) >= 3, url
    assert set(EXAMPLES) == set(names(INDEX))
    assert all(e["issue"]["kind"] in {"min", "max", "binding", "pattern", "fixed", "type",
                                      "target-profile", "invariant"} for e in INVALID)


@pytest.mark.parametrize("name", names(INDEX))
def test_examples_are_valid_r4b_and_claim_their_profile(name):
    resource = EXAMPLES[name]
    assert validate_structure(resource) == []
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    entry = next(e for e in INDEX if e["name"] == name)
    assert resource["meta"]["profile"] == [entry["profile"]]
    assert resource["resourceType"] == PROFILES[entry["profile"]]["type"]


@pytest.mark.parametrize("name", names(INVALID))
def test_the_issue_of_an_invalid_example_names_an_element_of_its_definition(name):
    entry = next(e for e in INVALID if e["name"] == name)
    issue = entry["issue"]
    holder = {**DEFINITIONS, **EXTERNAL}[issue.get("structure", entry["profile"])]
    assert issue["element"] in {e["id"] for e in holder["snapshot"]["element"]}
    if issue["kind"] == "invariant":
        assert issue["key"] in {c["key"] for c in invariants(entry["profile"])}


@pytest.mark.parametrize("name", names(INDEX))
def test_invariants_hold_except_the_one_an_invalid_example_breaks(name):
    entry = next(e for e in INDEX if e["name"] == name)
    broken = entry.get("issue", {}).get("key")
    for constraint in invariants(entry["profile"]):
        expected = [constraint["key"] != broken]
        assert fhirpath(EXAMPLES[name], constraint["expression"]) == expected, \
            constraint["key"]


def test_every_invariant_has_an_invalid_example_that_breaks_it():
    broken = {(e["profile"], e["issue"].get("key")) for e in INVALID}
    for url in PROFILES:
        for constraint in invariants(url):
            assert (url, constraint["key"]) in broken, constraint["key"]


# --- invariants against the rules they encode -----------------------------------------

def _with_run(value: str) -> dict:
    return {"resourceType": "Patient",
            "identifier": [{"system": "http://regcivil.cl/Validacion/RUN", "value": value}]}


@pytest.mark.parametrize("profile", ["Survivor", "Aggressor"])
def test_the_run_invariant_is_the_modulo_11_check_digit(profile):
    (constraint,) = [c for c in invariants(SD + profile) if "RUN" in c["human"]]
    bodies = [1, 9, 10, 11, 1000005, 6000000, 9999999, 12345678, 40611189, 42845541,
              47312058, 99999999, 123456789] + list(range(41382200, 41382230))
    for body in bodies:
        good = run.format_run(body)
        assert fhirpath(_with_run(good), constraint["expression"]) == [True], good
        for digit in "0123456789K":
            if digit != good[-1]:
                wrong = f"{body}-{digit}"
                assert not run.is_valid(wrong)
                assert fhirpath(_with_run(wrong), constraint["expression"]) == [False], wrong
    for malformed in ["41.382.204-1", "41382204-k", "041382204-1", "413822041", "-1", ""]:
        assert fhirpath(_with_run(malformed), constraint["expression"]) == [False], malformed


def _coding(system: str, code: str) -> dict:
    return {"coding": [{"system": f"https://fhir.amparo.cl/CodeSystem/{system}", "code": code}]}


def test_the_risk_level_invariant_follows_the_instruments_levels():
    (constraint,) = [c for c in invariants(SD + "VAWRiskAssessment") if c["key"] == "amp-rsk-1"]
    for instrument, concept in terminology.concepts("instrumento-riesgo").items():
        allowed = {p["valueCoding"]["code"] for p in concept["property"] if p["code"] == "nivel"}
        for level in terminology.concepts("nivel-riesgo"):
            assessment = {"resourceType": "RiskAssessment",
                          "method": _coding("instrumento-riesgo", instrument),
                          "prediction": [{"qualitativeRisk": _coding("nivel-riesgo", level)}]}
            got = fhirpath(assessment, constraint["expression"])
            assert got == [level in allowed], (instrument, level)


def test_the_task_status_invariant_follows_estado_derivacion():
    (constraint,) = [c for c in invariants(SD + "ReferralTask") if c["key"] == "amp-tsk-1"]
    statuses = ["requested", "received", "accepted", "in-progress", "completed", "rejected",
                "failed", "cancelled", "on-hold"]
    for business, concept in terminology.concepts("estado-derivacion").items():
        (expected,) = [p["valueCoding"]["code"] for p in concept["property"]
                       if p["code"] == "estadoTarea"]
        for status in statuses:
            task = {"resourceType": "Task", "status": status,
                    "businessStatus": _coding("estado-derivacion", business)}
            assert fhirpath(task, constraint["expression"]) == [status == expected], \
                (business, status)


# --- search parameters ---------------------------------------------------------------

SEARCH = {p["code"] + ":" + ",".join(p["base"]): p for p in ig.search_parameters()}
#: (SearchParameter id, example) -> (system, code) or reference a valid example indexes.
EXPECTED_VALUES = {
    ("comuna", "Survivor-valid-1"): "13110",
    ("comuna", "Institution-valid-1"): "13110",
    ("Patient-nacionalidad", "Survivor-valid-1"): "152",
    ("Observation-forma-violencia", "ViolenceIncident-valid-1"): "psicologica",
    ("Observation-comuna-hechos", "ViolenceIncident-valid-1"): "13110",
    ("Observation-arma", "ViolenceIncident-valid-1"): "arma-blanca",
    ("caso", "ViolenceIncident-valid-1"): "EpisodeOfCare/caso-ejemplo",
    ("caso", "Referral-valid-1"): "EpisodeOfCare/caso-ejemplo",
    ("caso", "Statement-valid-1"): "EpisodeOfCare/caso-ejemplo",
    ("RelatedPerson-acceso-armas", "Aggressor-valid-1"): "Y",
    ("RiskAssessment-institucion-evaluadora", "VAWRiskAssessment-valid-1"):
        "Organization/centro-de-la-mujer-13110",
    ("ServiceRequest-medida", "ProtectionMeasure-valid-1"): "rondas-periodicas",
    ("Flag-code", "Alert-valid-1"): "reincidencia",
    ("Flag-status", "Alert-valid-1"): "active",
    ("Consent-tipo-institucion", "SharingConsent-valid-1"): "carabineros",
}


@pytest.mark.parametrize("id", sorted(p["id"] for p in SEARCH.values()))
def test_search_parameters_parse_and_name_themselves(id):
    (resource,) = [p for p in SEARCH.values() if p["id"] == id]
    SearchParameter.model_validate(resource)
    assert resource["url"] == f"https://fhir.amparo.cl/SearchParameter/{id}"
    assert all(base in element_types() for base in resource["base"])


@pytest.mark.parametrize("id,example", sorted(EXPECTED_VALUES))
def test_the_extractor_indexes_custom_parameters_on_the_valid_examples(id, example):
    (resource,) = [p for p in SEARCH.values() if p["id"] == id]
    instance = EXAMPLES[example]
    param = SearchParam(code=resource["code"], type=resource["type"],
                        expression=resource["expression"], base=tuple(resource["base"]),
                        target=tuple(resource.get("target", ())), url=resource["url"])
    index = extract(instance, compile_plan(instance["resourceType"], [param]))
    rows = index.tokens if resource["type"] == "token" else index.references
    values = {row[2] for row in rows if row[0] == resource["code"]}
    if resource["type"] == "reference":
        values = {f"{row[1]}/{row[2]}" for row in rows if row[0] == resource["code"]}
    assert EXPECTED_VALUES[(id, example)] in values, values


# --- loaders -------------------------------------------------------------------------

def test_profile_for_finds_by_type_or_url_and_refuses_ambiguous_types():
    assert ig.profile_for("Patient")["id"] == "Survivor"
    assert ig.profile_for(SD + "Referral|0.1.0")["id"] == "Referral"
    assert ig.profile_for("https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl")
    assert ig.profile_for("Basic") is None and ig.profile_for(SD + "Nope") is None
    with pytest.raises(LookupError, match="ProtectionMeasure, Referral"):
        ig.profile_for("ServiceRequest")
    assert [d["id"] for d in ig.profiles_for("ServiceRequest")] == ["ProtectionMeasure",
                                                                     "Referral"]


def test_loaders_return_copies():
    ig.structure_definitions()[0]["id"] = "changed"
    ig.examples()[0][1]["id"] = "changed"
    assert ig.structure_definitions()[0]["id"] != "changed"
    assert ig.examples()[0][1]["id"] != "changed"
