"""The terminology operations as a library: $lookup, $validate-code, $expand, $translate
over the registry (our CodeSystems, the national ones, whatever ValueSets and ConceptMaps
the package holds). See the R4B operation pages linked from ``terminology.operations``.
"""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from terminology import COMUNAS_SYSTEM, PAISES_SYSTEM, PROVINCIAS_SYSTEM, REGIONES_SYSTEM, registry
from terminology.operations import (
    MAX_COUNT,
    MAX_FILTER,
    MAX_OFFSET,
    TerminologyError,
    expand,
    lookup,
    translate,
    validate_code,
)

BASE = "https://fhir.amparo.cl/CodeSystem/"
FORMAS = BASE + "formas-violencia"
RIESGO = BASE + "nivel-riesgo"
RELACION = BASE + "relacion-agresor"
CONTACTO = BASE + "tipo-contacto"
GBV = "https://example.org/gbvims-core"  # a made-up target system for the test map


def params(parameters: dict) -> dict:
    """Parameters -> {name: value or [parts as dict]} (repeated names become lists)."""
    out: dict = {}
    for p in parameters["parameter"]:
        value = ({q["name"]: _value(q) for q in p["part"]} if "part" in p else _value(p))
        out.setdefault(p["name"], []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def many(value) -> list:
    """A parameter that may repeat, as a list."""
    return value if isinstance(value, list) else [value]


def _value(p: dict):
    return next(v for k, v in p.items() if k.startswith("value"))


def value_set(*include: dict, exclude: tuple = (), url: str | None = None) -> dict:
    vs = {"resourceType": "ValueSet", "status": "active",
          "compose": {"include": list(include)}}
    if exclude:
        vs["compose"]["exclude"] = list(exclude)
    if url:
        vs["url"] = url
    return vs


def codes(expanded: dict) -> list[str]:
    return [c["code"] for c in expanded["expansion"].get("contains", [])]


def region(code: str) -> dict:
    return {"system": COMUNAS_SYSTEM, "filter": [{"property": "region", "op": "=",
                                                  "value": code}]}


# the registry ----------------------------------------------------------------------------

@pytest.mark.parametrize("url,count", [(COMUNAS_SYSTEM, 346), (PROVINCIAS_SYSTEM, 56),
                                       (REGIONES_SYSTEM, 16), (PAISES_SYSTEM, 249)])
def test_the_national_code_systems_are_valid_r4b_code_systems(url, count):
    cs = registry.find("CodeSystem", url)
    get_fhir_model_class("CodeSystem").model_validate(cs)
    assert cs["count"] == len(cs["concept"]) == count
    assert registry.get("CodeSystem", cs["id"]) == cs


def test_every_held_resource_is_found_by_id_and_by_canonical_with_or_without_version():
    for type in registry.TYPES:
        for resource in registry.all_of(type):
            assert registry.get(type, resource["id"]) == resource
            assert registry.find(type, resource["url"]) == resource
            if resource.get("version"):
                assert registry.find(type, f"{resource['url']}|{resource['version']}") \
                    == resource
                assert registry.find(type, resource["url"], "no-such-version") is None


def test_the_registry_holds_our_code_systems_and_hands_out_copies():
    assert {"formas-violencia", "nivel-riesgo", "CSCodComunasCL", "CodPais"} <= set(
        registry.ids("CodeSystem"))
    cs = registry.find("CodeSystem", FORMAS)
    cs["concept"].clear()
    assert registry.find("CodeSystem", FORMAS)["concept"]


def test_an_unknown_canonical_is_none():
    assert registry.find("CodeSystem", BASE + "nada") is None
    assert registry.get("ValueSet", "nada") is None


# $lookup -----------------------------------------------------------------------------------

def test_lookup_gives_the_spanish_display_definition_and_english_designation():
    out = params(lookup(FORMAS, "fisica"))
    assert out["display"] == "Violencia física"
    assert out["version"] == "0.1.0"
    assert out["name"].startswith("Formas de violencia")
    assert out["designation"] == {"language": "en", "value": "Physical violence"}
    props = {p["code"]: p["value"] for p in out["property"]}
    assert props["numeral"] == 1 and props["definition"].startswith("Toda acción")


def test_lookup_in_english_keeps_the_spanish_display_as_a_designation():
    out = params(lookup(RIESGO, "vital", display_language="en"))
    assert out["display"] == "Life-threatening"
    assert {"language": "es-CL", "value": "Vital"} in out["designation"]


def test_lookup_names_parent_and_children_in_a_hierarchy():
    parent = {p["code"]: p["value"]
              for p in many(params(lookup(RELACION, "conyuge"))["property"])}
    assert parent["parent"] == "pareja"
    group = params(lookup(RELACION, "pareja"))["property"]
    assert {"conyuge", "conviviente"} <= {p["value"] for p in group if p["code"] == "child"}


def test_lookup_returns_only_the_properties_asked_for():
    out = params(lookup(COMUNAS_SYSTEM, "13120", properties=["region"]))
    assert out["display"] == "Ñuñoa"
    assert out["property"] == {"code": "region", "value": "13",
                               "description": "Código CUT de la región de la comuna"}
    assert "designation" not in out


def test_lookup_of_a_country_and_a_pinned_version():
    assert params(lookup(PAISES_SYSTEM + "|1.8.7", "152"))["display"] == "Chile"
    assert params(lookup(PAISES_SYSTEM, "152", version="1.8.7"))["version"] == "1.8.7"


@pytest.mark.parametrize("system,code,version", [
    (BASE + "no-existe", "x", None), (FORMAS, "no-existe", None), (FORMAS, "fisica", "9.9")])
def test_lookup_of_something_unknown_is_a_404_error(system, code, version):
    with pytest.raises(TerminologyError) as raised:
        lookup(system, code, version)
    assert (raised.value.status, raised.value.code) == (404, "not-found")


# $validate-code on a code system -------------------------------------------------------------

def test_a_code_of_the_code_system_is_valid_and_gets_its_display():
    out = params(validate_code(code_system=RIESGO, code="alto"))
    assert out == {"result": True, "display": "Alto"}
    assert params(validate_code(code_system=RIESGO, code="alto",
                                display_language="en"))["display"] == "High"


def test_an_unknown_code_is_invalid_with_a_message():
    out = params(validate_code(code_system=RIESGO, code="altisimo"))
    assert out["result"] is False and "altisimo" in out["message"]


def test_a_wrong_display_leaves_the_code_valid_with_a_warning():
    out = params(validate_code(code_system=RIESGO, code="alto", display="Muy alto"))
    assert out["result"] is True
    assert "Muy alto" in out["message"] and out["display"] == "Alto"


@pytest.mark.parametrize("display", ["alto", "  ALTO ", "High"])
def test_displays_match_ignoring_case_and_spacing_in_any_language(display):
    out = params(validate_code(code_system=RIESGO, code="alto", display=display))
    assert out == {"result": True, "display": "Alto"}


def test_a_coding_of_another_system_is_invalid():
    out = params(validate_code(code_system=RIESGO, coding={"system": FORMAS, "code": "alto"}))
    assert out["result"] is False


def test_a_codeable_concept_is_valid_when_one_coding_is():
    cc = {"coding": [{"system": FORMAS, "code": "x"}, {"system": RIESGO, "code": "medio"}]}
    out = params(validate_code(code_system=RIESGO, codeable_concept=cc))
    assert out["result"] is True and out["display"] == "Medio"


def test_a_code_of_the_wrong_code_system_version_is_invalid():
    out = params(validate_code(code_system=RIESGO, code="alto", system_version="9.9"))
    assert out["result"] is False and "9.9" in out["message"]


@pytest.mark.parametrize("kwargs", [
    {"code_system": RIESGO},
    {"code_system": RIESGO, "code": "alto", "coding": {"system": RIESGO, "code": "alto"}},
    {"code": "alto", "system": RIESGO},
    {"code_system": RIESGO, "value_set": "x", "code": "alto"},
    {"code_system": RIESGO, "codeable_concept": {"text": "sin codificar"}},
])
def test_validate_code_needs_one_target_and_one_coded_value(kwargs):
    with pytest.raises(TerminologyError) as raised:
        validate_code(**kwargs)
    assert raised.value.status == 400


# $validate-code on a value set ---------------------------------------------------------------

PAREJA = value_set({"system": RELACION, "filter": [
    {"property": "concept", "op": "is-a", "value": "pareja"}]}, url="urn:test:pareja")


def test_a_code_in_the_value_set_is_valid():
    out = params(validate_code(value_set=PAREJA, code="conyuge", system=RELACION))
    assert out == {"result": True, "display": "Cónyuge"}


def test_a_code_of_the_system_outside_the_value_set_is_invalid_and_says_so():
    out = params(validate_code(value_set=PAREJA, code="padre", system=RELACION))
    assert out["result"] is False and "urn:test:pareja" in out["message"]


def test_a_code_of_an_unknown_system_is_invalid_not_an_error():
    out = params(validate_code(value_set=PAREJA, coding={"system": "urn:x", "code": "a"}))
    assert out["result"] is False and "urn:x" in out["message"]


def test_a_code_without_a_system_against_a_value_set_is_an_error():
    with pytest.raises(TerminologyError) as raised:
        validate_code(value_set=PAREJA, code="conyuge")
    assert raised.value.status == 400


def test_an_unknown_value_set_url_is_a_404_error():
    with pytest.raises(TerminologyError) as raised:
        validate_code(value_set="https://fhir.amparo.cl/ValueSet/no-existe", code="a",
                      system=RELACION)
    assert raised.value.status == 404


def test_abstract_concepts_can_be_refused():
    cs = {"resourceType": "CodeSystem", "url": "urn:test:cs", "status": "active",
          "content": "complete", "concept": [{"code": "grupo", "display": "Grupo",
                                              "property": [{"code": "notSelectable",
                                                            "valueBoolean": True}]}]}
    assert params(validate_code(code_system=cs, code="grupo"))["result"] is True
    assert params(validate_code(code_system=cs, code="grupo", abstract=False))[
        "result"] is False


# $expand -----------------------------------------------------------------------------------

def test_a_whole_code_system_expands_in_its_order_with_spanish_displays():
    out = expand(value_set({"system": FORMAS}))
    assert out["expansion"]["total"] == 9
    first = out["expansion"]["contains"][0]
    assert first == {"system": FORMAS, "version": "0.1.0", "code": "fisica",
                     "display": "Violencia física"}
    assert {"name": "used-codesystem", "valueUri": FORMAS + "|0.1.0"} in \
        out["expansion"]["parameter"]


def test_display_language_en_gives_the_english_designations():
    out = expand(value_set({"system": FORMAS}), display_language="en")
    assert out["expansion"]["contains"][0]["display"] == "Physical violence"
    assert {"name": "displayLanguage", "valueCode": "en"} in out["expansion"]["parameter"]


def test_a_concept_list_keeps_its_order_and_its_own_displays():
    out = expand(value_set({"system": RIESGO, "concept": [
        {"code": "vital"}, {"code": "bajo", "display": "Riesgo bajo"}, {"code": "nada"}]}))
    assert [(c["code"], c["display"]) for c in out["expansion"]["contains"]] == [
        ("vital", "Vital"), ("bajo", "Riesgo bajo")]


def test_listed_codes_of_a_system_not_held_here_are_taken_as_given():
    v3 = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
    out = expand(value_set({"system": v3, "concept": [{"code": "AMB", "display": "ambulatory"}]}))
    assert out["expansion"]["contains"] == [{"system": v3, "code": "AMB",
                                             "display": "ambulatory"}]


@pytest.mark.parametrize("op,expected", [
    ("is-a", {"pareja", "conyuge", "conviviente", "conviviente-civil", "pololo"}),
    ("descendent-of", {"conyuge", "conviviente", "conviviente-civil", "pololo"}),
    ("generalizes", {"pareja"}),
])
def test_hierarchy_filters(op, expected):
    out = expand(value_set({"system": RELACION, "filter": [
        {"property": "concept", "op": op, "value": "pareja"}]}))
    assert set(codes(out)) == expected


def test_is_not_a_takes_the_rest_of_the_hierarchy():
    out = expand(value_set({"system": RELACION, "filter": [
        {"property": "concept", "op": "is-not-a", "value": "pareja"}]}))
    assert "conyuge" not in codes(out) and "pareja" not in codes(out)
    assert out["expansion"]["total"] == 21 - 5


def test_property_filters_select_by_value():
    numeral = expand(value_set({"system": FORMAS, "filter": [
        {"property": "numeral", "op": "=", "value": "3"}]}))
    assert codes(numeral) == ["sexual"]
    police = expand(value_set({"system": CONTACTO, "filter": [
        {"property": "tipoInstitucion", "op": "=", "value": "carabineros"}]}))
    assert "denuncia" in codes(police) and "llamada-1455" not in codes(police)
    santiago = expand(value_set(region("13")))
    assert santiago["expansion"]["total"] == 52 and "13120" in codes(santiago)


def test_excludes_take_codes_away():
    no_vital = value_set({"system": RIESGO}, exclude=({"system": RIESGO, "concept": [
        {"code": "vital"}, {"code": "vital-alto"}]},))
    assert codes(expand(no_vital)) == ["bajo", "medio", "alto"]


def test_an_imported_value_set_intersects_with_the_include():
    comuna = "https://fhir.amparo.cl/ValueSet/comuna"
    assert expand(value_set({"valueSet": [comuna]}))["expansion"]["total"] == 346
    santiago = value_set({"system": COMUNAS_SYSTEM, "valueSet": [comuna], "filter": [
        {"property": "provincia", "op": "=", "value": "131"}]})
    out = expand(santiago)
    assert out["expansion"]["total"] == 32 and "13101" in codes(out)
    nowhere = value_set({"system": RIESGO, "valueSet": [comuna]})
    assert expand(nowhere)["expansion"]["total"] == 0


def test_an_unknown_import_is_a_404_error():
    with pytest.raises(TerminologyError) as raised:
        expand(value_set({"valueSet": ["https://fhir.amparo.cl/ValueSet/no-existe"]}))
    assert raised.value.status == 404


def test_a_value_set_importing_itself_is_refused():
    vs = value_set({"valueSet": ["urn:test:loop"]}, url="urn:test:loop")
    with pytest.raises(TerminologyError) as raised:
        expand(vs)
    assert raised.value.status == 400


@pytest.mark.parametrize("text,expected", [
    ("FISICA", ["fisica"]), ("física", ["fisica"]), ("violencia gin", ["gineco-obstetrica"]),
    ("physical", ["fisica"]), ("economica politica", []),
])
def test_the_text_filter_ignores_case_and_accents_and_reads_designations(text, expected):
    assert codes(expand(value_set({"system": FORMAS}), filter=text)) == expected


def test_the_text_filter_finds_comunas_written_without_accents():
    out = expand(value_set({"system": COMUNAS_SYSTEM}), filter="nunoa")
    assert [(c["code"], c["display"]) for c in out["expansion"]["contains"]] == [
        ("13120", "Ñuñoa")]
    assert "13120" in codes(expand(value_set({"system": COMUNAS_SYSTEM}), filter="ÑUÑOA"))


def test_paging_gives_every_code_once_with_the_total_of_the_filtered_set():
    vs = value_set(region("13"))
    whole = codes(expand(vs))
    pages = []
    for offset in range(0, 60, 10):
        page = expand(vs, count=10, offset=offset)
        assert page["expansion"]["total"] == 52 and page["expansion"]["offset"] == offset
        pages += codes(page)
    assert pages == whole and len(whole) == 52
    echo = expand(vs, count=10, offset=20)["expansion"]["parameter"]
    assert {"name": "count", "valueInteger": 10} in echo
    assert {"name": "offset", "valueInteger": 20} in echo


def test_count_zero_gives_the_total_only():
    out = expand(value_set({"system": PAISES_SYSTEM}), count=0)
    assert out["expansion"]["total"] == 249 and "contains" not in out["expansion"]


@pytest.mark.parametrize("kwargs", [
    {"count": -1}, {"count": MAX_COUNT + 1}, {"offset": -1}, {"offset": MAX_OFFSET + 1},
    {"filter": "a" * (MAX_FILTER + 1)}])
def test_out_of_bounds_paging_and_oversized_filters_are_refused(kwargs):
    with pytest.raises(TerminologyError) as raised:
        expand(value_set({"system": FORMAS}), **kwargs)
    assert raised.value.status == 400


def test_an_unknown_filter_or_code_system_is_an_error():
    with pytest.raises(TerminologyError) as raised:
        expand(value_set({"system": FORMAS, "filter": [
            {"property": "numeral", "op": "regex", "value": ".*"}]}))
    assert (raised.value.status, raised.value.code) == (400, "not-supported")
    with pytest.raises(TerminologyError) as raised:
        expand(value_set({"system": BASE + "no-existe"}))
    assert raised.value.status == 404


@pytest.mark.parametrize("id", registry.ids("ValueSet"))
def test_every_held_value_set_expands_and_its_codes_validate(id):
    vs = registry.get("ValueSet", id)
    out = expand(vs["url"])
    assert out["expansion"]["total"] == len(out["expansion"].get("contains", []))
    for entry in out["expansion"].get("contains", [])[:20]:
        assert params(validate_code(value_set=vs["url"], code=entry["code"],
                                    system=entry["system"]))["result"] is True


# $translate ----------------------------------------------------------------------------------

#: A small map in the shape of the one the design names (Ley 21.675 forms -> GBVIMS core
#: types), with a made-up target system: held ConceptMaps are tested below as they come.
MAP = {
    "resourceType": "ConceptMap", "url": "urn:test:formas-gbvims", "status": "active",
    "sourceCanonical": "urn:test:vs-formas", "targetCanonical": "urn:test:vs-gbvims",
    "group": [{"source": FORMAS, "target": GBV, "element": [
        {"code": "fisica", "target": [{"code": "physical-assault", "display": "Physical "
                                       "assault", "equivalence": "equivalent"}]},
        {"code": "sexual", "target": [{"code": "rape", "equivalence": "wider"},
                                      {"code": "sexual-assault", "equivalence": "wider"}]},
        {"code": "politica", "target": [{"equivalence": "unmatched"}]},
    ]}],
}


def test_translate_maps_a_code_to_its_targets():
    out = params(translate(concept_map=MAP, code="fisica", system=FORMAS))
    assert out["result"] is True
    assert out["match"] == {"equivalence": "equivalent", "source": "urn:test:formas-gbvims",
                            "concept": {"system": GBV, "code": "physical-assault",
                                        "display": "Physical assault"}}


def test_translate_returns_every_match():
    out = params(translate(concept_map=MAP, coding={"system": FORMAS, "code": "sexual"}))
    assert [m["concept"]["code"] for m in many(out["match"])] == ["rape", "sexual-assault"]


def test_an_unmatched_code_gives_result_false_with_a_message():
    out = params(translate(concept_map=MAP, code="politica", system=FORMAS))
    assert out["result"] is False and out["match"] == {"equivalence": "unmatched",
                                                       "source": "urn:test:formas-gbvims"}
    assert "politica" in out["message"]
    assert params(translate(concept_map=MAP, code="simbolica", system=FORMAS))[
        "result"] is False


def test_reverse_translation_inverts_the_equivalence_and_shows_our_display():
    out = params(translate(concept_map=MAP, code="rape", system=GBV, reverse=True,
                           display_language="en"))
    assert out["match"]["equivalence"] == "narrower"
    assert out["match"]["concept"] == {"system": FORMAS, "code": "sexual",
                                       "display": "Sexual violence"}


def test_target_system_selects_groups():
    out = params(translate(concept_map=MAP, code="fisica", system=FORMAS,
                           target_system="urn:other"))
    assert out["result"] is False and "match" not in out


def test_unmapped_codes_follow_the_group_rule():
    fixed = {**MAP, "group": [{**MAP["group"][0], "unmapped": {
        "mode": "fixed", "code": "other", "display": "Other"}}]}
    out = params(translate(concept_map=fixed, code="simbolica", system=FORMAS))
    assert out["match"]["concept"]["code"] == "other" and out["result"] is True
    provided = {**MAP, "group": [{**MAP["group"][0], "unmapped": {"mode": "provided"}}]}
    out = params(translate(concept_map=provided, code="simbolica", system=FORMAS))
    assert out["match"]["concept"] == {"system": GBV, "code": "simbolica"}


def test_translate_errors():
    with pytest.raises(TerminologyError) as raised:
        translate(url="https://fhir.amparo.cl/ConceptMap/no-existe", code="a", system=FORMAS)
    assert raised.value.status == 404
    with pytest.raises(TerminologyError) as raised:
        translate(concept_map=MAP, code="fisica")
    assert raised.value.status == 400


def _first_mapping(cm: dict) -> tuple[str, str] | None:
    for group in cm.get("group", []):
        for element in group.get("element", []):
            if any(t.get("equivalence") not in ("unmatched", "disjoint")
                   for t in element.get("target", [])):
                return group["source"], element["code"]
    return None


@pytest.mark.parametrize("id", registry.ids("ConceptMap"))
def test_every_held_concept_map_translates_its_first_mapped_code(id):
    cm = registry.get("ConceptMap", id)
    first = _first_mapping(cm)
    assert first is not None, "a held ConceptMap maps at least one code"
    system, code = first
    assert params(translate(url=cm["url"], code=code, system=system))["result"] is True
    scope = cm.get("sourceCanonical") or cm.get("sourceUri")
    assert params(translate(source=scope, code=code, system=system))["result"] is True
