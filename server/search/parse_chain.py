"""Chained parameters (``subject:Patient.name=x``) and reverse chaining
(``_has:Observation:subject:code=x``). See https://hl7.org/fhir/R4B/search.html#chaining
and https://hl7.org/fhir/R4B/search.html#has.

Both turn into conditions that hold a whole ``SearchQuery`` on the other resource type,
whose own parameter is parsed by ``parse.parse_condition`` like any other (so it may
carry modifiers, chain further or be a ``_has`` again). Links are limited in number: the
spec lets servers bound chaining, and every link is one more subquery per search.
"""

from __future__ import annotations

import re

from server import errors
from server.search.definitions import SearchParam, params_for, resource_types
from server.search.query import Chain, Condition, Has, SearchQuery
from server.search.syntax import Unsupported

#: Most chain and ``_has`` links one parameter name may hold (``a.b.c.d`` has three).
MAX_DEPTH = 3

_INNER_CODE = re.compile(r"[^:.]*")


def chain(type: str, name: str, value: str) -> Condition:
    """``name`` holds a ``.``: a chain through a reference parameter of ``type``.

    ``head.rest`` where ``head`` is ``reference[:Type]``. Without ``:Type`` the chain
    applies to every target type of the reference that defines ``rest``'s parameter
    (search.html#chaining: "the server SHALL ... for all the types"), the per-type
    queries OR-ed in one condition; a name no target type defines is an error.
    """
    _check_depth(name)
    head, _, rest = name.partition(".")
    code, _, type_modifier = head.partition(":")
    definition = params_for(type).get(code)
    if definition is None:
        raise Unsupported
    if definition.type != "reference":
        raise errors.invalid(f"cannot chain through {code}: it is a {definition.type} "
                             "parameter, not a reference")
    if not rest:
        raise errors.invalid(f"the chain {name[:100]} names no parameter after the '.'")
    inner_code = _INNER_CODE.match(rest).group()
    if type_modifier:
        if type_modifier not in _targets(definition):
            raise errors.invalid(f"{code} of {type} cannot refer to {type_modifier[:64]}")
        if not _defines(type_modifier, inner_code):
            raise errors.invalid(f"{type_modifier} has no search parameter "
                                 f"{inner_code[:64]}")
        targets = [type_modifier]
    else:
        if not definition.target:
            raise errors.invalid(f"{code} of {type} may refer to any type: name one "
                                 f"({code}:[type].{inner_code[:64]})")
        targets = [t for t in definition.target if _defines(t, inner_code)]
        if not targets:
            raise errors.invalid(f"no type that {code} of {type} refers to has a search "
                                 f"parameter {inner_code[:64]}")
    # Applied only if applied for every target type: a partial OR would silently
    # return fewer matches than asked for.
    chains = tuple(Chain(SearchQuery(t, (_inner(t, rest, value),))) for t in sorted(targets))
    return Condition(code, "chain", chains, type_modifier or None)


def has(type: str, name: str, value: str) -> Condition:
    """``name`` starts with ``_has:``: ``_has:Source:reference:rest``, the resources of
    ``type`` that some ``Source`` matching ``rest=value`` refers to through its
    ``reference`` parameter (search.html#has)."""
    _check_depth(name)
    parts = name.split(":", 3)
    if len(parts) < 4 or not all(parts[1:]):
        raise errors.invalid("_has is _has:[type]:[reference parameter]:[parameter]")
    _, source, code, rest = parts
    if source not in resource_types():
        raise errors.invalid(f"_has names an unknown resource type {source[:64]}")
    definition = params_for(source).get(code)
    if definition is None or definition.type != "reference":
        raise errors.invalid(f"{code[:64]} is not a reference parameter of {source}")
    if type not in _targets(definition):
        raise errors.invalid(f"{code} of {source} cannot refer to {type}")
    inner_code = _INNER_CODE.match(rest).group()
    if not _defines(source, inner_code):
        raise errors.invalid(f"{source} has no search parameter {inner_code[:64]}")
    inner = _inner(source, rest, value)
    return Condition(name, "has", (Has(code, SearchQuery(source, (inner,))),))


def _inner(type: str, name: str, value: str) -> Condition:
    from server.search.parse import parse_condition  # parse dispatches to this module

    return parse_condition(type, name, value)


def _targets(definition: SearchParam) -> tuple[str, ...] | frozenset[str]:
    """The types a reference parameter may point at (any type when it does not say)."""
    return definition.target or resource_types()


def _defines(type: str, code: str) -> bool:
    return code == "_has" or code in params_for(type)


def _check_depth(name: str) -> None:
    links = name.count(".") + name.count("_has:")
    if links > MAX_DEPTH:
        raise errors.invalid(f"at most {MAX_DEPTH} chain or _has links in one parameter")
