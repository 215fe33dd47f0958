"""Returns the implementation guide as readable Markdown pages (``amparo ig docs``).

``render_pages()`` gives file name -> Markdown; ``write_docs(out)`` writes them:

- ``index.md``: the package, then tables of profiles, our extensions, the extensions of
  other guides we use, value sets, code systems and search parameters, with links;
- ``<id>.md`` per StructureDefinition of ours (profiles and extensions): title,
  description, canonical and base, the element table of the differential (cardinality and
  type completed from the snapshot, must-support, binding, fixed/pattern value, slicing),
  the invariants, the extensions used (or, for an extension, the profiles using it) and
  the profile's valid example;
- ``terminologia.md``: each value set with its codes (a short one) or its size, and the
  code systems.

Pages show users content, so they are in Spanish (es-CL), like the resources' titles and
descriptions. The output is deterministic (no dates), so it can be committed and checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from profiles import ig
from profiles.package import CANONICAL, FHIR_VERSION, PACKAGE_NAME, TITLE, project_version
from terminology import registry
from terminology.expansion import members
from terminology.registry import TerminologyError

__all__ = ["render_pages", "write_docs"]

Resource = dict[str, Any]
_CORE = "http://hl7.org/fhir/StructureDefinition/"
_SPEC = "https://hl7.org/fhir/R4B/"
_MAX_CODES = 60
#: A sentence ends at a period followed by a capital (not "p. ej.", not "art. 6").
_SENTENCE_END = re.compile(r"\.\s+(?=[A-ZÁÉÍÓÚÑ¿¡])")
_FHIR_TYPE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_SEVERITY = {"error": "error", "warning": "advertencia"}
_RULES = {"open": "abierta", "closed": "cerrada", "openAtEnd": "abierta al final"}
_NOTICE = ("> Generado por `amparo ig docs` desde `profiles/ig` y `terminology`; no editar "
           "a mano.\n")


def write_docs(out: Path) -> list[Path]:
    """Writes every page into ``out`` (created if missing); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_pages().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def render_pages() -> dict[str, str]:
    """File name -> Markdown text of every page, index first."""
    ours = ig.structure_definitions()
    pages = {"index.md": _index(ours), "terminologia.md": _terminology()}
    for definition in ours:
        pages[f"{definition['id']}.md"] = _definition_page(definition, ours)
    return pages


# --- index --------------------------------------------------------------------------------

def _index(ours: list[Resource]) -> str:
    profiles = [d for d in ours if d["type"] != "Extension"]
    extensions = [d for d in ours if d["type"] == "Extension"]
    value_sets = [v for v in registry.all_of("ValueSet") if _is_ours(v)]
    code_systems = list(registry.all_of("CodeSystem"))
    parameters = ig.search_parameters()
    lines = [f"# {TITLE}", "", _NOTICE,
             "Perfiles, extensiones, terminología y parámetros de búsqueda FHIR R4B "
             f"({FHIR_VERSION}) de Amparo. URL canónica: `{CANONICAL}`.", "",
             f"Paquete FHIR `{PACKAGE_NAME}` versión {project_version()}: lo escribe "
             "`amparo ig package` y el servidor lo publica en `GET [base]/ig/package.tgz` "
             "(por ejemplo, `java -jar validator_cli.jar -version 4.3.0 -ig "
             "package.tgz recurso.json`).", ""]
    lines += [f"## Perfiles ({len(profiles)})", "", *_table(
        ["Perfil", "Recurso", "Descripción"],
        ([f"[{d['title']}]({d['id']}.md) (`{d['id']}`)", _base_link(d["type"]),
          _sentence(d.get("description"))] for d in profiles))]
    lines += [f"## Extensiones ({len(extensions)})", "", *_table(
        ["Extensión", "Contexto", "Valor", "Descripción"],
        ([f"[{d['title']}]({d['id']}.md) (`{d['id']}`)", _contexts(d), _value_types(d),
          _sentence(d.get("description"))] for d in extensions))]
    external = ig.external_definitions()
    lines += [f"## Extensiones de otras guías ({len(external)})", "", *_table(
        ["Extensión", "Publicada por", "URL canónica"],
        ([d.get("title") or d["name"], d.get("publisher", ""), f"`{d['url']}`"]
         for d in external))]
    lines += [f"## Conjuntos de valores ({len(value_sets)})", "", *_table(
        ["Conjunto de valores", "Descripción"],
        ([f"[{v.get('title') or v['name']}](terminologia.md#{v['id']}) (`{v['id']}`)",
          _sentence(v.get("description"))] for v in value_sets))]
    lines += [f"## Sistemas de códigos ({len(code_systems)})", "", *_table(
        ["Sistema de códigos", "Publicado por", "Códigos"],
        ([f"[{c.get('title') or c['name']}](terminologia.md#cs-{c['id']}) (`{c['id']}`)",
          c.get("publisher", ""), str(_count(c))] for c in code_systems))]
    lines += [f"## Parámetros de búsqueda ({len(parameters)})", "", *_table(
        ["Código", "Recursos", "Tipo", "Expresión", "Descripción"],
        ([f"`{p['code']}`", ", ".join(p["base"]), p["type"], _code(p.get("expression", "")),
          _prose(p.get("description"))] for p in parameters))]
    topics = ig.subscription_topics()
    lines += [f"## Tópicos de suscripción ({len(topics)})", "",
              "Suscripciones por tópico del Subscriptions R5 Backport IG: `Subscription."
              "criteria` es la URL del tópico; los filtros, sus `canFilterBy`.", "",
              *_table(
                  ["Tópico", "Recurso", "Filtros", "Descripción"],
                  ([f"{t['title']} (`{t['url']}`)",
                    ", ".join(r["resource"] for r in t.get("resourceTrigger", [])),
                    ", ".join(f"`{f['filterParameter']}`" for f in t.get("canFilterBy", [])),
                    _sentence(t.get("description"))] for t in topics))]
    measures = ig.measures()
    lines += [f"## Indicadores ({len(measures)})", "",
              "Measures que `Measure/[id]/$evaluate-measure` y `amparo report` evalúan; "
              "cada uno explica en su `guidance` el consentimiento y la protección de "
              "celdas pequeñas.", "",
              *_table(["Indicador", "Puntuación", "Estratificadores", "Descripción"],
                      ([f"{m['title']} (`{m['id']}`)", m["scoring"]["coding"][0]["code"],
                        ", ".join(dict.fromkeys(f"`{s['code']['coding'][0]['code']}`"
                                                for g in m["group"]
                                                for s in g.get("stratifier", []))),
                        _sentence(m.get("description"))] for m in measures))]
    return _text(lines)


# --- one StructureDefinition --------------------------------------------------------------

def _definition_page(definition: Resource, ours: list[Resource]) -> str:
    is_extension = definition["type"] == "Extension"
    lines = [f"# {definition['title']} (`{definition['id']}`)", "", _NOTICE,
             _prose(definition.get("description")), ""]
    facts = [["URL canónica", f"`{definition['url']}`"],
             ["Versión", f"{definition.get('version', '')} ({definition.get('status', '')})"]]
    if is_extension:
        facts += [["Contexto", _contexts(definition)], ["Valor", _value_types(definition)]]
    else:
        facts.append(["Recurso base", _base_link(definition["type"])])
    lines += _table(["Dato", "Valor"], facts)
    if definition.get("purpose"):
        lines += [f"**Propósito.** {_prose(definition['purpose'])}", ""]
    snapshot = {e["id"]: e for e in definition.get("snapshot", {}).get("element", [])}
    differential = definition["differential"]["element"]
    lines += ["## Elementos", "",
              "Los elementos que el perfil restringe (su diferencial); MS = debe soportarse "
              "(*must support*).", "", *_table(
                  ["Elemento", "Card.", "Tipo", "MS", "Vinculación", "Valor fijo o patrón",
                   "Descripción"],
                  (_element_row(e, snapshot.get(e["id"], {})) for e in differential))]
    lines += _invariants(differential)
    if is_extension:
        users = [d for d in ours if definition["url"] in _extension_urls(d)]
        lines += ["## Perfiles que la usan", ""]
        lines += [f"- [{d['title']}]({d['id']}.md)" for d in users] or ["Ninguno."]
        lines.append("")
    else:
        lines += _extensions_used(differential)
    lines += _example(definition["url"])
    return _text(lines)


def _element_row(element: Resource, base: Resource) -> list[str]:
    low = element.get("min", base.get("min"))
    high = element.get("max", base.get("max"))
    cardinality = f"{low}..{high}" if low is not None and high is not None else ""
    fixed = [f"{'fijo' if key.startswith('fixed') else 'patrón'}: {_code(_value(value))}"
             for key, value in element.items() if key.startswith(("fixed", "pattern"))]
    notes = [_prose(element.get("short"))]
    slicing = element.get("slicing")
    if slicing:
        by = ", ".join(f"{d['type']} `{d['path']}`" for d in slicing.get("discriminator", []))
        notes.append(f"Segmentado por {by} ({_RULES.get(slicing.get('rules'), '')})")
    types = "" if high == "0" else _types(element.get("type") or base.get("type", []))
    return [_code(element["id"]), cardinality, types,
            "S" if element.get("mustSupport") else "", _binding(element.get("binding")),
            "<br>".join(fixed), ". ".join(n for n in notes if n)]


def _invariants(elements: list[Resource]) -> list[str]:
    rows = [[f"`{c['key']}`", _SEVERITY.get(c.get("severity"), c.get("severity", "")),
             _code(e["id"]), _prose(c.get("human")), _code(c.get("expression", ""))]
            for e in elements for c in e.get("constraint", [])]
    if not rows:
        return []
    return ["## Invariantes", "", *_table(
        ["Clave", "Gravedad", "Elemento", "Regla", "Expresión FHIRPath"], rows)]


def _extensions_used(elements: list[Resource]) -> list[str]:
    rows = []
    for element in elements:
        for type in element.get("type", []):
            if type.get("code") == "Extension":
                rows += [[_code(element["id"]), _profile_link(url), f"`{url}`"]
                         for url in type.get("profile", [])]
    if not rows:
        return []
    return ["## Extensiones que usa", "", *_table(["Elemento", "Extensión", "URL canónica"],
                                                  rows)]


def _example(url: str) -> list[str]:
    found = [(name, r) for name, r, valid in ig.examples()
             if valid and url in r.get("meta", {}).get("profile", [])]
    if not found:
        return []
    lines = ["## Ejemplo", ""]
    for name, resource in found:
        lines += [f"`{name}` ({resource['resourceType']}/{resource['id']}):", "", "```json",
                  json.dumps(resource, ensure_ascii=False, indent=2), "```", ""]
    return lines


# --- terminology --------------------------------------------------------------------------

def _terminology() -> str:
    lines = ["# Terminología", "", _NOTICE, "[Volver al índice](index.md)", "",
             "## Conjuntos de valores", ""]
    for value_set in registry.all_of("ValueSet"):
        if not _is_ours(value_set):
            continue
        lines += [f'<a id="{value_set["id"]}"></a>', "",
                  f"### {value_set.get('title') or value_set['name']} (`{value_set['id']}`)",
                  "", f"URL canónica: `{value_set['url']}`", "",
                  _prose(value_set.get("description")), ""]
        lines += _codes(value_set)
    lines += ["## Sistemas de códigos", ""]
    for code_system in registry.all_of("CodeSystem"):
        lines += [f'<a id="cs-{code_system["id"]}"></a>', "",
                  f"### {code_system.get('title') or code_system['name']} "
                  f"(`{code_system['id']}`)", "",
                  f"URL canónica: `{code_system['url']}` · versión "
                  f"{code_system.get('version', '')} · {code_system.get('publisher', '')} · "
                  f"{_count(code_system)} códigos", "", _prose(code_system.get("description")), ""]
    return _text(lines)


def _codes(value_set: Resource) -> list[str]:
    try:
        found = list(members(value_set).values())
    except TerminologyError as error:
        return [f"No se puede expandir aquí: {error.message}", ""]
    if len(found) > _MAX_CODES:
        return [f"{len(found)} códigos: se obtienen con `ValueSet/{value_set['id']}/$expand`.",
                ""]
    systems = sorted({m.system for m in found})
    if len(systems) == 1:
        return [f"Sistema de códigos: `{systems[0]}`", "", *_table(
            ["Código", "Descripción"], ([f"`{m.code}`", _prose(m.display)] for m in found))]
    return _table(["Código", "Descripción", "Sistema"],
                  ([f"`{m.code}`", _prose(m.display), f"`{m.system}`"] for m in found))


# --- formatting ---------------------------------------------------------------------------

def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(_cell(c) for c in cells) + " |"
    return [line(header), "|" + "|".join("---" for _ in header) + "|",
            *(line(row) for row in rows), ""]


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: str) -> str:
    if not text:
        return ""
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _text(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"


def _sentence(text: str | None) -> str:
    """The first sentence of a description (the whole of it is on the page)."""
    text = " ".join((text or "").split())
    end = _SENTENCE_END.search(text)
    return _prose(text[:end.start() + 1] if end else text)


def _prose(text: str | None) -> str:
    """Text as Markdown prose: ``<id>`` in a description is no HTML tag to drop."""
    return (text or "").replace("<", "&lt;")


def _types(types: list[Resource]) -> str:
    out = []
    for type in types:
        targets = type.get("targetProfile") or type.get("profile") or []
        names = " | ".join(_profile_link(t) for t in targets)
        code = _type_code(type)
        out.append(f"{code}({names})" if names else code)
    return ", ".join(out)


def _type_code(type: Resource) -> str:
    """The FHIR type; a FHIRPath system type (``Extension.url``...) by the FHIR type its
    ``structuredefinition-fhir-type`` extension names."""
    code = type["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        named = [e.get("valueUrl") or e.get("valueUri") for e in type.get("extension", [])
                 if e.get("url") == _FHIR_TYPE]
        return named[0] if named and named[0] else code.rsplit(".", 1)[1].lower()
    return code


def _profile_link(url: str) -> str:
    """Our definitions link to their page; FHIR core ones to the spec; others by name."""
    name = url.rsplit("/", 1)[-1]
    if url.startswith(f"{CANONICAL}/StructureDefinition/"):
        return f"[{name}]({name}.md)"
    if url.startswith(_CORE):
        page = name.lower() if name[:1].isupper() else f"extension-{name.lower()}"
        return f"[{name}]({_SPEC}{page}.html)"
    return name


def _binding(binding: Resource | None) -> str:
    if not binding or "valueSet" not in binding:
        return ""
    url = binding["valueSet"].split("|")[0]
    held = registry.find("ValueSet", url)
    if held is not None and _is_ours(held):
        target = f"[{held.get('title') or held['name']}](terminologia.md#{held['id']})"
    else:
        target = f"`{url}`"
    return f"{binding.get('strength', '')}: {target}"


def _value(value: Any) -> str:
    """A Coding or CodeableConcept as ``system#code``; anything else as compact JSON."""
    if isinstance(value, dict) and isinstance(value.get("coding"), list):
        return ", ".join(_value(c) for c in value["coding"])
    if isinstance(value, dict) and set(value) <= {"system", "code", "display"}:
        return f"{value.get('system', '')}#{value.get('code', '')}".rstrip("#")
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _base_link(type: str) -> str:
    return f"[{type}]({_SPEC}{type.lower()}.html)"


def _contexts(definition: Resource) -> str:
    return ", ".join(f"`{c['expression']}`" for c in definition.get("context", []))


def _value_types(definition: Resource) -> str:
    element = next((e for e in definition["differential"]["element"]
                    if e["id"] == "Extension.value[x]"), {})
    if element.get("max") == "0":
        return "compleja (subextensiones)"
    return _types(element.get("type", []))


def _extension_urls(definition: Resource) -> set[str]:
    return {url for e in definition["differential"]["element"] for t in e.get("type", [])
            if t.get("code") == "Extension" for url in t.get("profile", [])}


def _is_ours(resource: Resource) -> bool:
    return resource.get("url", "").startswith(f"{CANONICAL}/")


def _count(code_system: Resource) -> int:
    def walk(concepts: list[Resource]) -> int:
        return sum(1 + walk(c.get("concept", [])) for c in concepts)
    return code_system.get("count") or walk(code_system.get("concept", []))
