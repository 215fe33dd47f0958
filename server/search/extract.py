"""Search index values of a resource, computed on every write.

``extract(resource)`` returns the ``ResourceIndex`` (rows described in ``index.py``) for
every token, string, reference, date, number, quantity and uri parameter that
``definitions.params_for`` lists for the resource's type (R4B's and the implementation
guide's own SearchParameters alike), and for every two-component
composite (``definitions.composite_parts``): one row per pair of component values found
in the same item of the composite's base (search.html#composite). Special parameters
are left to the search layer; ``_id`` and ``_lastUpdated`` are columns of the store.
See https://hl7.org/fhir/R4B/search.html.

Each type's parameters are compiled once, on first use, into a plan: direct JSON walks
(``paths.py``) grouped by the resource's top-level key, so a resource only pays for the
elements it has. Expressions the compiler does not understand run through fhirpathpy
(its R4 model; there is no R4B one); ``python -m server.search.extract --report`` lists
them. Extraction never raises on malformed data: a value that cannot be read is not
indexed (validation comes first and reports it).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from server.search.definitions import SearchParam, composite_parts, params_for, resource_types
from server.search.index import Part, ResourceIndex
from server.search.paths import Path, Step, Unsupported, compile_expression, compile_relative
from server.search.rows import Converter, composite_parts_of, converter, guess_type

__all__ = ["Plan", "compile_plan", "extract", "fallback_params", "unindexed_paths"]

log = logging.getLogger(__name__)

_EXTRACTED = frozenset({"token", "string", "reference", "date", "number", "quantity", "uri"})
_STORE_COLUMNS = frozenset({"_id", "_lastUpdated"})
_ROW_LISTS = ("tokens", "strings", "references", "dates", "numbers", "quantities", "uris",
              "composites")

Accessor = tuple[tuple[Step, ...], str, Converter]  # steps after the first key, code, converter
#: One component of a composite: a key naming it within one extraction (components with
#: the same type and expression give the same values), its parameter type, the
#: (steps, converter) pairs relative to a base item, and the JSON keys of a base item
#: that any of them starts with (a cheap "absent" test before walking).
Component = tuple[tuple[str, str], str, tuple[tuple[tuple[Step, ...], Converter], ...],
                  frozenset[str]]
#: A composite on one base path: its code and its two components compiled relative to
#: the base items.
CompositeAccessor = tuple[str, Component, Component]
#: The composites of one base path (steps from the resource to the base items).
CompositeBase = tuple[tuple[Step, ...], tuple[CompositeAccessor, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """How to extract a set of parameters from resources of one type (built once).

    ``by_key`` maps a top-level JSON key to the accessors that start there; ``presence``
    holds the ``exists() and != false`` tests; ``fallback`` the fhirpathpy-compiled
    expressions. ``fallback_reasons`` and ``unindexed`` feed the ``--report``.
    """

    by_key: dict[str, tuple[Accessor, ...]]
    presence: tuple[tuple[str, tuple[Path, ...]], ...] = ()
    fallback: tuple[tuple[str, str, Callable[[dict], list]], ...] = ()
    fallback_reasons: tuple[tuple[str, str], ...] = ()
    unindexed: tuple[tuple[str, str, str], ...] = ()  # code, parameter type, FHIR type
    composites: tuple[CompositeBase, ...] = ()


def _compile_fhirpath(expression: str) -> Callable[[dict], list]:
    import fhirpathpy
    from fhirpathpy.models import models

    return fhirpathpy.compile(expression, models["r4"])


def compile_plan(resource_type: str, params: Iterable[SearchParam]) -> Plan:
    """Compile the extractable ``params`` of ``resource_type`` (each expression once).

    ``extract`` uses the plan of ``params_for(type)`` (the IG's SearchParameters
    included); other parameter sets compile the same way.
    """
    by_key: dict[str, list[Accessor]] = {}
    presence, fallback, reasons, unindexed = [], [], [], []
    composites: dict[tuple[Step, ...], list[CompositeAccessor]] = {}
    for param in params:
        code = param.code
        if param.type == "composite":
            try:
                found = _compile_composite(param, resource_type)
            except Unsupported as reason:
                log.warning("%s:%s is not indexed (%s)", resource_type, code, reason)
                reasons.append((code, f"composite not indexed: {reason}"))
                continue
            for steps, first, second in found:
                composites.setdefault(steps, []).append((code, first, second))
            continue
        if param.type not in _EXTRACTED or code in _STORE_COLUMNS or not param.expression:
            continue
        try:
            paths = compile_expression(param.expression, resource_type)
        except Unsupported as reason:
            log.debug("%s:%s uses fhirpathpy (%s)", resource_type, code, reason)
            fallback.append((code, param.type, _compile_fhirpath(param.expression)))
            reasons.append((code, str(reason)))
            continue
        if paths and paths[0].presence:
            presence.append((code, tuple(paths)))
            continue
        for path in paths:
            convert = converter(param.type, path.fhir_type)
            if convert is None:
                unindexed.append((code, param.type, path.fhir_type))
                continue
            first, rest = path.steps[0], path.steps[1:]
            by_key.setdefault(first, []).append((rest, code, convert))  # type: ignore[arg-type]
    return Plan(
        by_key={key: tuple(accessors) for key, accessors in by_key.items()},
        presence=tuple(presence),
        fallback=tuple(fallback),
        fallback_reasons=tuple(reasons),
        unindexed=tuple(dict.fromkeys(unindexed)),
        composites=tuple((steps, tuple(found)) for steps, found in composites.items()),
    )


def _compile_composite(param: SearchParam, resource_type: str
                       ) -> list[tuple[tuple[Step, ...], Component, Component]]:
    """The base paths, each with its relative component paths, of a supported composite
    (none when ``definitions.composite_parts`` does not support it or it reaches nothing
    in ``resource_type``). ``Observation | Observation.component`` has two bases of
    different element types: components compile against each."""
    parts = composite_parts(param)
    if parts is None or not param.expression:
        return []
    bases = []
    for base in compile_expression(param.expression, resource_type):
        if base.presence:
            raise Unsupported("presence test as a composite base")
        components = []
        for definition, expression in parts:
            accessors = []
            for path in compile_relative(expression, resource_type, base):
                convert = converter(definition.type, path.fhir_type)
                if convert is not None:
                    accessors.append((path.steps, convert))
            if any(not steps or steps[0].__class__ is not str for steps, _ in accessors):
                raise Unsupported(f"component {expression!r} does not start with an element")
            keys = frozenset(steps[0] for steps, _ in accessors)
            components.append(((definition.type, expression), definition.type,
                               tuple(accessors), keys))  # type: ignore[arg-type]
        bases.append((base.steps, components[0], components[1]))
    return bases


@cache
def _plan(resource_type: str) -> Plan:
    return compile_plan(resource_type, params_for(resource_type).values())


def _walk(values: Sequence[object], steps: tuple[Step, ...]) -> Sequence[object]:
    for step in steps:
        if step.__class__ is str:
            found: list[object] = []
            for value in values:
                if value.__class__ is dict:
                    child = value.get(step)  # type: ignore[attr-defined]
                    if child.__class__ is list:
                        found.extend(child)
                    elif child is not None:
                        found.append(child)
            values = found
        elif step.__class__ is int:
            values = values[step:step + 1]  # type: ignore[misc]
        else:
            values = [value for value in values if step(value)]  # type: ignore[operator]
        if not values:
            break
    return values


def _run_fallback(resource: dict, plan: Plan, index: ResourceIndex) -> None:
    for code, param_type, evaluate in plan.fallback:
        try:
            values = evaluate(resource)
        except Exception:  # third-party engine on arbitrary data: never fail the write
            log.warning("fhirpathpy failed on %s:%s", resource.get("resourceType"), code,
                        exc_info=True)
            continue
        for value in values:
            fhir_type = guess_type(value, param_type)
            convert = converter(param_type, fhir_type) if fhir_type else None
            if convert is not None:
                convert(code, value, index)


def _component_parts(item: object, component: Component, seen: dict,
                     scratch: ResourceIndex) -> list[Part]:
    key = (id(item), component[0])
    parts = seen.get(key)
    if parts is None:
        for steps, convert in component[2]:
            for value in _walk((item,), steps):
                convert("", value, scratch)
        parts = seen[key] = composite_parts_of(component[1], scratch)
    return parts


def _run_composites(resource: dict, plan: Plan, index: ResourceIndex) -> None:
    """One row per pair of component values of the same base item (search.html#composite).

    Each base path is walked once for all its composites, and component values are kept
    per (item, component) for this resource: composites share components
    (``Observation.code`` is the first of six).
    """
    seen: dict = {}
    scratch = ResourceIndex()
    rows = index.composites
    for steps, composites in plan.composites:
        for item in _walk((resource,), steps) if steps else (resource,):
            if item.__class__ is not dict:
                continue
            for code, first, second in composites:
                if first[3].isdisjoint(item) or second[3].isdisjoint(item):  # type: ignore[arg-type]
                    continue
                parts_a = _component_parts(item, first, seen, scratch)
                if not parts_a:
                    continue
                parts_b = _component_parts(item, second, seen, scratch)
                for a in parts_a:
                    for b in parts_b:
                        rows.append((code, *a, *b))


def extract(resource: dict, plan: Plan | None = None) -> ResourceIndex:
    """The search index rows of one resource, deduplicated (empty for an unknown type).

    ``plan`` defaults to the compiled plan of every parameter of the resource's type.
    """
    index = ResourceIndex()
    if plan is None:
        resource_type = resource.get("resourceType") if resource.__class__ is dict else None
        if resource_type not in resource_types():
            return index
        plan = _plan(resource_type)  # type: ignore[arg-type]
    by_key = plan.by_key
    for key, value in resource.items():
        accessors = by_key.get(key)
        if accessors is None:
            continue
        top = value if value.__class__ is list else (value,)
        for rest, code, convert in accessors:
            for item in _walk(top, rest) if rest else top:
                convert(code, item, index)
    for code, paths in plan.presence:
        present = any(
            value is not False for path in paths for value in _walk((resource,), path.steps)
        )
        index.tokens.append((code, None, "true" if present else "false", None))
    if plan.fallback:
        _run_fallback(resource, plan, index)
    if plan.composites:
        _run_composites(resource, plan, index)
    for name in _ROW_LISTS:
        rows = getattr(index, name)
        if len(rows) > 1:
            setattr(index, name, list(dict.fromkeys(rows)))
    return index


def fallback_params() -> dict[str, list[tuple[str, str]]]:
    """Resource type -> (parameter code, reason) for every parameter fhirpathpy evaluates."""
    found = {}
    for resource_type in sorted(resource_types()):
        reasons = _plan(resource_type).fallback_reasons
        if reasons:
            found[resource_type] = list(reasons)
    return found


def unindexed_paths() -> dict[str, list[tuple[str, str, str]]]:
    """Resource type -> (code, parameter type, FHIR type) of paths that yield no rows.

    These are expression branches whose datatype has no meaning for the parameter type
    (a date parameter reaching a string or an Age, a quantity reaching SampledData).
    """
    found = {}
    for resource_type in sorted(resource_types()):
        unindexed = _plan(resource_type).unindexed
        if unindexed:
            found[resource_type] = list(unindexed)
    return found


def main(argv: list[str] | None = None) -> None:
    """``python -m server.search.extract --report``: how every parameter is extracted."""
    parser = argparse.ArgumentParser(description="Search index extraction.")
    parser.add_argument("--report", action="store_true", help="list fallback parameters")
    args = parser.parse_args(argv)
    if not args.report:
        parser.print_help()
        return
    plans = {t: _plan(t) for t in sorted(resource_types())}
    native = sum(len(a) for p in plans.values() for a in p.by_key.values())
    print(f"{len(plans)} resource types, {native} compiled paths")
    print("parameters evaluated with fhirpathpy:")
    fallbacks = fallback_params()
    for resource_type, reasons in fallbacks.items():
        for code, reason in reasons:
            print(f"  {resource_type}:{code}  ({reason})")
    if not fallbacks:
        print("  (none: every expression compiles to a direct walk)")
    print("expression branches that yield no rows (datatype meaningless for the type):")
    for resource_type, entries in unindexed_paths().items():
        for code, param_type, fhir_type in entries:
            print(f"  {resource_type}:{code}  {param_type} on {fhir_type}")


if __name__ == "__main__":
    main()
