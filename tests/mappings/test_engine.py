"""The mapping engine's parts on small inputs: conversions, templates, the outcome rules,
the checks a mapping file gets when loaded."""

from __future__ import annotations

import copy
from datetime import date

import pytest

import mappings
from mappings import templates, values
from mappings.engine import CONTACT, DUPLICATE, INGESTED, REJECTED, convert

HOTLINE = mappings.load("fono-1455")


# -- conversions ---------------------------------------------------------------------------

def test_runs_are_normalised_and_a_wrong_check_digit_is_kept_unverified():
    assert values.run(["42.845.541-k"], {}) == ({"value": "42845541-K", "valid": True}, None)
    value, problem = values.run(["42230917-1"], {})
    assert value == {"value": "42230917-1", "valid": False}
    assert "dígito verificador" in problem
    assert values.run(["abc"], {})[0] is None
    assert values.run(["42845541", "K"], {})[0]["valid"]  # body and check digit apart


def test_dates_as_chileans_write_them_with_the_local_offset():
    spec = {"format": ["%d-%m-%Y %H:%M:%S", "%d-%m-%Y"], "zone": "America/Santiago"}
    assert values.datetime_(["08-01-2025", "10:12:41"], spec)[0] == "2025-01-08T10:12:41-03:00"
    assert values.datetime_(["08-07-2025", "10:12:41"], spec)[0] == "2025-07-08T10:12:41-04:00"
    assert values.datetime_(["31-02-2025", ""], spec)[1]  # no such day
    assert values.date(["08-11-2096"], {"format": "%d-%m-%Y"})[0] == "2096-11-08"


def test_comunas_by_code_or_name_and_what_is_not_a_comuna():
    assert values.comuna(["5101", "Valparaíso"], {})[0] == {"code": "05101",
                                                            "display": "Valparaíso"}
    assert values.comuna(["", "  rancagua "], {})[0]["code"] == "06101"
    value, problem = values.comuna(["", "Bajos de Mena"], {})
    assert value is None and "Bajos de Mena" in problem
    assert values.comuna(["", ""], {}) == (None, None)


def test_names_multi_valued_cells_and_code_translation():
    assert values.words(["  camila ANDREA"], {})[0] == ["Camila", "Andrea"]
    assert values.surnames(["de la Fuente soto"], {})[0] == {"paterno": "de la Fuente",
                                                             "materno": "Soto"}
    spec = {"split": ",", "empty": ["NO_INFORMA"],
            "conceptMap": "https://fhir.amparo.cl/ConceptMap/fono-1455-tipos-violencia"}
    codings, problem = values.code(["FISICA,NO_INFORMA,INVENTADA"], spec)
    assert [c["code"] for c in codings] == ["fisica"]
    assert problem == "código desconocido: INVENTADA"
    assert values.phone(["+56 9 8442 0319"], {})[0] == "+56984420319"


# -- templates -----------------------------------------------------------------------------

def test_templates_fill_in_prune_empties_and_repeat():
    record = {"a": "x", "list": [{"code": "1"}, {"code": "2"}]}
    template = {"keep": "{{a}}", "gone": "{{missing}}", "text": "id-{{a}}",
                "half": "id-{{missing}}", "when": {"$when": "a = 'y'", "v": 1},
                "each": [{"$each": "list", "$item": {"c": "{{%item.code}}"}}],
                "spread": ["{{list.code}}"], "empty": {"inner": "{{missing}}"}}
    assert templates.render(template, record, {}) == {
        "keep": "x", "text": "id-x", "each": [{"c": "1"}, {"c": "2"}],
        "spread": ["1", "2"]}
    assert templates.render({"x": "{{missing}}"}, record, {}) is None


# -- the outcome rules (on the hotline mapping, a few synthetic rows) -----------------------

HEADER = ("id_atencion;fecha_llamada;hora_inicio;duracion_seg;canal;tipo_llamante;"
          "parentesco_llamante;run_victima;nombres_victima;apellidos_victima;edad_victima;"
          "telefono_contacto;comuna;cod_comuna;region;nacionalidad;motivo_llamada;"
          "tipos_violencia;relacion_agresor;nombre_agresor;convive_con_agresor;hijos_menores;"
          "nivel_riesgo;aviso_carabineros;derivacion;centro_derivacion;id_operadora;"
          "observaciones")


def row(id: str, day: str = "08-01-2025", run: str = "", given: str = "",
        surnames: str = "") -> str:
    return (f"{id};{day};10:00:00;60;TELEFONO;VICTIMA;;{run};{given};{surnames};30;;"
            f"Coquimbo;4102;IV;;ORIENTACION_VCM;FISICA;;;;;MEDIO;NO;;;OP-1;")


def outcomes(*rows: str) -> list:
    data = "\n".join([HEADER, *rows]).encode()
    return list(convert(HOTLINE, data, "prueba.csv", extracted=date(2026, 9, 30)))


def test_each_record_ends_in_exactly_one_outcome():
    results = outcomes(row("1", run="40611189-K"), row("1", run="40611189-K"),
                       row("2", given="Ana"), row("3", day="15-03-2062", run="40611189-K"),
                       row("4", day="no es fecha", run="40611189-K"), row("5", given="Ana",
                                                                            surnames="Pérez"))
    assert [r.outcome for r in results] == [INGESTED, DUPLICATE, CONTACT, REJECTED, REJECTED,
                                            INGESTED]
    assert "posterior a la extracción" in results[3].reason
    assert "no es una fecha" in results[4].reason
    assert results[2].bundle["entry"][0]["resource"]["resourceType"] == "Encounter"
    assert "subject" not in results[2].bundle["entry"][0]["resource"]


def test_the_same_record_gives_the_same_ids_and_a_provenance():
    first, again = outcomes(row("1", run="40611189-K"))[0], \
        outcomes(row("1", run="40611189-K"))[0]
    ids = [e["fullUrl"] for e in first.bundle["entry"]]
    assert ids == [e["fullUrl"] for e in again.bundle["entry"]]
    provenance = first.bundle["entry"][-1]["resource"]
    assert provenance["resourceType"] == "Provenance"
    assert provenance["policy"] == ["https://fhir.amparo.cl/mappings/fono-1455|1.0.0"]
    assert provenance["entity"][0]["what"]["display"] == "prueba.csv, registro 1"
    assert {t["reference"] for t in provenance["target"]} == set(ids[:-1])


# -- the mapping files are checked when loaded ----------------------------------------------

@pytest.mark.parametrize("change, problem", [
    (lambda m: m.pop("reader"), "reader"),
    (lambda m: m["fields"]["run"].update(type="nada"), "nada"),
    (lambda m: m["fields"]["nivel"].pop("conceptMap"), "conceptMap"),
    (lambda m: m.update(key="no-existe"), "no-existe"),
    (lambda m: m["outcome"].update(identified="run.valid = = true"), "FHIRPath"),
])
def test_a_broken_mapping_is_refused_with_where(change, problem):
    broken = copy.deepcopy(HOTLINE)
    change(broken)
    with pytest.raises(mappings.MappingError, match=problem):
        mappings.check(broken)


def test_every_shipped_mapping_loads():
    assert "fono-1455" in mappings.names()
    for name in mappings.names():
        assert mappings.load(name)["name"] == name
