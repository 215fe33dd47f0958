"""The implementation guide's SearchParameters in the registry (``definitions.py``): added
to R4B's for the types of their base, and refused when they would replace a definition."""

from __future__ import annotations

import copy

import pytest

from profiles.ig import search_parameters
from server.search.definitions import (
    DefinitionConflict,
    custom_params,
    load_custom,
    params_for,
)
from server.search.extract import compile_plan, fallback_params


def _resource(code: str, base: list[str], url: str | None = None) -> dict:
    return {"resourceType": "SearchParameter", "id": code, "status": "active",
            "url": url or f"https://fhir.amparo.cl/SearchParameter/{code}", "name": code,
            "code": code, "base": base, "type": "token",
            "expression": f"{base[0]}.identifier", "description": "x"}


def test_every_custom_parameter_is_added_to_each_type_of_its_base():
    resources = search_parameters()
    assert len(resources) == len(custom_params()) == 16
    for resource in resources:
        for base in resource["base"]:
            param = params_for(base)[resource["code"]]
            assert param.url == resource["url"] and param.type == resource["type"]
            assert param.url.startswith("https://fhir.amparo.cl/SearchParameter/")
            assert param.expression == resource["expression"]
    assert "caso" not in params_for("EpisodeOfCare") and "comuna" not in params_for("Encounter")


def test_base_parameters_are_kept_beside_the_custom_ones():
    observation = params_for("Observation")
    assert observation["code"].url == "http://hl7.org/fhir/SearchParameter/clinical-code"
    assert observation["forma-violencia"].url.endswith("/Observation-forma-violencia")
    flag = params_for("Flag")  # R4B has no Flag code or status: ours fill the gap
    assert flag["code"].url.endswith("/Flag-code") and flag["patient"].url.startswith(
        "http://hl7.org/fhir/")


def test_every_custom_expression_compiles_to_a_direct_walk():
    assert fallback_params() == {}
    for param in custom_params():
        for base in param.base:
            plan = compile_plan(base, [param])
            assert plan.by_key and not plan.fallback, (base, param.code)


@pytest.mark.parametrize("code", ["identifier", "status", "_id", "_lastUpdated", "_text",
                                  "_has"])
def test_a_custom_parameter_may_not_replace_a_base_one(code):
    with pytest.raises(DefinitionConflict, match=f"already has the R4B parameter '{code}'"):
        load_custom([_resource(code, ["Observation"])])


def test_the_conflict_names_both_definitions():
    with pytest.raises(DefinitionConflict) as raised:
        load_custom([_resource("identifier", ["Flag", "Patient"],
                               "https://fhir.amparo.cl/SearchParameter/mine")])
    message = str(raised.value)
    assert "https://fhir.amparo.cl/SearchParameter/mine" in message
    assert "http://hl7.org/fhir/SearchParameter/Flag-identifier" in message


def test_two_custom_parameters_may_not_share_a_code_on_a_type():
    first = _resource("sello", ["Patient", "Group"])
    second = _resource("sello", ["Patient"], "https://fhir.amparo.cl/SearchParameter/sello-2")
    with pytest.raises(DefinitionConflict, match="already has the custom parameter 'sello'"):
        load_custom([first, second])
    assert len(load_custom([first, _resource("sello", ["Device"], second["url"])])) == 2


def test_urls_and_bases_are_checked():
    with pytest.raises(DefinitionConflict, match="another SearchParameter has this url"):
        load_custom([_resource("x", ["Patient"], params_for("Patient")["gender"].url)])
    with pytest.raises(DefinitionConflict, match="not a concrete R4B resource type"):
        load_custom([_resource("x", ["Resource"])])
    with pytest.raises(DefinitionConflict, match="not a concrete R4B resource type"):
        load_custom([_resource("x", ["Survivor"])])


def test_the_ig_parameters_load_without_conflict():
    assert load_custom(copy.deepcopy(search_parameters())) == custom_params()
