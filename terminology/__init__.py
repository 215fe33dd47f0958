"""Amparo's terminology: our CodeSystems (JSON) and the national reference data they sit beside.

Our own CodeSystems live in ``codesystems/<id>.json`` with the canonical
``https://fhir.amparo.cl/CodeSystem/<id>``: Spanish (es-CL) in ``display``, English in a
``designation`` with language ``en``. National code systems are reused, not copied into our
namespace: comunas, provincias and regiones by their CL Core canonicals (CUT codes, from
``data/division-politico-administrativa.csv``) and countries by CL Core ``CodPais``
(``data/CodeSystem-CodPais.json``). ``data/README.md`` says where the data came from.

Everything is read through ``importlib.resources``, so it works from a wheel as well as from
a checkout; callers get fresh copies and may mutate them.
"""

from __future__ import annotations

import copy
import csv
import io
import json
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
    "Comuna",
    "code_system",
    "code_system_names",
    "concepts",
    "comunas",
    "countries",
]

BASE = "https://fhir.amparo.cl"
_CLCORE = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/"
COMUNAS_SYSTEM = _CLCORE + "CSCodComunasCL"
PROVINCIAS_SYSTEM = _CLCORE + "CSCodProvinciasCL"
REGIONES_SYSTEM = _CLCORE + "CSCodRegionCL"
PAISES_SYSTEM = _CLCORE + "CodPais"


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
def _code_system(name: str) -> dict[str, Any]:
    return json.loads(_read_text("codesystems", f"{name}.json"))


def code_system(name: str) -> dict[str, Any]:
    """Return our CodeSystem ``name`` (its id, e.g. ``"formas-violencia"``) as a fresh dict.

    Raises ``FileNotFoundError`` for an unknown name, so a typo fails loudly.
    """
    return copy.deepcopy(_code_system(name))


def code_system_names() -> list[str]:
    """Return the ids of all our CodeSystems, sorted."""
    folder = resources.files(__name__).joinpath("codesystems")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


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
