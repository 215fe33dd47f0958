"""The SearchParameter registry: which search parameters each resource type has.

Built once from the R4B definitions that ``profiles.r4b`` vendors (HL7's
``search-parameters.json``), with two known errata of that file corrected here rather
than in the vendored copy, so the copy stays verbatim and checkable against its source:

- ``DocumentReference-relationship``: the ``expression`` of its components ``relatesto``
  (a reference, must be ``target``) and ``relation`` (a token, must be ``code``) are
  swapped.
- ``Observation-code-value-date``: ``value.as(DateTime)`` names a type that does not
  exist; FHIRPath type names are case-sensitive and the FHIR type is ``dateTime``.

See https://hl7.org/fhir/R4B/searchparameter-registry.html and
https://hl7.org/fhir/R4B/search.html#standard (parameters for all resources).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from profiles.r4b import element_types, search_parameters

__all__ = ["COMPONENT_TYPES", "SearchParam", "composite_parts", "params_for", "resource_types"]

_ABSTRACT_BASES = frozenset({"Resource", "DomainResource"})
# Parameters for all resources that have no expression: the search layer handles them itself.
_SPECIAL_COMMON = frozenset({"_text", "_content", "_list", "_query", "_has", "_type", "_filter"})
#: Parameter types a component of an indexed composite may have (search.html#composite).
COMPONENT_TYPES = frozenset({"token", "reference", "quantity", "date", "string", "number",
                             "uri"})


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter as the server uses it (a SearchParameter, flattened).

    ``components`` holds ``(definition url, expression)`` pairs of a composite parameter;
    ``multiple_or``/``multiple_and`` are None when the definition does not say (the spec's
    default is to allow both).
    """

    code: str
    type: str
    expression: str | None
    base: tuple[str, ...]
    target: tuple[str, ...]
    url: str
    components: tuple[tuple[str, str], ...] = ()
    modifiers: tuple[str, ...] = ()
    comparators: tuple[str, ...] = ()
    multiple_or: bool | None = None
    multiple_and: bool | None = None


def _swap_relationship_components(resource: dict) -> None:
    by_definition = {c["definition"].rsplit("/", 1)[-1]: c for c in resource["component"]}
    relatesto = by_definition["DocumentReference-relatesto"]
    relation = by_definition["DocumentReference-relation"]
    if relatesto["expression"] == "code" and relation["expression"] == "target":
        relatesto["expression"], relation["expression"] = "target", "code"


def _fix_date_type_name(resource: dict) -> None:
    for component in resource.get("component", []):
        component["expression"] = component["expression"].replace("as(DateTime)", "as(dateTime)")
    if resource.get("expression"):
        resource["expression"] = resource["expression"].replace("as(DateTime)", "as(dateTime)")


_ERRATA = {
    "DocumentReference-relationship": _swap_relationship_components,
    "Observation-code-value-date": _fix_date_type_name,
}


def _from_resource(resource: dict) -> SearchParam:
    return SearchParam(
        code=resource["code"],
        type=resource["type"],
        expression=resource.get("expression"),
        base=tuple(resource["base"]),
        target=tuple(resource.get("target", ())),
        url=resource["url"],
        components=tuple((c["definition"], c["expression"]) for c in resource.get("component", ())),
        modifiers=tuple(resource.get("modifier", ())),
        comparators=tuple(resource.get("comparator", ())),
        multiple_or=resource.get("multipleOr"),
        multiple_and=resource.get("multipleAnd"),
    )


@cache
def _all_params() -> tuple[SearchParam, ...]:
    params = []
    for resource in search_parameters():
        fix = _ERRATA.get(resource["id"])
        if fix is not None:
            resource = copy.deepcopy(resource)
            fix(resource)
        params.append(_from_resource(resource))
    return tuple(params)


@cache
def resource_types() -> frozenset[str]:
    """Every concrete R4B resource type: each has at least the parameters for all resources."""
    types = element_types()

    def is_resource(name: str) -> bool:
        while name and name not in _ABSTRACT_BASES:
            bases = types.get(name)
            if not bases:
                return False
            name = bases[0]
        return bool(name)

    return frozenset(
        name for name in types if "." not in name and name not in _ABSTRACT_BASES
        and is_resource(name)
    )


@cache
def _common_params(domain: bool) -> tuple[SearchParam, ...]:
    bases = {"Resource", "DomainResource"} if domain else {"Resource"}
    return tuple(
        p for p in _all_params()
        if bases.intersection(p.base) and p.code not in _SPECIAL_COMMON and p.expression
    )


@cache
def params_for(resource_type: str) -> Mapping[str, SearchParam]:
    """The search parameters of a resource type by code (empty for an unknown type).

    Includes the parameters for all resources that have an expression (_id, _lastUpdated,
    _tag, _profile, _security, _source); the expression-less ones (_text, _content, _list,
    _query, _has, _type, _filter) are the search layer's own business. Read-only.
    """
    if resource_type not in resource_types():
        return MappingProxyType({})
    domain = element_types().get(resource_type) == ["DomainResource"]
    found = {p.code: p for p in _common_params(domain)}
    for p in _all_params():
        if resource_type in p.base:
            found[p.code] = p
    return MappingProxyType(found)


@cache
def _by_url() -> Mapping[str, SearchParam]:
    return MappingProxyType({p.url: p for p in _all_params()})


ComponentPart = tuple[SearchParam, str]  # the component's own definition, its expression


@cache
def composite_parts(definition: SearchParam) -> tuple[ComponentPart, ComponentPart] | None:
    """The two components of a composite this server indexes and searches, or None.

    search.html#composite: each component is a parameter of its own (its definition url
    names it, and its type says how its part of the value is read); the component
    expression is relative to each item of the composite's own expression. Composites of
    two value-typed components are supported (every R4B composite but MolecularSequence's
    three-component coordinates, whose components also reach outside the base item).
    """
    if definition.type != "composite" or len(definition.components) != 2:
        return None
    parts = []
    for url, expression in definition.components:
        component = _by_url().get(url)
        if component is None or component.type not in COMPONENT_TYPES or not expression:
            return None
        parts.append((component, expression))
    return parts[0], parts[1]
