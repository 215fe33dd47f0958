"""Every terminology resource the package holds, found by canonical URL or by id.

The registry is what the terminology operations (``terminology.operations``) resolve
against: our CodeSystems, ValueSets and ConceptMaps (the JSON files of ``codesystems/``,
``valuesets/`` and ``conceptmaps/``, discovered by folder, so a file added there is served
without code changes; a folder that does not exist is simply empty), plus the national
code systems, as CodeSystem resources: comunas, provincias and regiones built from
``terminology.comunas()`` under their CL Core canonicals (CUT codes, with ``provincia``/
``region`` properties so that value sets can filter on them), the indigenous peoples of
the MINSAL EIS list built from ``terminology.pueblos()``, and the CL Core CodeSystems
carried verbatim in ``data/`` (countries ``CodPais``, ``CSTipoIdentificador``,
``CSCodigoDNI``).

Everything is loaded once (cached); the public functions return deep copies that callers
may mutate. ``concepts_of`` gives the operations a read-only index of one CodeSystem.

Errors: ``TerminologyError(status, code, message)`` is the one failure type of the
package. ``status`` is the HTTP status a server should answer with (404 for an unknown
resource or code, 400 for a request that cannot be answered), ``code`` an
OperationOutcome issue type (http://hl7.org/fhir/R4B/valueset-issue-type.html).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import terminology
from terminology import COMUNAS_SYSTEM, PROVINCIAS_SYSTEM, PUEBLOS_SYSTEM, REGIONES_SYSTEM

__all__ = ["TYPES", "TerminologyError", "Concept", "CodeSystemIndex", "find", "get",
           "ids", "all_of", "concepts_of", "index_resource", "split_canonical"]

#: Resource type -> folder of the package that holds its JSON files.
TYPES = MappingProxyType({"CodeSystem": "codesystems", "ValueSet": "valuesets",
                          "ConceptMap": "conceptmaps"})
_CLCORE_VERSION = "1.8.7"


class TerminologyError(Exception):
    """A terminology request that cannot be answered: HTTP ``status``, issue ``code``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def split_canonical(canonical: str) -> tuple[str, str | None]:
    """``url|version`` -> (url, version); a canonical without ``|`` has no version."""
    url, bar, version = canonical.partition("|")
    return url, (version or None) if bar else None


# --- lookup -------------------------------------------------------------------------------

def find(type: str, canonical: str, version: str | None = None) -> dict[str, Any] | None:
    """A copy of the ``type`` resource with this canonical (``url`` or ``url|version``), or
    None. Without a version, the highest one held."""
    found = _find(type, canonical, version)
    return copy.deepcopy(found) if found is not None else None


def get(type: str, id: str) -> dict[str, Any] | None:
    """A copy of the ``type`` resource with this id, or None."""
    found = _registry().by_id.get((type, id))
    return copy.deepcopy(found) if found is not None else None


def ids(type: str) -> list[str]:
    """The ids of every ``type`` resource held, sorted."""
    return sorted(id for t, id in _registry().by_id if t == type)


def all_of(type: str) -> Iterator[dict[str, Any]]:
    """A copy of every ``type`` resource held, in id order."""
    for id in ids(type):
        yield copy.deepcopy(_registry().by_id[(type, id)])


def _find(type: str, canonical: str, version: str | None = None) -> dict[str, Any] | None:
    """The shared (never to be mutated) resource behind ``find``."""
    url, pinned = split_canonical(canonical)
    versions = _registry().by_url.get((type, url))
    if not versions:
        return None
    wanted = version or pinned
    if wanted is None:
        return versions[max(versions, key=_version_key)]
    return versions.get(wanted)


def _version_key(version: str) -> tuple:
    """Orders ``0.10.0`` after ``0.9.0``; non-numeric parts compare as text."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in version.split("."))


# --- the concepts of one CodeSystem -------------------------------------------------------

@dataclass(frozen=True)
class Concept:
    """One concept of a CodeSystem, with where it sits in the hierarchy."""

    code: str
    display: str | None
    definition: str | None
    designations: tuple[dict[str, Any], ...]
    properties: tuple[dict[str, Any], ...]
    parent: str | None
    children: tuple[str, ...]

    @property
    def abstract(self) -> bool:
        return any(p.get("code") == "notSelectable" and p.get("valueBoolean") is True
                   for p in self.properties)

    @property
    def inactive(self) -> bool:
        return any(p.get("code") in ("status", "inactive") and (
            p.get("valueCode") in ("retired", "inactive") or p.get("valueBoolean") is True)
            for p in self.properties)


@dataclass(frozen=True)
class CodeSystemIndex:
    """A CodeSystem's header and its concepts by code (nested concepts flattened, in
    document order)."""

    resource: dict[str, Any] = field(repr=False)
    concepts: MappingProxyType

    @property
    def url(self) -> str:
        return self.resource["url"]

    @property
    def version(self) -> str | None:
        return self.resource.get("version")

    @property
    def case_sensitive(self) -> bool:
        return self.resource.get("caseSensitive", True) is not False

    def get(self, code: str) -> Concept | None:
        found = self.concepts.get(code)
        if found is None and not self.case_sensitive:
            folded = code.casefold()
            found = next((c for k, c in self.concepts.items() if k.casefold() == folded), None)
        return found

    def descendants(self, code: str) -> list[str]:
        """Every code below ``code`` (children, their children...), not ``code`` itself."""
        out: list[str] = []
        stack = list(reversed(self.concepts[code].children)) if code in self.concepts else []
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.concepts[current].children))
        return out


def concepts_of(url: str, version: str | None = None) -> CodeSystemIndex | None:
    """The concept index of the CodeSystem ``url`` (``|version`` allowed), or None."""
    resource = _find("CodeSystem", url, version)
    if resource is None:
        return None
    return _index(resource["url"], resource.get("version"))


@cache
def _index(url: str, version: str | None) -> CodeSystemIndex:
    resource = _find("CodeSystem", url, version)
    assert resource is not None
    return index_resource(resource)


def index_resource(resource: dict[str, Any]) -> CodeSystemIndex:
    """The concept index of a CodeSystem resource given by the caller (not cached)."""
    if not isinstance(resource.get("url"), str):
        raise TerminologyError(400, "invalid", "the CodeSystem has no url")
    found: dict[str, Concept] = {}

    def walk(items: list[dict[str, Any]], parent: str | None) -> None:
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                raise TerminologyError(400, "invalid", "a CodeSystem concept has no code")
            found[item["code"]] = Concept(
                code=item["code"], display=item.get("display"),
                definition=item.get("definition"),
                designations=tuple(item.get("designation", [])),
                properties=tuple(item.get("property", [])), parent=parent,
                children=tuple(c["code"] for c in item.get("concept", [])))
            walk(item.get("concept", []), item["code"])

    walk(resource.get("concept", []), None)
    return CodeSystemIndex(resource, MappingProxyType(found))


# --- loading ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Registry:
    by_id: dict[tuple[str, str], dict[str, Any]]
    by_url: dict[tuple[str, str], dict[str, dict[str, Any]]]  # version ("" if none) -> res


@cache
def _registry() -> _Registry:
    by_id: dict[tuple[str, str], dict[str, Any]] = {}
    by_url: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    held = [(type, r) for type in TYPES for r in _folder(type)]
    held += [("CodeSystem", r) for r in _national_code_systems()]
    held += [("ValueSet", r) for r in _external_value_sets()]
    for type, resource in held:
        by_id.setdefault((type, resource["id"]), resource)
        if "url" in resource:
            versions = by_url.setdefault((type, resource["url"]), {})
            versions.setdefault(resource.get("version", ""), resource)
    return _Registry(by_id, by_url)


def _folder(type: str) -> list[dict[str, Any]]:
    """The resources of ``type`` in its folder; none when the folder does not exist."""
    folder = resources.files(terminology).joinpath(TYPES[type])
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            resource = json.loads(entry.read_text(encoding="utf-8"))
            if isinstance(resource, dict) and resource.get("resourceType") == type:
                resource.setdefault("id", entry.name[: -len(".json")])
                found.append(resource)
    return found


def _external_value_sets() -> list[dict[str, Any]]:
    """Value sets of other publishers that our profiles bind to, copied unchanged into
    ``data/`` as ``ValueSet-<id>.json`` (``data/README.md`` says from where)."""
    folder = resources.files(terminology).joinpath("data")
    return [json.loads(entry.read_text(encoding="utf-8"))
            for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.startswith("ValueSet-") and entry.name.endswith(".json")]


def _national_code_systems() -> list[dict[str, Any]]:
    comunas = terminology.comunas()
    provincias = {c.provincia_code: c for c in comunas}
    regiones = {c.region_code: c for c in comunas}
    return [
        _clcore("CSCodComunasCL", COMUNAS_SYSTEM, "Códigos de Comunas en Chile",
                [_property("provincia", "Código CUT de la provincia de la comuna"),
                 _property("region", "Código CUT de la región de la comuna")],
                [{"code": c.code, "display": c.display, "property": [
                    {"code": "provincia", "valueCode": c.provincia_code},
                    {"code": "region", "valueCode": c.region_code}]} for c in comunas]),
        _clcore("CSCodProvinciasCL", PROVINCIAS_SYSTEM, "Códigos de Provincias en Chile",
                [_property("region", "Código CUT de la región de la provincia")],
                [{"code": code, "display": c.provincia, "property": [
                    {"code": "region", "valueCode": c.region_code}]}
                 for code, c in sorted(provincias.items())]),
        _clcore("CSCodRegionCL", REGIONES_SYSTEM, "Códigos de Regiones en Chile", [],
                [{"code": code, "display": c.region} for code, c in sorted(regiones.items())]),
        # CodPais has English displays only (ISO 3166-1); the Spanish names are the
        # ``nacionalidad`` ValueSet's.
        _verbatim("CodPais"), _verbatim("CSTipoIdentificador"), _verbatim("CSCodigoDNI"),
        _pueblos(),
    ]


def _property(code: str, description: str) -> dict[str, str]:
    return {"code": code, "description": description, "type": "code"}


def _clcore(id: str, url: str, title: str, properties: list[dict], concepts: list[dict]
            ) -> dict[str, Any]:
    """A CL Core division code system as served here: CL Core's codes and canonical, with
    the displays of ``terminology.comunas()`` and the hierarchy as properties (an addition
    of Amparo's: CL Core's own resources carry neither)."""
    resource = {
        "resourceType": "CodeSystem", "id": id, "language": "es-CL", "url": url,
        "version": _CLCORE_VERSION, "name": id, "title": title, "status": "active",
        "experimental": False, "publisher": "HL7 Chile",
        "description": f"{title} según los Códigos Únicos Territoriales (Decreto exento "
                       "N° 817). Códigos de HL7 Chile CL Core; datos de "
                       "terminology/data/division-politico-administrativa.csv.",
        "caseSensitive": True, "content": "complete", "count": len(concepts),
        "property": properties, "concept": concepts,
    }
    if not properties:
        del resource["property"]
    return resource


def _verbatim(id: str) -> dict[str, Any]:
    """A CL Core CodeSystem carried verbatim in ``data/``, without its narrative."""
    resource = terminology.clcore_code_system(id)
    resource.pop("text", None)
    return resource


def _pueblos() -> dict[str, Any]:
    concepts = [{"code": code, "display": display}
                for code, display in terminology.pueblos().items()]
    return {
        "resourceType": "CodeSystem", "id": PUEBLOS_SYSTEM.rsplit("/", 1)[1],
        "language": "es-CL", "url": PUEBLOS_SYSTEM, "version": "0.2.0",
        "name": "PueblosIndigenasOriginarios", "title": "Pueblos Indígenas u Originarios",
        "status": "active", "experimental": False, "publisher": "MINSAL",
        "description": "Pueblos indígenas u originarios de la guía EIS del MINSAL (DEIS, "
                       "Decreto Exento 231); datos de terminology/data/pueblo-indigena.csv.",
        "caseSensitive": True, "content": "complete", "count": len(concepts),
        "concept": concepts,
    }
