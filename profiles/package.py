"""Returns Amparo's implementation guide as a FHIR NPM package (``package.tgz``).

See: https://hl7.org/fhir/R4B/packages.html and
https://confluence.hl7.org/display/FHIR/NPM+Package+Specification

Layout (a gzip tar; every entry under ``package/``, none outside it)::

    package/package.json                    name cl.amparo.ig, version, fhirVersions 4.3.0,
                                            dependencies {hl7.fhir.r4b.core: 4.3.0}
    package/.index.json                     index-version 2: per file filename,
                                            resourceType, id, url, version, kind, type,
                                            supplements, content (those the resource has)
    package/ImplementationGuide-cl.amparo.ig.json
    package/StructureDefinition-<id>.json   our 19 profiles and 7 extensions, the CL Core
                                            extensions they use
    package/SearchParameter-<id>.json       our search parameters
    package/OperationDefinition-<id>.json   our operations (those R4B does not define)
    package/SubscriptionTopic-<id>.json     the events partners subscribe to
    package/CodeSystem-<id>.json, ValueSet-<id>.json, ConceptMap-<id>.json
    package/example/.index.json             the same index, for the examples
    package/example/<ResourceType>-<id>.json  the valid example of each profile

What goes in. The package holds what a validator needs to check an instance against our
profiles and has nowhere else to find, given that it loads ``hl7.fhir.r4b.core`` (our only
dependency): everything of ours (canonical under ``https://fhir.amparo.cl``) and the
definitions of other publishers we use that no package we depend on publishes:

- the CL Core extensions our profiles use (``CodigoPaises``, ``ComunasCl``, ``RegionesCl``,
  ``SegundoApellido``, 4.0.1 files copied verbatim) and the national CodeSystems of our
  ValueSets as the terminology registry holds them (CL Core's comunas, provincias,
  regiones, ``CodPais``, ``CSTipoIdentificador``, ``CSCodigoDNI``; MINSAL EIS's indigenous
  peoples). We do not depend on ``hl7.fhir.cl.clcore``: it is an R4 (4.0.1) package whose
  own dependencies pull R4 core, its comunas CodeSystem lacks the ``provincia``/``region``
  properties our value sets filter on, and the EIS list is published in no package at all;
- not the FHIR core extensions (``flag-detail``, ``patient-disability``...) nor HL7's
  ``yesnodontknow`` ValueSet: their canonicals are under ``http://hl7.org/fhir/``, which
  ``hl7.fhir.r4b.core`` publishes. HL7 terminology (``v3-ActReason``, ``v2-0203``) is not
  held here: our ValueSets list the codes they take from it.

Only the valid examples are shipped: a package's examples are instances that conform to
its profiles; the invalid ones of ``profiles/ig/examples`` are test cases.

Resources are written as held (their own business version, texts in es-CL), one per file,
as UTF-8 JSON with two-space indentation. The output is deterministic: entries sorted by
path, fixed mtime, owner and mode, and a gzip header without name or time, so two builds of
the same content are byte-identical (and the server's ETag is stable).
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any, BinaryIO

from profiles import ig
from terminology import registry

__all__ = ["CANONICAL", "DESCRIPTION", "FHIR_VERSION", "PACKAGE_NAME", "TITLE",
           "PackageSummary", "build_package", "implementation_guide", "package_files",
           "project_version"]

PACKAGE_NAME = "cl.amparo.ig"
CANONICAL = "https://fhir.amparo.cl"
FHIR_VERSION = "4.3.0"
DEPENDENCIES = {"hl7.fhir.r4b.core": FHIR_VERSION}
LICENSE = "Apache-2.0"
AUTHOR = "Amparo"
TITLE = ("Guía de implementación Amparo: gestión integrada de casos de violencia contra las "
         "mujeres")
DESCRIPTION = (
    "Perfiles, extensiones, terminología, parámetros de búsqueda, operaciones y ejemplos "
    "FHIR R4B de Amparo, la plataforma de intercambio entre las instituciones que atienden "
    "a mujeres que viven violencia en Chile (Ley 21.675).")
#: Canonicals published by ``hl7.fhir.r4b.core``, so never copied into our package.
_IN_CORE = "http://hl7.org/fhir/"
_INDEXED = ("url", "version", "kind", "type", "supplements", "content")
#: npm's own fixed mtime for reproducible tarballs (1985-10-26T08:15:00Z, ``npm pack``).
_MTIME = 499162500
_CHARTER = {"StructureDefinition": "perfiles", "SearchParameter": "busqueda",
            "OperationDefinition": "operaciones", "SubscriptionTopic": "suscripciones",
            "Measure": "indicadores",
            "CodeSystem": "terminologia",
            "ValueSet": "terminologia", "ConceptMap": "terminologia"}

Resource = dict[str, Any]


@dataclass(frozen=True)
class PackageSummary:
    """What ``build_package`` wrote: resources by type (examples apart), bytes."""

    name: str
    version: str
    resources: dict[str, int]
    examples: int
    size: int


def project_version() -> str:
    """The installed ``amparo`` distribution's version, else our profiles' version."""
    try:
        return installed_version("amparo")
    except PackageNotFoundError:  # a checkout on sys.path, not installed
        return ig.structure_definitions()[0]["version"]


def build_package(out: Path | BinaryIO, version: str | None = None) -> PackageSummary:
    """Writes the package to ``out`` (a path, or a binary stream) and returns its summary.
    ``version`` defaults to the project's (``project_version()``)."""
    files = package_files(version)
    data = _tarball(files)
    if isinstance(out, (str, Path)):
        Path(out).write_bytes(data)
    else:
        out.write(data)
    resources = Counter(json.loads(body)["resourceType"] for path, body in files
                        if _is_resource(path) and not path.startswith("package/example/"))
    examples = sum(1 for path, _ in files
                   if path.startswith("package/example/") and _is_resource(path))
    manifest = json.loads(dict(files)["package/package.json"])
    return PackageSummary(manifest["name"], manifest["version"], dict(sorted(resources.items())),
                          examples, len(data))


def package_files(version: str | None = None) -> list[tuple[str, bytes]]:
    """Every file of the package as (path in the tarball, content), sorted by path."""
    version = version or project_version()
    resources = _resources(version)
    examples = [r for _, r, valid in ig.examples() if valid]
    files = {"package/package.json": _json(_manifest(version, resources))}
    for folder, held in (("package/", resources), ("package/example/", examples)):
        named = {f"{r['resourceType']}-{r['id']}.json": r for r in held}
        if len(named) != len(held):
            raise ValueError(f"two resources of {folder} share a type and id")
        files[folder + ".index.json"] = _json(_index(named))
        files.update((folder + name, _json(r)) for name, r in named.items())
    return sorted(files.items())


def implementation_guide(version: str | None = None) -> Resource:
    """The ImplementationGuide resource of the package (``ImplementationGuide/cl.amparo.ig``)."""
    version = version or project_version()
    return _implementation_guide(version, _conformance())


# --- content ------------------------------------------------------------------------------

def _conformance() -> list[Resource]:
    """Ours and the external definitions no dependency publishes (module docstring)."""
    definitions = [*ig.structure_definitions(),
                   *(d for d in ig.external_definitions() if not d["url"].startswith(_IN_CORE))]
    terminology = [r for type in registry.TYPES for r in registry.all_of(type)
                   if not r.get("url", "").startswith(_IN_CORE)]
    return [*definitions, *ig.search_parameters(), *ig.operation_definitions(),
            *ig.subscription_topics(), *ig.measures(), *terminology]


def _resources(version: str) -> list[Resource]:
    conformance = _conformance()
    return [_implementation_guide(version, conformance), *conformance]


def _implementation_guide(version: str, conformance: list[Resource]) -> Resource:
    """https://hl7.org/fhir/R4B/implementationguide.html: what the package holds, grouped;
    each example names the profile it illustrates (``exampleCanonical``)."""
    groupings = [
        ("perfiles", "Perfiles y extensiones",
         "Los perfiles de Amparo, sus extensiones y las extensiones de CL Core que usan."),
        ("busqueda", "Parámetros de búsqueda", "Búsquedas que R4B no define."),
        ("operaciones", "Operaciones", "Operaciones del servidor que R4B no define."),
        ("suscripciones", "Tópicos de suscripción",
         "Los eventos a los que las instituciones se suscriben (Subscriptions Backport)."),
        ("indicadores", "Indicadores",
         "Los indicadores agregados que la plataforma publica ($evaluate-measure)."),
        ("terminologia", "Terminología",
         "Sistemas de códigos, conjuntos de valores y mapas de conceptos de Amparo, y los "
         "sistemas de códigos nacionales (CL Core, MINSAL) que usan."),
        ("ejemplos", "Ejemplos", "Una instancia válida de cada perfil."),
    ]
    entries = [_entry(r, _CHARTER[r["resourceType"]], {"exampleBoolean": False})
               for r in conformance]
    entries += [_entry(r, "ejemplos", {"exampleCanonical": r["meta"]["profile"][0]})
                for _, r, valid in ig.examples() if valid]
    dates = [d["date"] for d in ig.structure_definitions() if d.get("date")]
    return {
        "resourceType": "ImplementationGuide",
        "id": PACKAGE_NAME,
        "language": "es-CL",
        "url": f"{CANONICAL}/ImplementationGuide/{PACKAGE_NAME}",
        "version": version,
        "name": "Amparo",
        "title": TITLE,
        "status": "active",
        "experimental": False,
        **({"date": max(dates)} if dates else {}),
        "publisher": AUTHOR,
        "description": DESCRIPTION,
        "jurisdiction": [{"coding": [{"system": "urn:iso:std:iso:3166", "code": "CL",
                                      "display": "Chile"}]}],
        "packageId": PACKAGE_NAME,
        "license": LICENSE,
        "fhirVersion": [FHIR_VERSION],
        "definition": {
            "grouping": [{"id": id, "name": name, "description": text}
                         for id, name, text in groupings],
            "resource": entries,
        },
    }


def _entry(resource: Resource, grouping: str, example: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "reference": {"reference": f"{resource['resourceType']}/{resource['id']}"}}
    name = resource.get("title") or resource.get("name")
    if isinstance(name, str):
        entry["name"] = name
    if isinstance(resource.get("description"), str):
        entry["description"] = resource["description"]
    return {**entry, **example, "groupingId": grouping}


def _manifest(version: str, resources: list[Resource]) -> dict[str, Any]:
    guide = resources[0]
    date = guide.get("date", "").replace("-", "")
    return {
        "name": PACKAGE_NAME,
        "version": version,
        "tools-version": 3,
        "type": "IG",
        **({"date": f"{date}000000"} if date else {}),
        "license": LICENSE,
        "canonical": CANONICAL,
        "url": CANONICAL,
        "title": TITLE,
        "description": DESCRIPTION,
        "fhirVersions": [FHIR_VERSION],
        "dependencies": dict(DEPENDENCIES),
        "author": AUTHOR,
        "jurisdiction": "urn:iso:std:iso:3166#CL",
        "directories": {"lib": "package", "example": "example"},
    }


def _index(named: dict[str, Resource]) -> dict[str, Any]:
    files = []
    for filename, resource in sorted(named.items()):
        entry = {"filename": filename, "resourceType": resource["resourceType"],
                 "id": resource["id"]}
        entry.update((key, resource[key]) for key in _INDEXED
                     if isinstance(resource.get(key), str))
        files.append(entry)
    return {"index-version": 2, "files": files}


# --- bytes --------------------------------------------------------------------------------

def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _is_resource(path: str) -> bool:
    name = path.rsplit("/", 1)[1]
    return name.endswith(".json") and not name.startswith(".") and name != "package.json"


def _tarball(files: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, body in files:
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(body), _MTIME, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(body))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()
