"""Our CodeSystems are valid R4B, Spanish-first, complete, and cite each other correctly."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import pytest
from fhir.resources.R4B import get_fhir_model_class

import terminology

NAMES = terminology.code_system_names()
# R4B task-status (required binding of Task.status).
TASK_STATUS = {"draft", "requested", "received", "accepted", "rejected", "ready", "cancelled",
               "in-progress", "on-hold", "failed", "completed", "entered-in-error"}
V3_ACT_ENCOUNTER = {"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC",
                    "SS", "VR"}


def _flat(concepts: list[dict]) -> list[dict]:
    return [c for concept in concepts for c in [concept, *_flat(concept.get("concept", []))]]


def test_the_expected_codesystems_are_shipped() -> None:
    assert {"formas-violencia", "relacion-agresor", "nivel-riesgo", "tipo-institucion",
            "tipo-contacto", "servicio-paquete-minimo", "estado-derivacion",
            "instrumento-riesgo"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_codesystem_validates_as_an_r4b_codesystem(name: str) -> None:
    get_fhir_model_class("CodeSystem").model_validate(terminology.code_system(name))


@pytest.mark.parametrize("name", NAMES)
def test_every_codesystem_is_active_complete_and_under_the_amparo_canonical(name: str) -> None:
    cs = terminology.code_system(name)
    assert cs["id"] == name
    assert cs["url"] == f"https://fhir.amparo.cl/CodeSystem/{name}"
    assert (cs["status"], cs["content"], cs["language"]) == ("active", "complete", "es-CL")
    assert cs["count"] == len(_flat(cs["concept"]))


@pytest.mark.parametrize("name", NAMES)
def test_every_concept_has_a_spanish_display_and_an_english_designation(name: str) -> None:
    for concept in _flat(terminology.code_system(name)["concept"]):
        assert concept["display"].strip()
        english = [d for d in concept.get("designation", []) if d.get("language") == "en"]
        assert len(english) == 1 and english[0]["value"].strip(), concept["code"]


@pytest.mark.parametrize("name", NAMES)
def test_codes_are_unique_lowercase_and_hyphenated(name: str) -> None:
    codes = [c["code"] for c in _flat(terminology.code_system(name)["concept"])]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code) for code in codes)


@pytest.mark.parametrize("name", NAMES)
def test_properties_are_declared_and_codings_of_ours_resolve(name: str) -> None:
    cs = terminology.code_system(name)
    declared = {p["code"]: p["type"] for p in cs.get("property", [])}
    for concept in _flat(cs["concept"]):
        for prop in concept.get("property", []):
            kind = declared[prop["code"]]
            assert f"value{kind[0].upper()}{kind[1:]}" in prop, (concept["code"], prop)
            coding = prop.get("valueCoding")
            if coding and coding["system"].startswith("https://fhir.amparo.cl/CodeSystem/"):
                target = coding["system"].rsplit("/", 1)[1]
                assert coding["display"] == terminology.concepts(target)[coding["code"]]["display"]
            elif coding and coding["system"] == "http://hl7.org/fhir/task-status":
                assert coding["code"] in TASK_STATUS
            elif coding:
                assert coding["code"] in V3_ACT_ENCOUNTER, coding


def test_forms_of_violence_are_the_nine_of_ley_21675_article_6_in_its_order() -> None:
    concepts = terminology.code_system("formas-violencia")["concept"]
    assert [c["code"] for c in concepts] == [
        "fisica", "psicologica", "sexual", "economica", "simbolica", "institucional",
        "politica", "trabajo", "gineco-obstetrica"]
    assert [c["property"][0]["valueInteger"] for c in concepts] == list(range(1, 10))
    assert concepts[8]["display"] == "Violencia gineco-obstétrica"


def test_risk_levels_keep_the_puir_combined_level_apart() -> None:
    assert list(terminology.concepts("nivel-riesgo")) == ["bajo", "medio", "alto", "vital",
                                                          "vital-alto"]
    puir = terminology.concepts("instrumento-riesgo")["puir"]
    levels = [p["valueCoding"]["code"] for p in puir["property"] if p["code"] == "nivel"]
    assert levels == ["bajo", "medio", "vital-alto"]


def test_relationships_group_partners_and_former_partners() -> None:
    concepts = terminology.concepts("relacion-agresor")
    assert terminology.code_system("relacion-agresor")["hierarchyMeaning"] == "is-a"
    assert concepts["conviviente"]["parent"] == "pareja"
    assert concepts["ex-pololo"]["parent"] == "ex-pareja"
    assert concepts["desconocido"]["parent"] is None


def test_every_service_of_the_minimum_package_has_a_provider_kind() -> None:
    kinds = terminology.concepts("tipo-institucion")
    services = terminology.concepts("servicio-paquete-minimo")
    assert set(services) == {"apoyo-psicosocial", "asesoria-juridica", "atencion-salud",
                             "plan-seguridad", "casa-acogida", "medidas-proteccion",
                             "autonomia-economica", "apoyo-hijos-hijas"}
    for service in services.values():
        providers = [p["valueCoding"]["code"] for p in service["property"]]
        assert providers and set(providers) <= set(kinds)


def test_code_system_returns_a_fresh_copy_each_time() -> None:
    terminology.code_system("nivel-riesgo")["concept"].clear()
    assert terminology.code_system("nivel-riesgo")["concept"]


def test_an_unknown_code_system_fails_loudly() -> None:
    with pytest.raises(FileNotFoundError):
        terminology.code_system("no-such-system")


def test_comunas_are_the_346_cut_codes_with_their_provincia_and_region() -> None:
    comunas = terminology.comunas()
    assert len(comunas) == 346 == len({c.code for c in comunas})
    for comuna in comunas:
        assert re.fullmatch(r"\d{5}", comuna.code)
        assert comuna.code.startswith(comuna.provincia_code)
        assert comuna.provincia_code.startswith(comuna.region_code)
    assert len({c.region_code for c in comunas}) == 16


def test_comuna_displays_take_the_corrected_spelling() -> None:
    display = {c.code: c.display for c in terminology.comunas()}
    assert display["13106"] == "Estación Central"
    assert display["13120"] == "Ñuñoa"
    assert display["13101"] == "Santiago"
    assert display["08301"] == "Los Ángeles"
    assert display["16206"] == "Ránquil"
    assert display["11101"] == "Coyhaique"


def test_countries_are_the_cl_core_iso_numeric_codes() -> None:
    countries = terminology.countries()
    assert countries["152"] == "Chile"
    assert len(countries) == 249


@pytest.mark.parametrize("name", ["division-politico-administrativa.csv",
                                  "CodeSystem-CodPais.json"])
def test_copied_data_matches_the_checksum_recorded_in_its_note(name: str) -> None:
    folder = resources.files("terminology").joinpath("data")
    digest = hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest()
    note = folder.joinpath("README.md").read_text(encoding="utf-8")
    row = next(line for line in note.splitlines() if line.startswith(f"| `{name}`"))
    assert digest in row
