"""Our ValueSets are valid R4B, one per CodeSystem of ours plus the national ones, and every
code they list exists in the code system they name."""

from __future__ import annotations

import csv
import io

import pytest
from fhir.resources.R4B.valueset import ValueSet

import terminology
from tests.conftest import SHARED
from tests.terminology.systems import ACTREASON, V2_0203, displays, ours

IDS = terminology.value_set_ids()
EIS = SHARED / "reference/chile/minsal/eis-0.2.0-codelists"


def _includes(id: str) -> list[dict]:
    return terminology.value_set(id)["compose"]["include"]


def _english(concept: dict) -> list[str]:
    return [d["value"] for d in concept.get("designation", []) if d.get("language") == "en"]


@pytest.mark.parametrize("id", IDS)
def test_every_valueset_validates_as_an_r4b_valueset(id: str) -> None:
    ValueSet.model_validate(terminology.value_set(id))


@pytest.mark.parametrize("id", IDS)
def test_every_valueset_is_active_spanish_and_under_the_amparo_canonical(id: str) -> None:
    vs = terminology.value_set(id)
    assert vs["id"] == id
    assert vs["url"] == f"https://fhir.amparo.cl/ValueSet/{id}"
    assert (vs["version"], vs["status"], vs["language"]) == ("0.1.0", "active", "es-CL")
    assert vs["name"].isidentifier() and vs["name"][0].isupper()
    assert vs["description"].strip() and "expansion" not in vs


@pytest.mark.parametrize("name", terminology.code_system_names())
def test_every_codesystem_of_ours_has_its_all_codes_valueset(name: str) -> None:
    cs = terminology.code_system(name)
    assert cs["valueSet"] == f"https://fhir.amparo.cl/ValueSet/{name}"
    vs = terminology.value_set(name)
    assert vs["compose"] == {"include": [{"system": cs["url"]}]}
    assert vs["title"] == cs["title"]


@pytest.mark.parametrize("id", IDS)
def test_every_include_names_a_code_system_we_hold_and_only_its_codes(id: str) -> None:
    known = displays()
    for include in _includes(id):
        system = include["system"]
        assert system in known, f"{id}: {system} is neither ours nor carried"
        assert set(include) <= {"system", "concept"}, "no filters, no imports"
        codes = [c["code"] for c in include.get("concept", [])]
        assert len(codes) == len(set(codes))
        assert set(codes) <= set(known[system]), set(codes) - set(known[system])
        if not codes:  # a whole system: only ours and the divisions, which we hold entire
            assert ours(system) or system in (terminology.COMUNAS_SYSTEM,
                                              terminology.PROVINCIAS_SYSTEM,
                                              terminology.REGIONES_SYSTEM)


@pytest.mark.parametrize("id", IDS)
def test_every_listed_concept_has_a_spanish_display_and_an_english_designation(id: str) -> None:
    for include in _includes(id):
        for concept in include.get("concept", []):
            assert concept["display"].strip(), concept
            assert len(_english(concept)) == 1 and _english(concept)[0].strip(), concept


def test_the_national_valuesets_are_shipped() -> None:
    assert {"region", "provincia", "comuna", "nacionalidad", "pueblo-originario",
            "tipo-identificador", "proposito-uso"} <= set(IDS)


def test_the_comuna_valueset_covers_all_346_cut_codes() -> None:
    assert _includes("comuna") == [{"system": terminology.COMUNAS_SYSTEM}]
    codes = displays()[terminology.COMUNAS_SYSTEM]
    assert len(codes) == 346 and all(len(code) == 5 and code.isdigit() for code in codes)
    assert codes["13120"] == "Ñuñoa" and codes["05101"] == "Valparaíso"
    assert _includes("region") == [{"system": terminology.REGIONES_SYSTEM}]
    assert len(displays()[terminology.REGIONES_SYSTEM]) == 16
    assert _includes("provincia") == [{"system": terminology.PROVINCIAS_SYSTEM}]
    assert len(displays()[terminology.PROVINCIAS_SYSTEM]) == 56


def test_nationalities_are_every_codpais_country_named_in_spanish() -> None:
    [include] = _includes("nacionalidad")
    assert include["system"] == terminology.PAISES_SYSTEM
    countries = terminology.countries()
    concepts = {c["code"]: c for c in include["concept"]}
    assert list(concepts) == list(countries)  # all 249, in CodPais order
    assert concepts["152"]["display"] == "Chile"
    assert concepts["332"]["display"] == "Haití" and _english(concepts["332"]) == ["Haiti"]
    assert concepts["531"]["display"] == "Curazao" and _english(concepts["531"]) == ["Curaçao"]
    assert all(_english(c) == [countries[code]] for code, c in concepts.items() if code != "531")


@pytest.mark.skipif(not EIS.is_dir(), reason=f"{EIS} is absent: the MINSAL lists are not here")
def test_spanish_country_names_are_those_of_the_minsal_eis_list() -> None:
    rows = csv.DictReader(io.StringIO((EIS / "nacionalidad.csv").read_text(encoding="utf-8")))
    eis = {r["code"].zfill(3): r["display"] for r in rows}
    eis["531"] = eis.pop("532")  # EIS numbers Curazao 532; ISO 3166-1 says 531
    [include] = _includes("nacionalidad")
    assert {c["code"]: c["display"] for c in include["concept"]} == eis


def test_indigenous_peoples_reuse_the_minsal_eis_list_with_chango_and_selknam() -> None:
    [include] = _includes("pueblo-originario")
    assert include["system"] == terminology.PUEBLOS_SYSTEM
    listed = {c["code"]: c["display"] for c in include["concept"]}
    assert listed == terminology.pueblos()
    assert len(listed) == 13
    assert {listed["1"], listed["11"], listed["12"]} == {"Mapuche", "Chango", "Selk'nam"}


def test_identifier_types_are_cl_core_with_the_run_as_nnchl() -> None:
    includes = {i["system"]: {c["code"] for c in i["concept"]} for i in _includes(
        "tipo-identificador")}
    dni = terminology.clcore_code_system("CSCodigoDNI")
    types = terminology.clcore_code_system("CSTipoIdentificador")
    assert includes[terminology.CODIGO_DNI_SYSTEM] == {c["code"] for c in dni["concept"]}
    assert includes[terminology.TIPO_IDENTIFICADOR_SYSTEM] == {c["code"] for c in
                                                               types["concept"]}
    assert "NNCHL" in includes[terminology.CODIGO_DNI_SYSTEM]
    assert includes[V2_0203] == {"PPN", "MR", "PI"}
    assert terminology.RUN_SYSTEM == "http://regcivil.cl/Validacion/RUN"


def test_purposes_of_use_are_hl7_purposeofuse_codes() -> None:
    [include] = _includes("proposito-uso")
    assert include["system"] == ACTREASON
    codes = [c["code"] for c in include["concept"]]
    assert codes == ["COC", "TREAT", "THREAT", "HLEGAL", "PUBHLTH", "BTG"]
    assert {_english(c)[0] for c in include["concept"]} >= {"break the glass",
                                                           "coordination of care"}


def test_value_set_returns_a_fresh_copy_and_fails_loudly_on_unknown_ids() -> None:
    terminology.value_set("comuna")["compose"]["include"].clear()
    assert terminology.value_set("comuna")["compose"]["include"]
    for bad in ("no-such-value-set", "../codesystems/tipo-arma", ""):
        with pytest.raises(FileNotFoundError):
            terminology.value_set(bad)
