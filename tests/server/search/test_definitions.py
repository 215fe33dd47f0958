"""The SearchParameter registry and the vendored R4B data it is built from."""

from __future__ import annotations

import dataclasses
import filecmp
import importlib.util
from pathlib import Path

import pytest

from profiles.r4b import element_types, search_parameters
from server.search.definitions import SearchParam, params_for, resource_types
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[3]
SHARED_R4B = SHARED / "reference/fhir-r4b"
COMMON = {"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"}
SPECIAL = {"_text", "_content", "_list", "_query", "_has", "_type", "_filter"}


@pytest.fixture(scope="module")
def shared_r4b() -> Path:
    if not SHARED_R4B.is_dir():
        pytest.skip(f"{SHARED_R4B} is absent: the R4B definitions are not on this machine")
    return SHARED_R4B


def test_every_type_has_the_parameters_for_all_resources_but_not_the_special_ones() -> None:
    for resource_type in ("Patient", "Observation", "Bundle", "Binary", "Parameters"):
        codes = set(params_for(resource_type))
        assert codes >= COMMON, resource_type
        assert not codes & SPECIAL, resource_type


def test_patient_parameters_come_from_its_own_and_shared_definitions() -> None:
    params = params_for("Patient")
    assert params["identifier"].type == "token"
    assert params["family"].expression == "Patient.name.family | Practitioner.name.family"
    assert set(params["general-practitioner"].target) == {
        "Organization", "Practitioner", "PractitionerRole"}
    assert "Practitioner" in params["given"].base and "Patient" in params["given"].base
    assert "subject" not in params


def test_shared_clinical_parameters_keep_their_whole_base_and_expression() -> None:
    patient = params_for("Observation")["patient"]
    assert patient.url == "http://hl7.org/fhir/SearchParameter/clinical-patient"
    assert "Observation.subject.where(resolve() is Patient)" in patient.expression
    assert len(patient.base) > 20
    assert patient is params_for("Encounter")["patient"]


def test_date_parameters_list_their_comparators_and_composites_their_components() -> None:
    assert params_for("Observation")["date"].comparators == (
        "eq", "ne", "gt", "ge", "lt", "le", "sa", "eb", "ap")
    composite = params_for("Observation")["code-value-quantity"]
    assert composite.type == "composite" and composite.multiple_or is False
    assert [c[1] for c in composite.components] == ["code", "value.as(Quantity)"]


def test_document_reference_relationship_components_are_swapped_back() -> None:
    components = dict(params_for("DocumentReference")["relationship"].components)
    assert components["http://hl7.org/fhir/SearchParameter/DocumentReference-relatesto"] == "target"
    assert components["http://hl7.org/fhir/SearchParameter/DocumentReference-relation"] == "code"


def test_observation_code_value_date_uses_the_date_time_type_name() -> None:
    components = params_for("Observation")["code-value-date"].components
    assert components[1][1] == "value.as(dateTime) | value.as(Period)"


def test_the_vendored_copy_keeps_the_errata_verbatim() -> None:
    by_id = {sp["id"]: sp for sp in search_parameters()}
    assert by_id["Observation-code-value-date"]["component"][1]["expression"] == (
        "value.as(DateTime) | value.as(Period)")
    relationship = by_id["DocumentReference-relationship"]["component"]
    assert [c["expression"] for c in relationship] == ["code", "target"]


def test_search_params_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        params_for("Patient")["name"].code = "nombre"  # type: ignore[misc]
    with pytest.raises(TypeError):
        params_for("Patient")["nombre"] = params_for("Patient")["name"]  # type: ignore[index]
    assert isinstance(params_for("Patient")["name"], SearchParam)


def test_resource_types_are_the_concrete_resources() -> None:
    types = resource_types()
    assert {"Patient", "Observation", "Binary", "Bundle", "Parameters", "Consent"} <= types
    assert not {"Resource", "DomainResource", "HumanName", "Quantity", "Age"} & types
    assert len(types) == 141


def test_an_unknown_type_has_no_parameters() -> None:
    assert dict(params_for("Survivor")) == {}
    assert dict(params_for("HumanName")) == {}


def test_element_types_expand_choices_and_keep_content_references() -> None:
    types = element_types()
    assert types["Patient"] == ["DomainResource"]
    assert types["Age"] == ["Quantity"]
    assert "Quantity" in types["Observation.value[x]"]
    assert types["Observation.valueQuantity"] == ["Quantity"]
    assert types["Observation.valueCodeableConcept"] == ["CodeableConcept"]
    assert types["Questionnaire.item.item"] == ["#Questionnaire.item"]
    assert types["Patient.id"] == ["id"]
    assert types["HumanName.given"] == ["string"]
    assert "Patient.extension" not in types and "Patient.contact.id" not in types


def test_vendored_data_is_what_the_build_script_writes(shared_r4b: Path, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_r4b_data",
                                                  ROOT / "scripts" / "build_r4b_data.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    module.main(["--reference", str(shared_r4b), "--out", str(tmp_path)])
    vendored = ROOT / "profiles" / "r4b"
    for name in ("search-parameters.json", "element-types.json"):
        assert filecmp.cmp(tmp_path / name, vendored / name, shallow=False), name
    assert filecmp.cmp(shared_r4b / "search-parameters.json",
                       vendored / "search-parameters.json", shallow=False)
