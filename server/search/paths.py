"""Compile SearchParameter FHIRPath expressions into direct walks over resource JSON.

Almost every R4B search expression is a union of simple paths, and evaluating them with
a general FHIRPath engine costs ~100 microseconds per parameter. Knowing the element types
(``profiles.r4b.element_types``), each path compiles to the JSON keys to follow, the
filters to apply, and the FHIR type of what it reaches; the caller then picks the row
converter once. The subset understood:

- ``Type.a.b`` (also rooted at ``Resource``/``DomainResource``, or relative: ``name``);
  a choice element (``Observation.value``) fans out to each JSON key (``valueQuantity``...)
- ``(path as T)``, ``path.as(T)``, ``path.ofType(T)``, optionally followed by more steps
- ``path.where(resolve() is T)`` on References, ``path.where(field='literal')``
- ``path[n]`` (the n-th of the whole collection), ``path.extension('url')`` and
  ``path.extension`` (then usually ``.where(url = '...')``); on a primitive element the
  extensions are read from its ``_name`` sibling, where JSON keeps them (json.html#primitive:
  ``address.city.extension`` is ``address._city.extension``)
- ``path.exists() and path != false`` (a presence test, e.g. Patient-deceased)

Anything else raises ``Unsupported`` and the caller falls back to fhirpathpy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from profiles.r4b import element_types, elements
from server.search.definitions import resource_types
from server.search.values import parse_reference

__all__ = ["Path", "Unsupported", "compile_expression", "compile_relative", "split_union"]

Step = str | int | Callable[[object], bool]
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEXED = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]")
_EXTENSION = re.compile(r"extension\('([^']+)'\)")
_AS_CALL = re.compile(r"(?:as|ofType)\(([A-Za-z]+)\)")
_RESOLVE_IS = re.compile(r"where\(resolve\(\) is ([A-Z][A-Za-z]+)\)")
_FIELD_EQ = re.compile(r"where\(([a-z][A-Za-z]*) ?= ?'([^']*)'\)")
_AS_OPERATOR = re.compile(r"\((.+) as ([A-Za-z]+)\)(\..+)?")
_PRESENCE = re.compile(r"(.+)\.exists\(\) and (.+) != false")
_CONTAINERS = ("BackboneElement", "Element")


class Unsupported(ValueError):
    """The expression uses FHIRPath this compiler does not translate."""


@dataclass(frozen=True, slots=True)
class Path:
    """One way an expression reaches values: steps from the resource root, and their type.

    A step is a JSON key to follow (lists are flattened), an int that keeps only the n-th
    value of the collection, or a predicate that keeps only the values it accepts.
    ``presence`` marks the ``exists() and != false`` form, whose value is one boolean for
    the whole resource. ``element`` is the element definition path reached (e.g.
    ``Observation.component``): the context of expressions relative to these values.
    """

    steps: tuple[Step, ...]
    fhir_type: str
    presence: bool = False
    element: str = ""


def split_union(expression: str) -> list[str]:
    """The top-level alternatives of ``a | b | c`` (bars inside parentheses or quotes kept)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(expression):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _split_steps(path: str) -> list[str]:
    steps, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(path):
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ".":
            steps.append(path[start:i].strip())
            start = i + 1
    steps.append(path[start:].strip())
    return steps


def _refers_to(resource_type: str) -> Callable[[object], bool]:
    def refers(value: object) -> bool:
        # FHIRPath's resolve() is T on a literal reference: the type named by the reference
        # string, or else Reference.type (identifier-only and urn:uuid references).
        if value.__class__ is not dict:
            return False
        ref = value.get("reference")  # type: ignore[attr-defined]
        parsed = parse_reference(ref, resource_types()) if ref.__class__ is str else None
        if parsed is not None and parsed[0] is not None:
            return parsed[0] == resource_type
        return value.get("type") == resource_type  # type: ignore[attr-defined]

    return refers


def _field_equals(name: str, literal: str) -> Callable[[object], bool]:
    def equals(value: object) -> bool:
        return value.__class__ is dict and value.get(name) == literal

    return equals


def _is_a(fhir_type: str, wanted: str) -> bool:
    types = element_types()
    while fhir_type:
        if fhir_type == wanted:
            return True
        bases = types.get(fhir_type) if "." not in fhir_type else None
        fhir_type = bases[0] if bases else ""
    return False


Branch = tuple[tuple[Step, ...], str, str]  # steps, element path, FHIR type


@cache
def _primitives() -> frozenset[str]:
    return frozenset(elements()["primitives"])


def _extension_holders(branches: list[Branch]) -> list[tuple[Step, ...]]:
    """The steps to the JSON objects that hold the extensions of what ``branches`` reach.

    A primitive keeps its id and extensions beside it, under ``_`` + its JSON name
    (https://hl7.org/fhir/R4B/json.html#primitive): ``city.extension`` is
    ``_city.extension`` (also for a choice: ``_valueString``). For a repeating primitive
    ``_given`` is an array parallel to ``given`` (nulls where an item has none), which the
    walk flattens the same way. A primitive reached through an index or a filter has no
    such key to follow: ``Unsupported`` (fhirpathpy handles it).
    """
    holders = []
    for steps, _, fhir_type in branches:
        if fhir_type in _primitives():
            if not steps or steps[-1].__class__ is not str:
                raise Unsupported("extension of a primitive reached by an index or a filter")
            steps = steps[:-1] + ("_" + steps[-1],)  # type: ignore[operator]
        holders.append(steps)
    return holders


def _child_context(element_path: str, fhir_type: str) -> str:
    if fhir_type in _CONTAINERS:
        return element_path
    if fhir_type.startswith("#"):
        return fhir_type[1:]
    return fhir_type


def _step_into(branches: list[Branch], name: str) -> list[Branch]:
    types, out = element_types(), []
    for steps, path, fhir_type in branches:
        key = _child_context(path, fhir_type) + "." + name
        found = types.get(key)
        if found is not None and len(found) == 1:
            out.append((steps + (name,), key, found[0]))
            continue
        choices = types.get(key + "[x]")
        if choices is None:
            raise Unsupported(f"unknown element {key}")
        for choice in choices:
            out.append((steps + (name + choice[0].upper() + choice[1:],), key, choice))
    return out


def _apply(branches: list[Branch], segment: str) -> list[Branch]:
    if segment == "extension":
        return [(steps + ("extension",), "Extension", "Extension")
                for steps in _extension_holders(branches)]
    if _IDENT.fullmatch(segment):
        return _step_into(branches, segment)
    if m := _INDEXED.fullmatch(segment):
        index = int(m.group(2))
        return [(steps + (index,), path, t) for steps, path, t in _step_into(branches, m.group(1))]
    if m := _EXTENSION.fullmatch(segment):
        test = _field_equals("url", m.group(1))
        return [(steps + ("extension", test), "Extension", "Extension")
                for steps in _extension_holders(branches)]
    if m := _AS_CALL.fullmatch(segment):
        return [b for b in branches if _is_a(b[2], m.group(1))]
    if m := _RESOLVE_IS.fullmatch(segment):
        if any(b[2] != "Reference" for b in branches):
            raise Unsupported(f"resolve() on a non-Reference: {segment}")
        test = _refers_to(m.group(1))
        return [(steps + (test,), path, t) for steps, path, t in branches]
    if m := _FIELD_EQ.fullmatch(segment):
        name, literal = m.groups()
        _step_into(branches, name)  # raises Unsupported when the field does not exist
        test = _field_equals(name, literal)
        return [(steps + (test,), path, t) for steps, path, t in branches]
    raise Unsupported(f"cannot compile {segment!r}")


def _compile_path(path: str, resource_type: str, context: tuple[str, str] | None = None
                  ) -> list[Path]:
    segments = _split_steps(path)
    types = element_types()
    root = segments[0]
    if context is not None:
        if not _IDENT.fullmatch(root) or root[:1].isupper():
            raise Unsupported(f"relative expression rooted at {root}")
    elif root in (resource_type, "Resource") or (
        root == "DomainResource" and types.get(resource_type) == ["DomainResource"]
    ):
        segments = segments[1:]
    elif root[:1].isupper():
        if root in types and "." not in root:
            return []  # an alternative for another resource type of a shared parameter
        raise Unsupported(f"unknown root {root}")
    element, fhir_type = context or (resource_type, resource_type)
    branches: list[Branch] = [((), element, fhir_type)]
    for segment in segments:
        branches = _apply(branches, segment)
    return [Path(steps, fhir_type, element=element) for steps, element, fhir_type in branches]


def _compile_alternative(alternative: str, resource_type: str,
                         context: tuple[str, str] | None = None) -> list[Path]:
    if m := _PRESENCE.fullmatch(alternative):
        if m.group(1).strip() != m.group(2).strip():
            raise Unsupported(alternative)
        paths = _compile_path(m.group(1).strip(), resource_type, context)
        return [Path(p.steps, p.fhir_type, True, p.element) for p in paths]
    if m := _AS_OPERATOR.fullmatch(alternative):
        inner, wanted, rest = m.groups()
        if "|" in inner or "(" in inner:
            raise Unsupported(alternative)
        path = f"{inner}.as({wanted})" + (rest or "")
        return _compile_path(path, resource_type, context)
    return _compile_path(alternative, resource_type, context)


def compile_expression(expression: str, resource_type: str) -> list[Path]:
    """Every path by which ``expression`` reaches values in a ``resource_type`` resource.

    Raises ``Unsupported`` for FHIRPath outside the subset in the module docstring.
    An empty list means the expression cannot reach anything in this type.
    """
    paths: list[Path] = []
    for alternative in split_union(expression):
        paths.extend(_compile_alternative(alternative, resource_type))
    if len({p.presence for p in paths}) > 1:
        raise Unsupported("presence test mixed with values")
    return paths


def compile_relative(expression: str, resource_type: str, context: Path) -> list[Path]:
    """The paths by which ``expression`` reaches values from each value ``context``
    reaches (steps relative to that value), e.g. a composite's component ``code`` from
    its base ``Observation.component`` (search.html#composite).

    Raises ``Unsupported`` like ``compile_expression`` (also for ``%resource``, which
    leaves the context).
    """
    where = (context.element or resource_type, context.fhir_type)
    paths: list[Path] = []
    for alternative in split_union(expression):
        paths.extend(_compile_alternative(alternative, resource_type, where))
    if any(p.presence for p in paths):
        raise Unsupported("presence test in a relative expression")
    return paths
