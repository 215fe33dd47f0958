"""Extensions of primitive elements in search expressions (``server/search/paths.py``).

JSON keeps a primitive's extensions beside it, under ``_`` + its name
(https://hl7.org/fhir/R4B/json.html#primitive): the extensions of ``address.city`` are in
``address._city.extension``. The compiled walk used to look in ``address.city.extension``
(inside a string) and so indexed nothing, silently. Each form is checked against
fhirpathpy, which reads ``_city`` itself.
"""

from __future__ import annotations

import fhirpathpy
import pytest
from fhirpathpy.models import models

from server.search.definitions import SearchParam
from server.search.extract import compile_plan, extract
from server.search.paths import Unsupported, compile_expression

COMUNA_EXT = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
COMUNAS = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodComunasCL"


def _param(code: str, kind: str, expression: str, base: str) -> SearchParam:
    return SearchParam(code, kind, expression, (base,), (), f"http://example.org/sp/{code}")


def _comuna(code: str) -> dict:
    return {"url": COMUNA_EXT, "valueCodeableConcept": {"coding": [
        {"system": COMUNAS, "code": code}]}}


PATIENT = {"resourceType": "Patient", "address": [
    {"city": "La Florida", "_city": {"extension": [_comuna("13110")]}},
    {"city": "Concepción", "_city": {"extension": [
        {"url": "https://example.org/other", "valueCode": "x"}, _comuna("08101")]}},
    # an extension where JSON has none: inside the string's own key (not valid FHIR);
    # it must not be read
    {"city": "Temuco", "extension": [_comuna("09101")]},
]}

FORMS = [
    f"Patient.address.city.extension('{COMUNA_EXT}').value",
    f"Patient.address.city.extension.where(url = '{COMUNA_EXT}').value",
]


def _tokens(index, code: str) -> set[tuple]:
    return {(row[1], row[2]) for row in index.tokens if row[0] == code}


@pytest.mark.parametrize("expression", FORMS)
def test_an_extension_of_a_primitive_is_read_from_its_underscore_sibling(expression):
    (path, *_) = compile_expression(expression, "Patient")
    assert path.steps[:3] == ("address", "_city", "extension")
    plan = compile_plan("Patient", [_param("comuna", "token", expression, "Patient")])
    assert not plan.fallback  # a direct walk, not fhirpathpy
    found = _tokens(extract(PATIENT, plan), "comuna")
    assert found == {(COMUNAS, "13110"), (COMUNAS, "08101")}
    expected = fhirpathpy.evaluate(PATIENT, expression, model=models["r4"])
    assert {(c["system"], c["code"]) for v in expected for c in v["coding"]} == found


def test_an_extension_of_a_complex_element_stays_where_it_is():
    expression = f"Patient.address.extension('{COMUNA_EXT}').value"
    (path, *_) = compile_expression(expression, "Patient")
    assert path.steps[:2] == ("address", "extension")
    plan = compile_plan("Patient", [_param("comuna", "token", expression, "Patient")])
    assert _tokens(extract(PATIENT, plan), "comuna") == {(COMUNAS, "09101")}


def test_a_repeating_primitive_reads_the_parallel_array_with_its_nulls():
    expression = "Patient.name.given.extension('http://example.org/ext').value"
    patient = {"resourceType": "Patient", "name": [
        {"given": ["Ana", "María"], "_given": [None, {"extension": [
            {"url": "http://example.org/ext", "valueString": "segundo"}]}]},
        {"given": ["Rosa"]}]}
    plan = compile_plan("Patient", [_param("given-ext", "string", expression, "Patient")])
    assert not plan.fallback
    index = extract(patient, plan)
    assert [row[2] for row in index.strings if row[0] == "given-ext"] == ["segundo"]


def test_a_choice_primitive_uses_the_json_name_of_its_type():
    expression = "Observation.value.extension('http://example.org/ext').value"
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "valueString": "alto", "_valueString": {"extension": [
                       {"url": "http://example.org/ext", "valueCode": "nivel"}]}}
    plan = compile_plan("Observation", [_param("ext", "token", expression, "Observation")])
    assert any(p.steps[0] == "_valueString"
               for p in compile_expression(expression, "Observation"))
    assert _tokens(extract(observation, plan), "ext") == {(None, "nivel")}


def test_a_primitive_reached_by_index_is_left_to_fhirpathpy():
    expression = "Patient.name.given[0].extension('http://example.org/ext').value"
    with pytest.raises(Unsupported):
        compile_expression(expression, "Patient")
    plan = compile_plan("Patient", [_param("first-ext", "string", expression, "Patient")])
    assert [code for code, _ in plan.fallback_reasons] == ["first-ext"]
