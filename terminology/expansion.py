"""What a ValueSet holds: its ``compose`` evaluated against the registry's CodeSystems.

``members(value_set)`` is the whole, unpaged content of a value set, in a stable order
(the order of the includes, then of each code system's concepts), used by $expand (which
filters and pages it) and by $validate-code (which looks codes up in it).

Compose rules (https://hl7.org/fhir/R4B/valueset.html#compositions): an include takes a
whole system, a list of its concepts, or the concepts that pass all its filters, and is
intersected with the value sets it imports; the excludes are taken away afterwards.
Filters: ``is-a``, ``descendent-of``, ``is-not-a``, ``generalizes``, ``in``, ``not-in``
on the concept (``concept``/``code``), and ``=``, ``in``, ``not-in``, ``exists`` on a
property (a CodeSystem property, or ``parent``/``child``). ``regex`` is refused: a
pattern sent by a client could take unbounded time.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from terminology.registry import (
    CodeSystemIndex,
    Concept,
    TerminologyError,
    concepts_of,
    find,
    split_canonical,
)

__all__ = ["MAX_FILTER", "Member", "members", "resolve_value_set", "display_in",
           "matches_text"]

#: The longest text ``filter`` accepted (a filter is a few words typed by a person).
MAX_FILTER = 200
_MAX_IMPORT_DEPTH = 8
_CONCEPT = {"concept", "code"}


@dataclass(frozen=True)
class Member:
    """One code of a value set. ``language`` is the language of ``display``: the code
    system's, or the value set's when the value set gives the display (None: unknown).
    ``held`` says whether the code system is held here."""

    system: str
    version: str | None
    code: str
    display: str | None
    designations: tuple[dict[str, Any], ...]
    language: str | None
    abstract: bool = False
    inactive: bool = False
    held: bool = True


Members = dict[tuple[str, str], Member]


def resolve_value_set(value_set: str | dict[str, Any], version: str | None = None
                      ) -> dict[str, Any]:
    """The ValueSet resource: the one given, or the one held under that canonical (every
    CodeSystem of ours names its all-codes ValueSet, held beside it). 404 if unknown."""
    if isinstance(value_set, dict):
        if value_set.get("resourceType") != "ValueSet":
            raise TerminologyError(400, "invalid", "the value set is not a ValueSet resource")
        return value_set
    found = find("ValueSet", value_set, version)
    if found is not None:
        return found
    raise TerminologyError(404, "not-found", f"the value set {value_set} is not known")


def members(value_set: dict[str, Any], _stack: tuple[str, ...] = ()) -> Members:
    """Every code of ``value_set`` by (system, code), in expansion order."""
    if len(_stack) > _MAX_IMPORT_DEPTH:
        raise TerminologyError(400, "processing", "value sets import each other too deeply")
    compose = value_set.get("compose")
    if not isinstance(compose, dict):
        return _from_expansion(value_set)
    if isinstance(value_set.get("expansion"), dict):
        try:
            return _from_compose(value_set, compose, _stack)
        except TerminologyError as exc:  # a published expansion stands in for what the
            if exc.status != 404:        # compose names and we do not hold (HL7's v2
                raise                    # value sets, for example)
            return _from_expansion(value_set)
    return _from_compose(value_set, compose, _stack)


def _from_compose(value_set: dict[str, Any], compose: dict[str, Any],
                  _stack: tuple[str, ...]) -> Members:
    stack = (*_stack, value_set.get("url") or "")
    language = value_set.get("language")
    found: Members = {}
    for include in compose.get("include", []):
        found.update(_include(include, stack, language))
    for exclude in compose.get("exclude", []):
        for key in _include(exclude, stack, language):
            found.pop(key, None)
    if compose.get("inactive") is False:
        found = {k: m for k, m in found.items() if not m.inactive}
    return found


def _from_expansion(value_set: dict[str, Any]) -> Members:
    expansion = value_set.get("expansion")
    if not isinstance(expansion, dict):
        raise TerminologyError(400, "invalid", "the value set has neither compose nor "
                                               "expansion")
    found: Members = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if item.get("system") and item.get("code"):
                found[(item["system"], item["code"])] = Member(
                    item["system"], item.get("version"), item["code"], item.get("display"),
                    tuple(item.get("designation", [])), value_set.get("language"),
                    item.get("abstract") is True, item.get("inactive") is True,
                    concepts_of(item["system"]) is not None)
            walk(item.get("contains", []))

    walk(expansion.get("contains", []))
    return found


def _include(include: dict[str, Any], stack: tuple[str, ...], language: str | None
             ) -> Members:
    system = include.get("system")
    imported = [_imported(url, stack) for url in include.get("valueSet", [])]
    if system is None:
        if not imported:
            raise TerminologyError(400, "invalid", "an include names neither a system nor "
                                                   "a value set")
        found = imported[0]
    else:
        found = _from_system(system, include, language)
    for other in imported[1 if system is None else 0:]:
        found = {k: m for k, m in found.items() if k in other}
    return found


def _imported(canonical: str, stack: tuple[str, ...]) -> Members:
    if split_canonical(canonical)[0] in stack:
        raise TerminologyError(400, "processing", f"the value set {canonical} imports itself")
    return members(resolve_value_set(canonical), stack)


def _from_system(system: str, include: dict[str, Any], vs_language: str | None) -> Members:
    """The include's codes of one system. ``vs_language`` is the value set's language, the
    language of the displays it gives."""
    index = concepts_of(system, include.get("version"))
    listed = [c for c in include.get("concept", [])
              if isinstance(c, dict) and isinstance(c.get("code"), str)]
    if index is None:
        if listed and not include.get("filter"):  # a system not held here, codes listed
            return {(system, c["code"]): Member(system, include.get("version"), c["code"],
                                                c.get("display"),
                                                tuple(c.get("designation", [])),
                                                vs_language if c.get("display") else None,
                                                held=False)
                    for c in listed}
        raise TerminologyError(404, "not-found", f"the code system {system} is not known")
    if listed:
        codes = [c["code"] for c in listed if index.get(c["code"]) is not None]
        overrides = {c["code"]: c for c in listed}
    else:
        codes = list(index.concepts)
        overrides = {}
    for rule in include.get("filter", []):
        allowed = _filter(index, rule)
        codes = [c for c in codes if c in allowed]
    language = index.resource.get("language")
    found: Members = {}
    for code in codes:
        concept = index.get(code)
        assert concept is not None
        own = overrides.get(code, {})
        found[(index.url, concept.code)] = Member(
            index.url, index.version, concept.code, own.get("display") or concept.display,
            (*own.get("designation", []), *concept.designations),
            vs_language if own.get("display") else language,
            concept.abstract, concept.inactive)
    return found


def _filter(index: CodeSystemIndex, rule: dict[str, Any]) -> set[str]:
    """The codes of ``index`` that pass one compose filter."""
    prop, op, value = rule.get("property"), rule.get("op"), rule.get("value")
    if not isinstance(prop, str) or not isinstance(op, str) or not isinstance(value, str):
        raise TerminologyError(400, "invalid", "a filter needs a property, an op and a value")
    every = set(index.concepts)
    values = {v.strip() for v in value.split(",")}
    if prop in _CONCEPT:
        if op in ("is-a", "descendent-of", "is-not-a"):
            below = set(index.descendants(value))
            if op == "descendent-of":
                return below
            is_a = below | ({value} if value in every else set())
            return every - is_a if op == "is-not-a" else is_a
        if op == "generalizes":
            return _ancestors(index, value)
        if op in ("=", "in", "not-in"):
            return every - values if op == "not-in" else values & every
    elif op in ("=", "in", "not-in", "exists"):
        held = {code: set(_property_values(index, c, prop)) for code, c in
                index.concepts.items()}
        if op == "exists":
            return {code for code, v in held.items() if bool(v) == (value == "true")}
        hit = {code for code, v in held.items() if v & values}
        return every - hit if op == "not-in" else hit
    raise TerminologyError(400, "not-supported",
                           f"the filter '{prop} {op}' is not supported on {index.url}")


def _ancestors(index: CodeSystemIndex, code: str) -> set[str]:
    out: set[str] = set()
    current = index.concepts.get(code)
    while current is not None and current.code not in out:
        out.add(current.code)
        current = index.concepts.get(current.parent) if current.parent else None
    return out


def _property_values(index: CodeSystemIndex, concept: Concept, prop: str) -> list[str]:
    if prop == "parent":
        return [concept.parent] if concept.parent else []
    if prop == "child":
        return list(concept.children)
    out = []
    for p in concept.properties:
        if p.get("code") != prop:
            continue
        for key, v in p.items():
            if key == "valueCoding" and isinstance(v, dict):
                out.append(str(v.get("code")))
            elif key == "valueBoolean":
                out.append("true" if v else "false")
            elif key.startswith("value"):
                out.append(str(v))
    return out


# --- displays and the text filter ---------------------------------------------------------

def display_in(display: str | None, designations: tuple[dict[str, Any], ...] | list,
               own_language: str | None, wanted: str | None) -> str | None:
    """The display in language ``wanted``: the display itself when it is in that language
    (or no language is asked), else the first designation in it, else the display.
    ``own_language`` is the display's language (None: unknown)."""
    if not wanted or (own_language is not None and _same_language(wanted, own_language)):
        return display
    for designation in designations:
        language = designation.get("language")
        if language and _same_language(wanted, language) and designation.get("value"):
            return designation["value"]
    return display


def _same_language(a: str, b: str) -> bool:
    """``en`` matches ``en-US`` and the other way round (BCP 47 prefixes)."""
    a, b = a.lower(), b.lower()
    return a == b or a.startswith(b + "-") or b.startswith(a + "-")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").casefold()


_WORD = re.compile(r"\w+")


def matches_text(filter: str, member: Member) -> bool:
    """Each word of ``filter`` begins a word of the display, or each begins a word of one
    designation; case and accents ignored ("fisica" finds "Violencia física")."""
    wanted = _WORD.findall(_fold(filter))
    texts = [member.display, *(d.get("value") for d in member.designations)]
    for text in texts:
        if text:
            words = _WORD.findall(_fold(text))
            if all(any(w.startswith(t) for w in words) for t in wanted):
                return True
    return False


@lru_cache(maxsize=512)
def _held_codes(canonical: str) -> frozenset[tuple[str, str]] | None:
    try:
        return frozenset(members(resolve_value_set(canonical)))
    except TerminologyError:
        return None


def is_member(value_set: str, system: str | None, code: str) -> bool | None:
    """Whether a code is in a held value set (for validating bindings): None when the
    value set is not held here or cannot be expanded, so that a validator leaves the
    binding unjudged rather than refusing data on what it cannot know. A code without
    a system (a ``code`` element) is a member when any system of the value set has it.
    Held value sets do not change while the server runs, so their codes are kept."""
    held = _held_codes(value_set.split("|", 1)[0])
    if held is None:
        return None
    if system is None:
        return any(c == code for _, c in held)
    return (system, code) in held
