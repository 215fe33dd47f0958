"""Our ConceptMaps are valid R4B, take the institutions' codes exactly as their data
dictionaries spell them, and map them to codes that exist."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest
from fhir.resources.R4B.conceptmap import ConceptMap

import terminology
from tests.conftest import SHARED
from tests.terminology.systems import ICD10, ISO3166, displays, ours

IDS = terminology.concept_map_ids()
INSTITUTIONS = SHARED / "fixtures/institutions"
#: ConceptMap id prefix -> the fixture folder whose DICTIONARY.md defines its source codes.
SOURCES = {"fono-1455": "hotline-1455", "policia": "police", "salud": "health",
           "sernameg": "sernameg"}
EQUIVALENCES = {"relatedto", "equivalent", "equal", "wider", "subsumes", "narrower",
                "specializes", "inexact", "unmatched", "disjoint"}
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
         "XIV", "XV", "XVI"]
needs_shared = pytest.mark.skipif(not INSTITUTIONS.is_dir(),
                                  reason=f"{INSTITUTIONS} is absent: no data dictionaries here")


def _source(id: str) -> str | None:
    return next((folder for prefix, folder in SOURCES.items() if id.startswith(prefix + "-")),
                None)


INSTITUTION_MAPS = [id for id in IDS if _source(id)]


@cache
def _dictionary(folder: str) -> str:
    return (INSTITUTIONS / folder / "DICTIONARY.md").read_text(encoding="utf-8")


def _elements(cm: dict):
    for group in cm["group"]:
        for element in group["element"]:
            yield group, element


def _value_set_systems(canonical: str) -> set[str]:
    prefix = "https://fhir.amparo.cl/ValueSet/"
    assert canonical.startswith(prefix), canonical
    vs = terminology.value_set(canonical[len(prefix):])
    return {include["system"] for include in vs["compose"]["include"]}


@pytest.mark.parametrize("id", IDS)
def test_every_conceptmap_validates_as_an_r4b_conceptmap(id: str) -> None:
    ConceptMap.model_validate(terminology.concept_map(id))


@pytest.mark.parametrize("id", IDS)
def test_every_conceptmap_is_active_spanish_and_under_the_amparo_canonical(id: str) -> None:
    cm = terminology.concept_map(id)
    assert cm["id"] == id
    assert cm["url"] == f"https://fhir.amparo.cl/ConceptMap/{id}"
    assert (cm["version"], cm["status"], cm["language"]) == ("0.1.0", "active", "es-CL")
    assert cm["name"].isidentifier() and cm["name"][0].isupper()
    assert cm["description"].strip()


@pytest.mark.parametrize("id", IDS)
def test_every_group_maps_its_source_into_the_target_valueset(id: str) -> None:
    cm = terminology.concept_map(id)
    targets = _value_set_systems(cm["targetCanonical"])
    sources = {group["source"] for group in cm["group"]}
    assert sources == {cm["sourceUri"]}
    for group in cm["group"]:
        assert group["target"] in targets, (group["target"], cm["targetCanonical"])
        codes = [element["code"] for element in group["element"]]
        assert codes and len(codes) == len(set(codes))


@pytest.mark.parametrize("id", IDS)
def test_every_target_code_exists_with_its_display(id: str) -> None:
    known = displays()
    for group, element in _elements(terminology.concept_map(id)):
        for target in element["target"]:
            assert target["equivalence"] in EQUIVALENCES
            if target["equivalence"] == "unmatched":
                assert "code" not in target and target["comment"].strip(), element
                continue
            code = target["code"]
            assert code in known[group["target"]], (element["code"], code)
            assert target["display"] == known[group["target"]][code]
            if target["equivalence"] not in ("equivalent", "equal"):
                assert target["comment"].strip(), (element["code"], target)


@pytest.mark.parametrize("id", INSTITUTION_MAPS)
def test_institution_maps_name_their_source_field(id: str) -> None:
    cm = terminology.concept_map(id)
    prefix = next(p for p in SOURCES if id.startswith(p + "-"))
    if cm["sourceUri"] != ICD10:
        assert cm["sourceUri"].startswith(f"{terminology.FUENTE}{prefix}/"), cm["sourceUri"]


def _documented(code: str, text: str, id: str) -> bool:
    if f"`{code}`" in text:
        return True
    if re.fullmatch(r"[A-Z]\d\d\.\d", code):  # ICD-10, written T74.1 or Y05.x in a table
        category = code.split(".")[0]
        return bool(re.search(rf"(?<![\w.]){re.escape(code)}(?![\w])", text)
                    or f"{category}.x" in text)
    # The hotline dictionary gives the regions as a range: `I` … `XVI`, `RM`.
    return id == "fono-1455-region" and "`I` … `XVI`" in text and code in ROMAN


@needs_shared
@pytest.mark.parametrize("id", INSTITUTION_MAPS)
def test_every_source_code_is_spelt_as_in_the_institution_dictionary(id: str) -> None:
    text = _dictionary(_source(id))
    missing = [e["code"] for _, e in _elements(terminology.concept_map(id))
               if not _documented(e["code"], text, id)]
    assert not missing, f"{id}: not in {_source(id)}/DICTIONARY.md: {missing}"


def _allowed_values(folder: str, field: str) -> list[str]:
    """The backticked codes of the last column of the dictionary row about ``field``."""
    for line in _dictionary(folder).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and any(c in (f"`{field}`", field) for c in cells[:2]):
            return [c for c in re.findall(r"`([^`]+)`", cells[-1]) if c not in ("~", "null")]
    raise AssertionError(f"no row for {field} in {folder}/DICTIONARY.md")


def _table_codes(folder: str, heading: str) -> list[str]:
    """The backticked codes of the first column of the table under ``heading``."""
    lines = _dictionary(folder).split(heading, 1)[1].splitlines()[1:]
    rows = [line for line in lines[: next(i for i, line in enumerate(lines[2:], 2)
                                           if not line.startswith("|"))]]
    return [m.group(1) for line in rows if (m := re.match(r"\|\s*`([^`]+)`", line))]


# map id -> (fixture folder, the row of the field, or "## heading" of a table of codes)
COMPLETE = {
    "fono-1455-tipos-violencia": ("hotline-1455", "tipos_violencia"),
    "fono-1455-relacion-agresor": ("hotline-1455", "relacion_agresor"),
    "fono-1455-nivel-riesgo": ("hotline-1455", "nivel_riesgo"),
    "fono-1455-derivacion-institucion": ("hotline-1455", "derivacion"),
    "fono-1455-derivacion-servicio": ("hotline-1455", "derivacion"),
    "fono-1455-region": ("hotline-1455", "region"),
    "policia-institucion": ("police", "institucion"),
    "policia-tipo-documento": ("police", "tipo_documento"),
    "policia-lugar-hechos": ("police", "lugar_hechos.tipo_lugar"),
    "policia-tipo-maltrato": ("police", "tipo_maltrato[]"),
    "policia-relacion-agresor": ("police", "imputado.relacion_con_victima"),
    "policia-nivel-riesgo": ("police", "nivel_riesgo"),
    "policia-delitos": ("police", "### Offences"),
    "policia-medidas-proteccion": ("police", "### Measures"),
    "salud-zvg-formas-violencia": ("health", "ZVG-3"),
    "salud-zvg-relacion-agresor": ("health", "ZVG-4"),
    "salud-zvg-derivacion-institucion": ("health", "ZVG-10"),
    "salud-zvg-derivacion-servicio": ("health", "ZVG-10"),
    "sernameg-tipos-violencia": ("sernameg", "tipos_violencia"),
    "sernameg-relacion-agresor": ("sernameg", "relacion_agresor"),
    "sernameg-nivel-riesgo": ("sernameg", "nivel_riesgo"),
    "sernameg-via-ingreso": ("sernameg", "via_ingreso"),
    "sernameg-pueblo-originario": ("sernameg", "pueblo_originario"),
    "sernameg-tipo-documento": ("sernameg", "tipo_documento"),
    "sernameg-estado": ("sernameg", "estado"),
}


@needs_shared
@pytest.mark.parametrize("id", sorted(COMPLETE))
def test_every_value_a_dictionary_allows_is_mapped(id: str) -> None:
    folder, where = COMPLETE[id]
    allowed = (_table_codes(folder, where) if where.startswith("#")
               else _allowed_values(folder, where))
    mapped = {e["code"] for _, e in _elements(terminology.concept_map(id))}
    assert allowed and set(allowed) <= mapped, set(allowed) - mapped


def test_the_nine_forms_of_violence_map_to_the_gbvims_types() -> None:
    cm = terminology.concept_map("formas-violencia-gbvims")
    [group] = cm["group"]
    assert group["source"] == "https://fhir.amparo.cl/CodeSystem/formas-violencia"
    assert group["target"] == "https://fhir.amparo.cl/CodeSystem/tipo-violencia-gbvims"
    targets = {e["code"]: {t.get("code") for t in e["target"]} for e in group["element"]}
    assert list(targets) == list(terminology.concepts("formas-violencia"))
    assert targets["fisica"] == {"agresion-fisica"}
    assert targets["sexual"] == {"violacion", "agresion-sexual"}
    assert targets["simbolica"] == {None}


def test_every_institution_field_that_carries_a_form_of_violence_is_mapped() -> None:
    for id in ("fono-1455-tipos-violencia", "policia-tipo-maltrato", "salud-zvg-formas-violencia",
               "sernameg-tipos-violencia"):
        mapped = {t["code"] for _, e in _elements(terminology.concept_map(id))
                  for t in e["target"]}
        assert mapped == {"fisica", "psicologica", "sexual", "economica"}, id


def test_the_puir_level_stays_vital_alto() -> None:
    cm = terminology.concept_map("policia-nivel-riesgo")
    assert {e["code"]: e["target"][0]["code"] for _, e in _elements(cm)} == {
        "BAJO": "bajo", "MEDIO": "medio", "VITAL/ALTO": "vital-alto"}


def test_hotline_regions_are_the_16_cut_regions() -> None:
    cm = terminology.concept_map("fono-1455-region")
    regions = {e["code"]: e["target"][0]["code"] for _, e in _elements(cm)}
    assert regions["RM"] == "13" and regions["XVI"] == "16" and regions["XV"] == "15"
    assert sorted(regions.values()) == sorted(displays()[terminology.REGIONES_SYSTEM])


def test_iso_alpha3_codes_map_one_to_one_onto_codpais() -> None:
    cm = terminology.concept_map("iso3166-alfa3-pais")
    assert cm["sourceUri"] == ISO3166
    pairs = {e["code"]: e["target"][0]["code"] for _, e in _elements(cm)}
    assert len(pairs) == 249 and set(pairs.values()) == set(terminology.countries())
    assert pairs["CHL"] == "152" and pairs["VEN"] == "862" and pairs["HTI"] == "332"
    assert all(re.fullmatch(r"[A-Z]{3}", code) for code in pairs)


R4B_EXPANSIONS = SHARED / "reference/fhir-r4b/valueset-expansions-required.json"


@pytest.mark.skipif(not R4B_EXPANSIONS.is_file(), reason=f"{R4B_EXPANSIONS} is absent")
def test_iso_alpha3_pairs_are_those_of_the_r4b_country_expansion() -> None:
    bundle = json.loads(R4B_EXPANSIONS.read_text(encoding="utf-8"))
    [country] = [e["resource"] for e in bundle["entry"]
                 if e["resource"]["url"] == "http://hl7.org/fhir/ValueSet/country"]
    by_name: dict[str, dict[str, str]] = {}
    for c in country["expansion"]["contains"]:
        kind = "n" if c["code"].isdigit() else "a3" if len(c["code"]) == 3 else "a2"
        by_name.setdefault(c["display"], {})[kind] = c["code"]
    expected = {codes["a3"]: codes["n"] for codes in by_name.values() if "a3" in codes}
    assert len(expected) == 249
    cm = terminology.concept_map("iso3166-alfa3-pais")
    assert {e["code"]: e["target"][0]["code"] for _, e in _elements(cm)} == expected


@needs_shared
def test_every_nationality_the_dictionaries_and_fixtures_write_has_a_country() -> None:
    cm = terminology.concept_map("gentilicio-pais")
    mapped = {e["code"] for _, e in _elements(cm)}
    written = {"CHILENA", "HAITIANA", "Chilena", "Haitiana", "Colombiana", "Peruana",
               "Venezolana", "VENEZOLANA"}  # the dictionaries' examples and the fixtures' values
    assert {w.upper() for w in written} <= mapped
    assert all(code == code.upper() for code in mapped)
    for word in ("CHILENA", "HAITIANA", "Colombiana", "Peruana", "Venezolana"):
        assert f"`{word}`" in _dictionary("hotline-1455") + _dictionary("sernameg"), word


def test_concept_map_returns_a_fresh_copy_and_fails_loudly_on_unknown_ids() -> None:
    terminology.concept_map("policia-nivel-riesgo")["group"].clear()
    assert terminology.concept_map("policia-nivel-riesgo")["group"]
    with pytest.raises(FileNotFoundError):
        terminology.concept_map("no-such-map")


def test_our_maps_target_our_codes_or_the_national_ones() -> None:
    national = {terminology.REGIONES_SYSTEM, terminology.PAISES_SYSTEM,
                terminology.PUEBLOS_SYSTEM, terminology.CODIGO_DNI_SYSTEM,
                terminology.TIPO_IDENTIFICADOR_SYSTEM,
                "http://terminology.hl7.org/CodeSystem/v2-0203"}
    for id in IDS:
        for group in terminology.concept_map(id)["group"]:
            assert ours(group["target"]) or group["target"] in national, (id, group["target"])
