"""The terminology operations over real HTTP: $expand, $validate-code, $lookup, $translate,
GET and POST (Parameters) forms, and bad input as OperationOutcomes.

See: https://hl7.org/fhir/R4B/terminology-service.html
"""

from __future__ import annotations

import pytest

from terminology import COMUNAS_SYSTEM, PAISES_SYSTEM, registry
from tests.conftest import assert_outcome

BASE = "https://fhir.amparo.cl/"
FORMAS = BASE + "CodeSystem/formas-violencia"
RIESGO = BASE + "CodeSystem/nivel-riesgo"
GBVIMS = BASE + "CodeSystem/tipo-violencia-gbvims"
FORMAS_GBVIMS = BASE + "ConceptMap/formas-violencia-gbvims"


def params(body: dict) -> dict:
    """Parameters -> {name: value, or part dict} (a repeated name gives a list)."""
    assert body["resourceType"] == "Parameters", body
    out: dict = {}
    for p in body["parameter"]:
        value = ({q["name"]: _value(q) for q in p["part"]} if "part" in p else _value(p))
        out.setdefault(p["name"], []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def _value(p: dict):
    return next(v for k, v in p.items() if k.startswith("value"))


def parameters(*pairs: tuple[str, str, object]) -> dict:
    """A Parameters body from (name, value key or "resource", value)."""
    return {"resourceType": "Parameters", "parameter": [{"name": n, key: v}
                                                        for n, key, v in pairs]}


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    return response.json()


def comunas_of_region(code: str) -> dict:
    return {"resourceType": "ValueSet", "status": "active", "compose": {"include": [
        {"system": COMUNAS_SYSTEM, "filter": [{"property": "region", "op": "=",
                                               "value": code}]}]}}


def contained(expanded: dict) -> list[tuple[str, str]]:
    return [(c["code"], c["display"]) for c in expanded["expansion"].get("contains", [])]


# $lookup ---------------------------------------------------------------------------------

def test_lookup_by_get_answers_in_spanish_and_in_english_on_request(live):
    spanish = params(ok(live.get("CodeSystem/$lookup", params={"system": FORMAS,
                                                                "code": "fisica"})))
    assert spanish["display"] == "Violencia física"
    english = params(ok(live.get("CodeSystem/$lookup", params={
        "system": FORMAS, "code": "fisica", "displayLanguage": "en"})))
    assert english["display"] == "Physical violence"


def test_lookup_by_post_takes_a_coding(live):
    body = parameters(("coding", "valueCoding", {"system": COMUNAS_SYSTEM, "code": "08101"}),
                      ("property", "valueCode", "region"))
    out = params(ok(live.post("CodeSystem/$lookup", json=body)))
    assert out["display"] == "Concepción"
    assert out["property"]["code"] == "region" and out["property"]["value"] == "08"


# $validate-code --------------------------------------------------------------------------

def test_validate_code_on_a_code_system_by_id_and_by_url(live):
    by_id = params(ok(live.get("CodeSystem/nivel-riesgo/$validate-code",
                               params={"code": "vital"})))
    assert by_id == {"result": True, "display": "Vital"}
    by_url = params(ok(live.get("CodeSystem/$validate-code", params={
        "url": RIESGO, "code": "vital", "displayLanguage": "en"})))
    assert by_url == {"result": True, "display": "Life-threatening"}
    unknown = params(ok(live.get("CodeSystem/nivel-riesgo/$validate-code",
                                 params={"code": "extremo"})))
    assert unknown["result"] is False and "extremo" in unknown["message"]


def test_a_wrong_display_is_a_warning_not_an_invalid_code(live):
    out = params(ok(live.get("CodeSystem/nivel-riesgo/$validate-code",
                             params={"code": "vital", "display": "Crítico"})))
    assert out["result"] is True and "Crítico" in out["message"]


def test_validate_code_on_a_value_set_by_post_with_a_codeable_concept(live):
    body = parameters(
        ("valueSet", "resource", comunas_of_region("13")),
        ("codeableConcept", "valueCodeableConcept", {"coding": [
            {"system": COMUNAS_SYSTEM, "code": "08101"},
            {"system": COMUNAS_SYSTEM, "code": "13120", "display": "Nunoa"}]}))
    out = params(ok(live.post("ValueSet/$validate-code", json=body)))
    assert out["result"] is True and out["display"] == "Ñuñoa"
    assert "08101" in out["message"]  # the coding outside the value set is reported


def test_validate_code_on_a_held_value_set_by_id_and_url(live):
    by_id = params(ok(live.get("ValueSet/nacionalidad/$validate-code", params={
        "system": PAISES_SYSTEM, "code": "152"})))
    assert by_id == {"result": True, "display": "Chile"}
    by_url = params(ok(live.get("ValueSet/$validate-code", params={
        "url": BASE + "ValueSet/nacionalidad", "system": PAISES_SYSTEM, "code": "999"})))
    assert by_url["result"] is False


# $expand ---------------------------------------------------------------------------------

def test_expand_by_post_pages_through_a_value_set(live):
    seen: list[tuple[str, str]] = []
    for offset in range(0, 60, 20):
        body = parameters(("valueSet", "resource", comunas_of_region("13")),
                          ("count", "valueInteger", 20), ("offset", "valueInteger", offset))
        page = ok(live.post("ValueSet/$expand", json=body))
        assert page["resourceType"] == "ValueSet"
        assert page["expansion"]["total"] == 52 and page["expansion"]["offset"] == offset
        seen += contained(page)
    assert len(seen) == len(set(seen)) == 52
    assert ("13101", "Santiago") in seen


def test_expand_by_get_on_a_held_value_set_by_url_and_by_id(live):
    by_url = ok(live.get("ValueSet/$expand", params={"url": BASE + "ValueSet/comuna",
                                                     "count": "5", "offset": "340"}))
    assert by_url["expansion"]["total"] == 346 and len(contained(by_url)) == 5
    by_id = ok(live.get("ValueSet/comuna/$expand", params={"count": "5", "offset": "340"}))
    assert contained(by_id) == contained(by_url)


@pytest.mark.parametrize("text", ["nunoa", "ÑUÑOA", "Ñuñoa", "ñu"])
def test_the_filter_ignores_accents_and_case(live, text):
    out = ok(live.get("ValueSet/comuna/$expand", params={"filter": text}))
    assert ("13120", "Ñuñoa") in contained(out)
    assert {"name": "filter", "valueString": text} in out["expansion"]["parameter"]


def test_display_language_en_gives_english_displays_and_the_filter_reads_them(live):
    out = ok(live.get("ValueSet/nacionalidad/$expand", params={
        "filter": "germany", "displayLanguage": "en"}))
    assert contained(out) == [("276", "Germany")]
    spanish = ok(live.get("ValueSet/nacionalidad/$expand", params={"filter": "germany"}))
    assert contained(spanish) == [("276", "Alemania")]


def test_an_r4_client_can_expand(live):
    r4 = "application/fhir+json; fhirVersion=4.0"
    response = live.get("ValueSet/nivel-riesgo/$expand", headers={"Accept": r4})
    assert response.status_code == 200 and response.headers["Content-Type"] == r4
    assert response.json()["expansion"]["total"] >= 5


def test_head_and_query_parameters_with_a_post_body_work(live):
    assert live.http.head(live.url("ValueSet/nivel-riesgo/$expand")).status_code == 200
    body = parameters(("valueSet", "resource", comunas_of_region("08")))
    out = ok(live.post("ValueSet/$expand?count=1", json=body))
    assert out["expansion"]["total"] == 33 and len(contained(out)) == 1


# $translate ------------------------------------------------------------------------------

def test_translate_on_the_held_formas_violencia_map_by_get(live):
    out = params(ok(live.get("ConceptMap/$translate", params={
        "url": FORMAS_GBVIMS, "system": FORMAS, "code": "sexual"})))
    assert out["result"] is True
    assert {m["concept"]["code"] for m in out["match"]} == {"violacion", "agresion-sexual"}
    assert all(m["equivalence"] == "narrower" and m["source"] == FORMAS_GBVIMS
               for m in out["match"])


def test_translate_by_id_reverse_and_without_naming_the_map(live):
    by_id = params(ok(live.get("ConceptMap/formas-violencia-gbvims/$translate", params={
        "system": FORMAS, "code": "fisica"})))
    assert by_id["match"]["concept"]["system"] == GBVIMS
    reverse = params(ok(live.get("ConceptMap/formas-violencia-gbvims/$translate", params={
        "system": GBVIMS, "code": by_id["match"]["concept"]["code"], "reverse": "true"})))
    assert reverse["match"]["concept"]["code"] == "fisica"
    found = params(ok(live.get("ConceptMap/$translate", params={
        "system": FORMAS, "code": "fisica", "targetsystem": GBVIMS})))
    assert found["result"] is True


def test_translate_of_an_unmatched_code_is_false_with_a_message(live):
    out = params(ok(live.get("ConceptMap/formas-violencia-gbvims/$translate", params={
        "system": FORMAS, "code": "simbolica"})))
    assert out["result"] is False and out["message"]


def test_translate_by_post_with_a_concept_map_in_the_body(live):
    cm = {"resourceType": "ConceptMap", "status": "active", "url": "urn:test:map",
          "group": [{"source": "urn:local", "target": FORMAS, "element": [
              {"code": "VIF-F", "target": [{"code": "fisica", "equivalence": "equivalent"}]}]}]}
    body = parameters(("conceptMap", "resource", cm),
                      ("coding", "valueCoding", {"system": "urn:local", "code": "VIF-F"}))
    out = params(ok(live.post("ConceptMap/$translate", json=body)))
    assert out["match"]["concept"] == {"system": FORMAS, "code": "fisica",
                                       "display": "Violencia física"}


# the CapabilityStatement -------------------------------------------------------------------

def test_the_capability_statement_lists_the_operations_and_each_answers(live):
    (rest,) = ok(live.get("metadata"))["rest"]
    listed = {(r["type"], op["name"]) for r in rest["resource"] for op in r.get("operation", [])
              if op["name"] != "validate"  # $validate is on every type (test_validate.py)
              and r["type"] in ("ValueSet", "CodeSystem", "ConceptMap")}
    assert listed == {("ValueSet", "expand"), ("ValueSet", "validate-code"),
                      ("CodeSystem", "lookup"), ("CodeSystem", "validate-code"),
                      ("ConceptMap", "translate")}
    for type, name in listed:
        response = live.get(f"{type}/${name}")  # no inputs: a 400, not "not supported"
        body = assert_outcome(response, 400)
        assert body["issue"][0]["code"] != "not-supported", (type, name)


# bad input ------------------------------------------------------------------------------

BAD = {
    "lookup-no-code": ("CodeSystem/$lookup", {"system": FORMAS}, 400),
    "lookup-unknown-system": ("CodeSystem/$lookup", {"system": BASE + "CodeSystem/x",
                                                     "code": "a"}, 404),
    "lookup-unknown-code": ("CodeSystem/$lookup", {"system": FORMAS, "code": "x"}, 404),
    "validate-unknown-system": ("CodeSystem/$validate-code", {"url": BASE + "x",
                                                              "code": "a"}, 404),
    "validate-no-system": ("ValueSet/comuna/$validate-code", {"code": "13120"}, 400),
    "unknown-value-set": ("ValueSet/$expand", {"url": BASE + "ValueSet/x"}, 404),
    "unknown-value-set-id": ("ValueSet/no-existe/$expand", {}, 404),
    "unknown-code-system-id": ("CodeSystem/no-existe/$validate-code", {"code": "a"}, 404),
    "unknown-map-id": ("ConceptMap/no-existe/$translate", {"system": FORMAS, "code": "a"},
                       404),
    "count-not-a-number": ("ValueSet/comuna/$expand", {"count": "diez"}, 400),
    "count-negative": ("ValueSet/comuna/$expand", {"count": "-1"}, 400),
    "count-huge": ("ValueSet/comuna/$expand", {"count": "1000000"}, 400),
    "count-enormous": ("ValueSet/comuna/$expand", {"count": "9" * 40}, 400),
    "offset-negative": ("ValueSet/comuna/$expand", {"offset": "-5"}, 400),
    "offset-huge": ("ValueSet/comuna/$expand", {"offset": "100000000"}, 400),
    "filter-oversized": ("ValueSet/comuna/$expand", {"filter": "a" * 5000}, 400),
    "boolean-not-boolean": ("ConceptMap/$translate", {"system": FORMAS, "code": "fisica",
                                                      "reverse": "si"}, 400),
    "coding-in-get": ("CodeSystem/$lookup", {"coding": "x|y"}, 400),
    "unknown-parameter": ("ValueSet/comuna/$expand", {"sort": "display"}, 400),
    "bad-id": ("ValueSet/a$b/$expand", {}, 400),
}


@pytest.mark.parametrize("path,query,status", BAD.values(), ids=BAD.keys())
def test_bad_input_is_an_operation_outcome(live, path, query, status):
    assert_outcome(live.get(path, params=query), status)


def test_a_repeated_parameter_is_refused(live):
    response = live.get("ValueSet/comuna/$expand?count=1&count=2")
    assert_outcome(response, 400, "invalid")


POST_BAD = {
    "not-parameters": ("ValueSet/$expand", {"resourceType": "Patient"}, 400),
    "wrong-value-type": ("ValueSet/comuna/$expand",
                         parameters(("count", "valueString", "10")), 400),
    "wrong-resource": ("ValueSet/$expand",
                       parameters(("valueSet", "resource", {"resourceType": "CodeSystem",
                                                            "status": "active",
                                                            "content": "complete"})), 400),
    "invalid-value-set": ("ValueSet/$expand",
                          parameters(("valueSet", "resource", {"resourceType": "ValueSet"})),
                          422),
    "unknown-system-in-value-set": ("ValueSet/$expand", parameters((
        "valueSet", "resource", {"resourceType": "ValueSet", "status": "active", "compose": {
            "include": [{"system": "urn:nada"}]}})), 404),
    "unsupported-filter": ("ValueSet/$expand", parameters((
        "valueSet", "resource", {"resourceType": "ValueSet", "status": "active", "compose": {
            "include": [{"system": FORMAS, "filter": [
                {"property": "numeral", "op": "regex", "value": "(a+)+$"}]}]}})), 400),
    "two-codings": ("CodeSystem/nivel-riesgo/$validate-code", parameters(
        ("code", "valueCode", "alto"),
        ("coding", "valueCoding", {"system": RIESGO, "code": "alto"})), 400),
    "integer-out-of-range": ("ValueSet/comuna/$expand",
                             parameters(("offset", "valueInteger", 2_000_000_000)), 400),
}


@pytest.mark.parametrize("path,body,status", POST_BAD.values(), ids=POST_BAD.keys())
def test_bad_post_bodies_are_operation_outcomes(live, path, body, status):
    assert_outcome(live.post(path, json=body), status)


def test_other_methods_are_405_and_unknown_operations_stay_unsupported(live):
    assert_outcome(live.delete("ValueSet/$expand"), 405)
    assert_outcome(live.get("ValueSet/$everything"), 400, "not-supported")
    assert_outcome(live.get("Patient/$expand"), 400, "not-supported")


@pytest.mark.parametrize("id", registry.ids("ValueSet"))
def test_every_held_value_set_expands_over_http(live, id):
    out = ok(live.get(f"ValueSet/{id}/$expand", params={"count": "3"}))
    assert out["id"] == id and out["expansion"]["total"] >= len(contained(out)) > 0
