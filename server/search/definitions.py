"""The SearchParameter registry: which search parameters each resource type has.

Built once from the R4B definitions that ``profiles.r4b`` vendors (HL7's
``search-parameters.json``), with two known errata of that file corrected here rather
than in the vendored copy, so the copy stays verbatim and checkable against its source:

- ``DocumentReference-relationship``: the ``expression`` of its components ``relatesto``
  (a reference, must be ``target``) and ``relation`` (a token, must be ``code``) are
  swapped.
- ``Observation-code-value-date``: ``value.as(DateTime)`` names a type that does not
  exist; FHIRPath type names are case-sensitive and the FHIR type is ``dateTime``.

Then the implementation guide's own SearchParameters (``profiles.ig.search_parameters()``,
canonical ``https://fhir.amparo.cl/SearchParameter/<id>``) are added to the types they
name in ``base``. Precedence: none is needed, because a custom parameter may not take a
code that R4B already gives the same type (parameters for all resources and the special
ones included), nor one another custom parameter of that type has: loading refuses it
with ``DefinitionConflict`` naming both definitions, so the server does not start with an
IG that would silently change what a base parameter means. A custom parameter's ``base``
must list concrete R4B resource types.

See https://hl7.org/fhir/R4B/searchparameter-registry.html and
https://hl7.org/fhir/R4B/search.html#standard (parameters for all resources).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from profiles import ig
from profiles.r4b import element_types, search_parameters

__all__ = ["COMPONENT_TYPES", "DefinitionConflict", "SearchParam", "composite_parts",
           "custom_params", "load_custom", "params_for", "resource_types"]

_ABSTRACT_BASES = frozenset({"Resource", "DomainResource"})
# Parameters for all resources that have no expression: the search layer handles them itself.
_SPECIAL_COMMON = frozenset({"_text", "_content", "_list", "_query", "_has", "_type", "_filter"})
#: Parameter types a component of an indexed composite may have (search.html#composite).
COMPONENT_TYPES = frozenset({"token", "reference", "quantity", "date", "string", "number",
                             "uri"})


class DefinitionConflict(ValueError):
    """A custom SearchParameter that would replace or shadow another definition."""


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
def _base_params_for(resource_type: str) -> Mapping[str, SearchParam]:
    """R4B's parameters of a (known) resource type by code."""
    domain = element_types().get(resource_type) == ["DomainResource"]
    found = {p.code: p for p in _common_params(domain)}
    for p in _all_params():
        if resource_type in p.base:
            found[p.code] = p
    return MappingProxyType(found)


def load_custom(resources: list[dict]) -> tuple[SearchParam, ...]:
    """SearchParameter resources as ``SearchParam``s, checked against R4B and each other.

    Raises ``DefinitionConflict`` for a code R4B already has for one of the base types
    (``_id``... and the special ``_text``, ``_has``... included), a code two custom
    parameters give the same type, a canonical URL that is R4B's or repeated, or a base
    that is not a concrete R4B resource type.
    """
    params: list[SearchParam] = []
    taken: dict[tuple[str, str], str] = {}
    urls = {p.url for p in _all_params()}
    for resource in resources:
        param = _from_resource(resource)
        where = f"SearchParameter {param.url} (code {param.code!r})"
        if param.url in urls:
            raise DefinitionConflict(f"{where}: another SearchParameter has this url")
        urls.add(param.url)
        for base in param.base:
            if base not in resource_types():
                raise DefinitionConflict(f"{where}: base {base!r} is not a concrete R4B "
                                         "resource type")
            existing = _base_params_for(base).get(param.code)
            if existing is not None or param.code in _SPECIAL_COMMON:
                other = existing.url if existing is not None else "the search layer's own"
                raise DefinitionConflict(
                    f"{where}: {base} already has the R4B parameter {param.code!r} "
                    f"({other}); a custom parameter may not replace a base one, so give "
                    "it another code")
            if (base, param.code) in taken:
                raise DefinitionConflict(
                    f"{where}: {base} already has the custom parameter {param.code!r} "
                    f"({taken[(base, param.code)]})")
            taken[(base, param.code)] = param.url
        params.append(param)
    return tuple(params)


@cache
def custom_params() -> tuple[SearchParam, ...]:
    """The implementation guide's SearchParameters (``profiles.ig``), checked by
    ``load_custom`` (a conflict raises ``DefinitionConflict`` on first use: at start-up,
    since the application loads every type's parameters before serving)."""
    return load_custom(ig.search_parameters())


@cache
def params_for(resource_type: str) -> Mapping[str, SearchParam]:
    """The search parameters of a resource type by code (empty for an unknown type).

    Includes the parameters for all resources that have an expression (_id, _lastUpdated,
    _tag, _profile, _security, _source); the expression-less ones (_text, _content, _list,
    _query, _has, _type, _filter) are the search layer's own business. Then the custom
    parameters of the implementation guide for this type (``custom_params``). Read-only.
    """
    if resource_type not in resource_types():
        return MappingProxyType({})
    found = dict(_base_params_for(resource_type))
    for p in custom_params():
        if resource_type in p.base:
            found[p.code] = p
    return MappingProxyType(found)


@cache
def _by_url() -> Mapping[str, SearchParam]:
    return MappingProxyType({p.url: p for p in (*_all_params(), *custom_params())})


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
