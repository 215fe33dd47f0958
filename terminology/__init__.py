"""Amparo's terminology: our CodeSystems, ValueSets and ConceptMaps (JSON) and the national
reference data they sit beside.

Our own resources live in ``codesystems/<id>.json``, ``valuesets/<id>.json`` and
``conceptmaps/<id>.json`` with the canonicals ``https://fhir.amparo.cl/CodeSystem/<id>``,
``.../ValueSet/<id>`` and ``.../ConceptMap/<id>``: Spanish (es-CL) in ``display``, English in
a ``designation`` with language ``en``. National code systems are reused, not copied into
our namespace: comunas, provincias and regiones by their CL Core canonicals (CUT codes, from
``data/division-politico-administrativa.csv``), countries by CL Core ``CodPais``
(``data/CodeSystem-CodPais.json``), identifier types by CL Core ``CSTipoIdentificador`` and
``CSCodigoDNI`` and indigenous peoples by the MINSAL EIS list (``data/pueblo-indigena.csv``).
``data/README.md`` says where the data came from; ``README.md`` explains the choices (the
RUN identifier system among them).

Everything is read through ``importlib.resources``, so it works from a wheel as well as from
a checkout; callers get fresh copies and may mutate them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "BASE",
    "COMUNAS_SYSTEM",
    "PROVINCIAS_SYSTEM",
    "REGIONES_SYSTEM",
    "PAISES_SYSTEM",
    "TIPO_IDENTIFICADOR_SYSTEM",
    "CODIGO_DNI_SYSTEM",
    "PUEBLOS_SYSTEM",
    "RUN_SYSTEM",
    "FUENTE",
    "Comuna",
    "code_system",
    "code_system_names",
    "concepts",
    "value_set",
    "value_set_ids",
    "concept_map",
    "concept_map_ids",
    "comunas",
    "countries",
    "pueblos",
    "clcore_code_system",
]

BASE = "https://fhir.amparo.cl"
_CLCORE = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/"
COMUNAS_SYSTEM = _CLCORE + "CSCodComunasCL"
PROVINCIAS_SYSTEM = _CLCORE + "CSCodProvinciasCL"
REGIONES_SYSTEM = _CLCORE + "CSCodRegionCL"
PAISES_SYSTEM = _CLCORE + "CodPais"
TIPO_IDENTIFICADOR_SYSTEM = _CLCORE + "CSTipoIdentificador"
CODIGO_DNI_SYSTEM = _CLCORE + "CSCodigoDNI"
#: MINSAL EIS "Pueblos Indígenas u Originarios" (the id of the EIS 0.2.0 build; README.md).
PUEBLOS_SYSTEM = (
    "https://interoperabilidad.minsal.cl/fhir/ig/eis/CodeSystem/eis-PueblosIndigenasOriginarios-CS"
)
#: Identifier.system of the Chilean RUN (CL Core 2.0 fixes none; README.md says why this one).
RUN_SYSTEM = "http://regcivil.cl/Validacion/RUN"
#: Prefix of the code systems of the institutions' own fields: FUENTE + "<source>/<field>".
FUENTE = BASE + "/fuente/"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


@dataclass(frozen=True)
class Comuna:
    """A comuna with its CUT code and the provincia and región it belongs to."""

    code: str
    display: str
    provincia_code: str
    provincia: str
    region_code: str
    region: str


def _read_text(*parts: str) -> str:
    return resources.files(__name__).joinpath(*parts).read_text(encoding="utf-8")


@cache
def _resource(folder: str, id: str) -> dict[str, Any]:
    if not _ID.fullmatch(id):  # never a path: "../x" is no id
        raise FileNotFoundError(f"{folder}/{id}.json: not a FHIR id")
    return json.loads(_read_text(folder, f"{id}.json"))


def _ids(folder: str) -> list[str]:
    entries = resources.files(__name__).joinpath(folder).iterdir()
    return sorted(p.name[: -len(".json")] for p in entries if p.name.endswith(".json"))


def code_system(name: str) -> dict[str, Any]:
    """Return our CodeSystem ``name`` (its id, e.g. ``"formas-violencia"``) as a fresh dict.

    Raises ``FileNotFoundError`` for an unknown name, so a typo fails loudly.
    """
    return copy.deepcopy(_resource("codesystems", name))


def code_system_names() -> list[str]:
    """Return the ids of all our CodeSystems, sorted."""
    return _ids("codesystems")


def value_set(id: str) -> dict[str, Any]:
    """Return our ValueSet ``id`` (e.g. ``"comuna"``) as a fresh dict.

    Raises ``FileNotFoundError`` for an unknown id.
    """
    return copy.deepcopy(_resource("valuesets", id))


def value_set_ids() -> list[str]:
    """Return the ids of all our ValueSets, sorted."""
    return _ids("valuesets")


def concept_map(id: str) -> dict[str, Any]:
    """Return our ConceptMap ``id`` (e.g. ``"fono-1455-tipos-violencia"``) as a fresh dict.

    Raises ``FileNotFoundError`` for an unknown id.
    """
    return copy.deepcopy(_resource("conceptmaps", id))


def concept_map_ids() -> list[str]:
    """Return the ids of all our ConceptMaps, sorted."""
    return _ids("conceptmaps")


def concepts(name: str) -> dict[str, dict[str, Any]]:
    """Return every concept of CodeSystem ``name`` by code, nested concepts flattened.

    Each value is the concept dict plus ``parent`` (the code of the enclosing concept or
    None), because hierarchical systems (``relacion-agresor``) are read both by leaf and by
    group.
    """
    found: dict[str, dict[str, Any]] = {}

    def walk(items: list[dict[str, Any]], parent: str | None) -> None:
        for item in items:
            found[item["code"]] = {**item, "parent": parent}
            walk(item.get("concept", []), item["code"])

    walk(code_system(name)["concept"], None)
    return found


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _comuna_display(clcore: str, eis: str) -> str:
    # CL Core has typos ("Estacin Central", "ÑuÑoa"); EIS drops some accents ("Los Alamos").
    if _strip_accents(clcore) == _strip_accents(eis):
        return max((eis, clcore), key=lambda s: sum(not c.isascii() for c in s))
    return eis


@cache
def _comunas() -> tuple[Comuna, ...]:
    rows = csv.DictReader(io.StringIO(_read_text("data", "division-politico-administrativa.csv")))
    return tuple(
        Comuna(
            code=r["cut_comuna"],
            display=_comuna_display(r["comuna"], r["eis_comuna_display"]),
            provincia_code=r["cut_provincia"],
            provincia=r["provincia"],
            region_code=r["cut_region"],
            region=r["region"],
        )
        for r in rows
    )


def comunas() -> list[Comuna]:
    """Return the 346 comunas in CUT order (codes of CL Core ``CSCodComunasCL``)."""
    return list(_comunas())


@cache
def _countries() -> dict[str, str]:
    data = json.loads(_read_text("data", "CodeSystem-CodPais.json"))
    return {c["code"]: c["display"] for c in data["concept"]}


def countries() -> dict[str, str]:
    """Return CL Core ``CodPais`` as ISO 3166-1 numeric code -> English display."""
    return dict(_countries())


@cache
def _pueblos() -> dict[str, str]:
    rows = csv.DictReader(io.StringIO(_read_text("data", "pueblo-indigena.csv")))
    return {r["code"]: r["display"] for r in rows}


def pueblos() -> dict[str, str]:
    """Return the MINSAL EIS indigenous peoples (``PUEBLOS_SYSTEM``) as code -> display."""
    return dict(_pueblos())


def clcore_code_system(id: str) -> dict[str, Any]:
    """Return a CL Core CodeSystem carried verbatim in ``data/`` (``"CodPais"``,
    ``"CSTipoIdentificador"``, ``"CSCodigoDNI"``) as a fresh dict.

    Raises ``FileNotFoundError`` for one that is not carried.
    """
    return copy.deepcopy(_resource("data", f"CodeSystem-{id}"))
