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
# The codes of the other FHIR code systems our properties point at (R4B).
EXTERNAL = {
    "http://hl7.org/fhir/task-status": TASK_STATUS,
    "http://terminology.hl7.org/CodeSystem/v3-ActCode": V3_ACT_ENCOUNTER,
    "http://hl7.org/fhir/flag-priority-code": {"PN", "PL", "PM", "PH"},
    "http://terminology.hl7.org/CodeSystem/flag-category": {
        "diet", "drug", "lab", "admin", "contact", "clinical", "behavioral", "research",
        "advance-directive", "safety"},
}


def _flat(concepts: list[dict]) -> list[dict]:
    return [c for concept in concepts for c in [concept, *_flat(concept.get("concept", []))]]


def test_the_expected_codesystems_are_shipped() -> None:
    assert {"formas-violencia", "relacion-agresor", "nivel-riesgo", "tipo-institucion",
            "tipo-contacto", "servicio-paquete-minimo", "estado-derivacion",
            "instrumento-riesgo", "tipo-alerta", "tipo-violencia-gbvims",
            "medida-proteccion"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_codesystem_validates_as_an_r4b_codesystem(name: str) -> None:
    get_fhir_model_class("CodeSystem").model_validate(terminology.code_system(name))


@pytest.mark.parametrize("name", NAMES)
def test_every_codesystem_is_active_complete_and_under_the_amparo_canonical(name: str) -> None:
    cs = terminology.code_system(name)
    assert cs["id"] == name
    assert cs["url"] == f"https://fhir.amparo.cl/CodeSystem/{name}"
    assert (cs["status"], cs["content"], cs["language"]) == ("active", "complete", "es-CL")
    assert (cs["version"], cs["caseSensitive"]) == ("0.1.0", True)
    assert cs["count"] == len(_flat(cs["concept"]))
    assert cs["valueSet"] == f"https://fhir.amparo.cl/ValueSet/{name}"


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
            elif coding:
                assert coding["code"] in EXTERNAL[coding["system"]], coding


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


def test_risk_levels_rank_on_one_three_level_scale() -> None:
    ranks = {code: c["property"][0]["valueInteger"]
             for code, c in terminology.concepts("nivel-riesgo").items()}
    assert ranks == {"bajo": 1, "medio": 2, "alto": 3, "vital": 3, "vital-alto": 3}


def test_alert_kinds_are_the_early_warning_rules() -> None:
    alerts = terminology.concepts("tipo-alerta")
    assert list(alerts) == ["riesgo-alto", "escalamiento", "reincidencia", "agresor-serial",
                            "incumplimiento-medida-proteccion", "derivacion-vencida",
                            "perdida-contacto", "reevaluacion-pendiente"]
    for alert in alerts.values():
        assert {p["code"] for p in alert["property"]} == {"prioridad", "categoria"}


def test_gbvims_has_its_six_core_types_in_classification_order() -> None:
    types = terminology.code_system("tipo-violencia-gbvims")["concept"]
    assert [c["code"] for c in types] == ["violacion", "agresion-sexual", "agresion-fisica",
                                          "matrimonio-forzado", "negacion-recursos",
                                          "abuso-psicologico"]
    assert [c["property"][0]["valueInteger"] for c in types] == list(range(1, 7))
    assert [c["designation"][0]["value"] for c in types][:3] == [
        "Rape", "Sexual assault", "Physical assault"]


def test_referral_statuses_cover_the_waiting_list_drop_out_and_cancellation() -> None:
    statuses = terminology.concepts("estado-derivacion")
    assert {"enviada", "recibida", "aceptada", "en-espera", "en-atencion", "suspendida",
            "completada", "rechazada", "sin-cupo", "no-se-presenta", "abandona", "desiste",
            "anulada"} == set(statuses)
    task = {code: c["property"][0]["valueCoding"]["code"] for code, c in statuses.items()}
    assert (task["en-espera"], task["suspendida"], task["abandona"], task["anulada"]) == (
        "accepted", "on-hold", "failed", "cancelled")


def test_places_group_the_homes_under_domicilio() -> None:
    places = terminology.concepts("lugar-hechos")
    assert terminology.code_system("lugar-hechos")["hierarchyMeaning"] == "is-a"
    assert places["domicilio"]["parent"] is None
    assert {c for c, p in places.items() if p["parent"] == "domicilio"} == {
        "domicilio-comun", "domicilio-victima", "domicilio-agresor"}


def test_protection_measures_cite_their_legal_basis() -> None:
    for measure in terminology.concepts("medida-proteccion").values():
        [basis] = measure["property"]
        assert basis["code"] == "baseLegal" and basis["valueString"].strip()


def test_code_system_returns_a_fresh_copy_each_time() -> None:
    terminology.code_system("nivel-riesgo")["concept"].clear()
    assert terminology.code_system("nivel-riesgo")["concept"]


def test_an_unknown_code_system_fails_loudly() -> None:
    for bad in ("no-such-system", "../valuesets/comuna", "codesystems/tipo-arma"):
        with pytest.raises(FileNotFoundError):
            terminology.code_system(bad)


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
                                  "CodeSystem-CodPais.json", "CodeSystem-CSTipoIdentificador.json",
                                  "CodeSystem-CSCodigoDNI.json", "pueblo-indigena.csv"])
def test_copied_data_matches_the_checksum_recorded_in_its_note(name: str) -> None:
    folder = resources.files("terminology").joinpath("data")
    digest = hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest()
    note = folder.joinpath("README.md").read_text(encoding="utf-8")
    row = next(line for line in note.splitlines() if line.startswith(f"| `{name}`"))
    assert digest in row
