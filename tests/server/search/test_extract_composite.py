"""Composite index rows (https://hl7.org/fhir/R4B/search.html#composite): one row per
pair of component values of the SAME base item, each part laid out as
``server/search/index.py`` documents, from the component types' own converters.
"""

from __future__ import annotations

import json
from pathlib import Path

from server.search.definitions import SearchParam, composite_parts, params_for, resource_types
from server.search.extract import _plan, compile_plan, extract
from server.search.index import DATE_MAX

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "fhir-r4b" / "examples"
LOINC, SCT, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"
SP = "http://hl7.org/fhir/SearchParameter/"
NONE3 = (None, None, None)


def _load(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _rows(resource: dict, code: str) -> set[tuple]:
    return {row[1:] for row in extract(resource).composites if row[0] == code}


def test_blood_pressure_pairs_each_code_with_its_own_components_value() -> None:
    rows = _rows(_load("Observation-blood-pressure"), "component-code-value-quantity")
    systolic = ("mm[Hg]", UCUM, "mmHg", 107.0, 106.5, 107.5)
    diastolic = ("mm[Hg]", UCUM, "mmHg", 60.0, 59.5, 60.5)
    assert rows == {
        ("8480-6", LOINC, None, *NONE3, *systolic),
        ("271649006", SCT, None, *NONE3, *systolic),
        ("bp-s", "http://acme.org/devices/clinical-codes", None, *NONE3, *systolic),
        ("8462-4", LOINC, None, *NONE3, *diastolic),
    }
    # the Observation's own code (85354-9) has no value: no code-value-quantity row
    assert _rows(_load("Observation-blood-pressure"), "code-value-quantity") == set()


def test_combo_reads_the_observation_and_its_components() -> None:
    bp = _load("Observation-blood-pressure")
    bp["valueQuantity"] = {"value": 1, "system": UCUM, "code": "1"}
    combo = _rows(bp, "combo-code-value-quantity")
    assert ("85354-9", LOINC, None, *NONE3, "1", UCUM, None, 1.0, 0.5, 1.5) in combo
    assert ("85354-9", LOINC, None, *NONE3, "mm[Hg]", UCUM, "mmHg", 107.0, 106.5, 107.5) \
        not in combo
    assert _rows(bp, "component-code-value-quantity") <= combo
    assert len(combo) == len(_rows(bp, "component-code-value-quantity")) + 1


def test_concept_date_string_and_reference_parts() -> None:
    blood = _rows(_load("Observation-bloodgroup"), "code-value-concept")
    assert blood == {("883-9", LOINC, None, *NONE3, "112144000", SCT, None, *NONE3)}
    (date,) = _rows(_load("Observation-date-lastmp"), "code-value-date")
    assert date[:6] == ("8665-2", LOINC, None, *NONE3)
    assert date[6:10] == (None, None, None, None) and date[10] < date[11]
    period = {"resourceType": "Observation", "code": {"coding": [{"code": "x"}]},
              "valuePeriod": {"start": "2020-01-01"}}
    ((*_, low, high),) = _rows(period, "code-value-date")
    assert high == DATE_MAX and low < high
    (text,) = _rows(_load("Observation-example-TPMT-diplotype"), "code-value-string")
    assert text[6:8] == ("*1/*4", "*1/*4")
    relation = _rows(_load("DocumentReference-example"), "relationship")
    assert relation == {("example", "DocumentReference", None, *NONE3,
                         "appends", None, None, *NONE3)}


def test_text_only_concepts_and_identifier_references_make_no_parts() -> None:
    observation = {"resourceType": "Observation", "code": {"text": "only text"},
                   "valueQuantity": {"value": 1}}
    assert _rows(observation, "code-value-quantity") == set()
    document = {"resourceType": "DocumentReference", "relatesTo": [
        {"code": "replaces", "target": {"identifier": {"value": "x"}}}]}
    assert _rows(document, "relationship") == set()


def test_number_and_uri_components_reuse_their_converters() -> None:
    """No R4B composite has a number or uri part of two: compile one, as an IG could."""
    risk = SearchParam("risk-probability", "composite", "RiskAssessment.prediction",
                       ("RiskAssessment",), (), "urn:test:risk-probability",
                       components=((SP + "RiskAssessment-risk", "qualitativeRisk"),
                                   (SP + "RiskAssessment-probability", "probability")))
    assert composite_parts(risk) is not None
    plan = compile_plan("RiskAssessment", [risk])
    assessment = {"resourceType": "RiskAssessment", "prediction": [
        {"qualitativeRisk": {"coding": [{"system": "urn:r", "code": "high"}]},
         "probabilityDecimal": 0.8},
        {"qualitativeRisk": {"coding": [{"system": "urn:r", "code": "low"}]},
         "probabilityRange": {"low": {"value": 1}, "high": {"value": 5}}}]}
    rows = {row[1:] for row in extract(assessment, plan).composites}
    # the number parts are exactly the rows of the ``probability`` parameter itself
    numbers = [row[1:] for row in extract(assessment).numbers if row[0] == "probability"]
    (decimal,) = (n for n in numbers if n[0] == 0.8)
    (ranged,) = (n for n in numbers if n[0] != 0.8)
    assert ranged == (1.0, 0.5, 5.5) and decimal[1] < 0.8 < decimal[2]
    assert rows == {("high", "urn:r", None, *NONE3, None, None, None, *decimal),
                    ("low", "urn:r", None, *NONE3, None, None, None, *ranged)}
    profiled = SearchParam("code-profile", "composite", "Observation", ("Observation",), (),
                           "urn:test:code-profile",
                           components=((SP + "clinical-code", "code"),
                                       (SP + "Resource-profile", "meta.profile")))
    plan = compile_plan("Observation", [profiled])
    observation = {"resourceType": "Observation", "code": {"coding": [{"code": "c"}]},
                   "meta": {"profile": ["http://x.org/p"]}}
    assert {row[1:] for row in extract(observation, plan).composites} == {
        ("c", None, None, *NONE3, "http://x.org/p", None, None, *NONE3)}


def test_every_supported_composite_compiles_to_direct_walks() -> None:
    """No supported composite is silently left unindexed on any type it is defined for."""
    checked = 0
    for resource_type in sorted(resource_types()):
        plan = _plan(resource_type)
        assert not [r for r in plan.fallback_reasons if "composite" in r[1]], resource_type
        compiled = {code for _, composites in plan.composites for code, _, _ in composites}
        for code, param in params_for(resource_type).items():
            if param.type == "composite":
                assert (code in compiled) == (composite_parts(param) is not None), code
                checked += code in compiled
    assert checked >= 40


def test_molecular_sequence_three_part_composites_are_not_indexed() -> None:
    sequence = _load("MolecularSequence-example") if (
        EXAMPLES / "MolecularSequence-example.json").exists() else {
        "resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"coding": [{"code": "1"}]}, "windowStart": 1,
                         "windowEnd": 2}}
    assert extract(sequence).composites == []
    assert composite_parts(params_for("MolecularSequence")["chromosome-window-coordinate"]) \
        is None


def test_rows_are_deduplicated() -> None:
    observation = {"resourceType": "Observation", "code": {"coding": [
        {"system": "s", "code": "c"}, {"system": "s", "code": "c"}]},
        "valueQuantity": {"value": 2}}
    assert len(_rows(observation, "code-value-quantity")) == 1
    assert len(extract(observation).composites) == len(set(extract(observation).composites))
