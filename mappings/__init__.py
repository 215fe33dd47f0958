"""Declarative mappings from each institution's export format to FHIR transaction
bundles, and the engine that runs them. A pure library: it never imports ``server``.

- ``<name>.json``: one mapping per source (``fono-1455``...), checked against
  ``mapping.schema.json`` when loaded; ``README.md`` documents the format;
- ``readers.py`` (csv, json, python-hl7), ``values.py`` (conversions, code translation
  through the ConceptMaps of ``terminology``), ``templates.py`` (resources as JSON with
  FHIRPath), ``engine.py`` (outcomes, ids, Provenance);
- ``run.py``: the Chilean RUN.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import jsonschema

from mappings import templates
from mappings.engine import OUTCOMES, Issue, Result, convert
from mappings.readers import Unreadable
from mappings.values import CONVERSIONS

__all__ = ["OUTCOMES", "Issue", "MappingError", "Result", "Unreadable", "convert", "load",
           "names"]


class MappingError(ValueError):
    """A mapping file that breaks the format (the message says where)."""


def names() -> list[str]:
    """The mappings shipped, by name."""
    return sorted(p.name.removesuffix(".json") for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".json") and p.name != "mapping.schema.json")


@cache
def _schema() -> dict:
    return json.loads(resources.files(__name__).joinpath("mapping.schema.json").read_text())


def load(name: str) -> dict:
    """The mapping ``name``, checked (MappingError, or KeyError for an unknown name)."""
    if name not in names():
        raise KeyError(name)
    mapping = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text())
    check(mapping)
    return mapping


def check(mapping: dict) -> None:
    """The schema, then what it cannot say: the key and the outcome rules name fields, and
    every FHIRPath expression compiles."""
    try:
        jsonschema.validate(mapping, _schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        raise MappingError(f"{mapping.get('name', '?')}: {where}: {exc.message}") from None
    fields = mapping["fields"]
    rules = mapping.get("outcome", {})
    for name in [mapping["key"], *rules.get("required", []),
                 *rules.get("notAfterExtraction", [])]:
        if name not in fields:
            raise MappingError(f"{mapping['name']}: field {name!r} is not defined")
    for spec in fields.values():
        if spec.get("type", "text") not in CONVERSIONS:
            raise MappingError(f"{mapping['name']}: unknown type {spec['type']!r}")
    expressions = [rules[k] for k in ("inScope", "identified") if k in rules]
    expressions += [mapping["recordInstitution"]] if "recordInstitution" in mapping else []
    for resource in mapping["resources"]:
        expressions += [v for k, v in resource.items() if k in ("$when",)]
        expressions += _expressions(resource["resource"]) + _expressions(
            resource.get("conditional", ""))
    for expression in expressions:
        try:
            templates.check_syntax(expression.strip())
        except SyntaxError as exc:
            raise MappingError(f"{mapping['name']}: FHIRPath {expression!r}: {exc}") from None


def _expressions(template: object) -> list[str]:
    if isinstance(template, str):
        return [m.group(1) for m in templates.EXPRESSION.finditer(template)]
    if isinstance(template, list):
        return [e for item in template for e in _expressions(item)]
    if isinstance(template, dict):
        found = [template[k] for k in ("$when", "$each") if isinstance(template.get(k), str)]
        return found + [e for k, v in template.items() if k not in ("$when", "$each")
                        for e in _expressions(v)]
    return []
