"""The FHIR terminology operations over the registry: $lookup, $validate-code, $expand,
$translate. Each takes plain values (canonicals, codes, dicts) and returns the FHIR
resource the operation answers with (Parameters, or a ValueSet with an expansion); none
does HTTP. A request that cannot be answered raises ``TerminologyError``.

See: https://hl7.org/fhir/R4B/codesystem-operation-lookup.html,
https://hl7.org/fhir/R4B/valueset-operation-validate-code.html,
https://hl7.org/fhir/R4B/codesystem-operation-validate-code.html,
https://hl7.org/fhir/R4B/valueset-operation-expand.html,
https://hl7.org/fhir/R4B/conceptmap-operation-translate.html

Displays are Spanish (es-CL, each CodeSystem's ``display``) unless ``display_language``
names the language of a designation (``en``). A wrong display is not a wrong code: in
$validate-code it leaves ``result`` true and explains itself in ``message`` (R4B: "if
this is provided when result = true, the message carries hints and warnings").
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from terminology.expansion import (
    MAX_FILTER,
    Member,
    display_in,
    matches_text,
    members,
    resolve_value_set,
)
from terminology.registry import (
    CodeSystemIndex,
    Concept,
    TerminologyError,
    all_of,
    concepts_of,
    find,
    index_resource,
    split_canonical,
)

__all__ = ["MAX_COUNT", "MAX_OFFSET", "MAX_FILTER", "TerminologyError", "lookup",
           "validate_code", "expand", "translate"]

#: Bounds of a page of an expansion (larger requests are refused, not truncated).
MAX_COUNT = 1000
MAX_OFFSET = 100_000
_UNMATCHED = {"unmatched", "disjoint"}
_REVERSED = {"wider": "narrower", "narrower": "wider", "subsumes": "specializes",
             "specializes": "subsumes"}


def _parameters(*params: dict[str, Any] | None) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": [p for p in params if p]}


def _invalid(message: str) -> TerminologyError:
    return TerminologyError(400, "invalid", message)


# --- $lookup ------------------------------------------------------------------------------

def lookup(system: str, code: str, version: str | None = None,
           display_language: str | None = None,
           properties: list[str] | None = None) -> dict[str, Any]:
    """Parameters describing ``code`` of CodeSystem ``system``: name, version, display,
    designations and properties (``definition``, ``parent``, ``child`` and the concept's
    own). ``properties`` limits the properties returned. 404 for an unknown system,
    version or code."""
    index = _code_system(system, version)
    concept = index.get(code)
    if concept is None:
        raise TerminologyError(404, "not-found",
                               f"the code '{code}' is not in the code system {index.url}")
    header = index.resource
    language = header.get("language")
    display = display_in(concept.display, concept.designations, language, display_language)
    designations = list(concept.designations)
    if display != concept.display and concept.display is not None:
        # the designation replaced the display: keep the display as a designation
        designations.insert(0, {"language": language, "value": concept.display}
                            if language else {"value": concept.display})
    wanted = set(properties) if properties else None
    out = [{"name": "name", "valueString": header.get("title") or header.get("name")
            or index.url}]
    if index.version:
        out.append({"name": "version", "valueString": index.version})
    out.append({"name": "display", "valueString": display or concept.code})
    if wanted is None or "designation" in wanted:
        out += [{"name": "designation", "part": _designation_parts(d)} for d in designations]
    out += [p for p in _properties(index, concept) if wanted is None
            or p["part"][0]["valueCode"] in wanted]
    return _parameters(*out)


def _properties(index: CodeSystemIndex, concept: Concept) -> list[dict[str, Any]]:
    """The ``property`` parameters of a $lookup: ``definition``, ``parent``, ``child``
    (properties every code system has, codesystem-operation-lookup.html), then the
    concept's own, each with the description its code system gives it."""
    props: list[tuple[str, dict[str, Any]]] = []
    if concept.definition:
        props.append(("definition", {"valueString": concept.definition}))
    if concept.parent:
        props.append(("parent", {"valueCode": concept.parent}))
    props += [("child", {"valueCode": child}) for child in concept.children]
    props += [(p["code"], {k: v for k, v in p.items() if k.startswith("value")})
              for p in concept.properties]
    descriptions = {p.get("code"): p.get("description")
                    for p in index.resource.get("property", [])}
    out = []
    for name, value in props:
        parts = [{"name": "code", "valueCode": name}, {"name": "value", **value}]
        if descriptions.get(name):
            parts.append({"name": "description", "valueString": descriptions[name]})
        out.append({"name": "property", "part": parts})
    return out


def _designation_parts(designation: dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    if designation.get("language"):
        parts.append({"name": "language", "valueCode": designation["language"]})
    if designation.get("use"):
        parts.append({"name": "use", "valueCoding": designation["use"]})
    parts.append({"name": "value", "valueString": designation.get("value", "")})
    return parts


def _code_system(system: str | dict[str, Any], version: str | None = None
                 ) -> CodeSystemIndex:
    if isinstance(system, dict):
        return index_resource(system)
    index = concepts_of(system, version)
    if index is None:
        url, pinned = split_canonical(system)
        if concepts_of(url) is not None:
            raise TerminologyError(404, "not-found", f"the code system {url} has no version "
                                                     f"{version or pinned}")
        raise TerminologyError(404, "not-found", f"the code system {url} is not known")
    return index


# --- $validate-code -----------------------------------------------------------------------

def validate_code(*, value_set: str | dict[str, Any] | None = None,
                  value_set_version: str | None = None,
                  code_system: str | dict[str, Any] | None = None,
                  code: str | None = None, system: str | None = None,
                  system_version: str | None = None, display: str | None = None,
                  coding: dict[str, Any] | None = None,
                  codeable_concept: dict[str, Any] | None = None,
                  display_language: str | None = None,
                  abstract: bool = True) -> dict[str, Any]:
    """Parameters with ``result`` (is the code in the value set, or in the code system),
    ``message`` when false or when only the display is wrong, and the ``display``.

    Exactly one of ``value_set``/``code_system`` (each a canonical, ``url|version`` to pin
    a version, or the resource itself) and one of ``code``/``coding``/``codeable_concept``;
    ``system_version`` is the code system version the ``code`` claims. With ``code``
    against a value set, ``system`` is required; against a code system it defaults to the
    code system's url. A codeable concept is valid when one of its codings is.
    ``abstract=False`` refuses abstract (notSelectable) concepts.
    """
    if (value_set is None) == (code_system is None):
        raise _invalid("give exactly one of a value set or a code system to validate against")
    codings = _codings(code, system, system_version, display, coding, codeable_concept)
    if code_system is not None:
        index = _code_system(code_system)
        if code is not None and system is None:
            codings[0]["system"] = index.url
        checks = [_check_in_code_system(index, c, display_language) for c in codings]
    else:
        if code is not None and system is None:
            raise _invalid("'system' is required with 'code' when validating against a "
                           "value set")
        vs = resolve_value_set(value_set, value_set_version)
        held = members(vs)
        checks = [_check_in_value_set(vs, held, c, display_language) for c in codings]
    if not abstract:
        checks = [_Check(False, f"the code '{c.code}' is abstract and cannot be used")
                  if c.ok and c.abstract else c for c in checks]
    result = any(c.ok for c in checks)
    shown = next((c.display for c in checks if c.ok), None)
    messages = [c.message for c in checks if c.message]
    return _parameters({"name": "result", "valueBoolean": result},
                       {"name": "message", "valueString": "; ".join(messages)}
                       if messages else None,
                       {"name": "display", "valueString": shown} if shown else None)


def _codings(code: str | None, system: str | None, version: str | None,
             display: str | None, coding: dict[str, Any] | None,
             codeable_concept: dict[str, Any] | None) -> list[dict[str, Any]]:
    given = [x for x in (code, coding, codeable_concept) if x is not None]
    if len(given) != 1:
        raise _invalid("give exactly one of 'code', 'coding' or 'codeableConcept'")
    if code is not None:
        return [{k: v for k, v in (("system", system), ("version", version), ("code", code),
                                   ("display", display)) if v is not None}]
    if coding is not None:
        return [dict(coding)]
    found = (codeable_concept or {}).get("coding") or []
    if not found:
        raise _invalid("the codeableConcept has no coding to validate")
    return [dict(c) for c in found]


@dataclass(frozen=True)
class _Check:
    """The verdict on one coding: valid or not, why, and the display to show."""

    ok: bool
    message: str | None = None
    display: str | None = None
    code: str | None = None
    abstract: bool = False


def _check_in_code_system(index: CodeSystemIndex, coding: dict[str, Any],
                          language: str | None) -> _Check:
    code = coding.get("code")
    if not code:
        return _Check(False, "a coding has no code")
    if coding.get("system") not in (None, index.url):
        return _Check(False, f"the system {coding['system']} is not the code system "
                             f"{index.url}")
    concept = index.get(code)
    if concept is None:
        return _Check(False, f"the code '{code}' is not in the code system {index.url}")
    version = coding.get("version")
    if version and index.version and version != index.version:
        return _Check(False, f"the code system {index.url} is version {index.version}, not "
                             f"{version}")
    lang = index.resource.get("language")
    member = Member(index.url, index.version, concept.code, concept.display,
                    concept.designations, lang, concept.abstract, concept.inactive)
    return _check_display(member, coding, language)


def _check_in_value_set(vs: dict[str, Any], held: dict[tuple[str, str], Member],
                        coding: dict[str, Any], language: str | None) -> _Check:
    code, system = coding.get("code"), coding.get("system")
    if not code or not system:
        return _Check(False, "a coding needs both a system and a code")
    member = held.get((system, code))
    name = vs.get("url") or vs.get("id") or "the value set"
    if member is None:
        known = concepts_of(system)
        if known is None and not any(s == system for s, _ in held):
            return _Check(False, f"the code system {system} is not known")
        if known is not None and known.get(code) is None:
            return _Check(False, f"the code '{code}' is not in the code system {system}")
        return _Check(False, f"the code '{code}' of {system} is not in the value set {name}")
    version = coding.get("version")
    if version and member.version and version != member.version:
        return _Check(False, f"the code '{code}' is in {system} version {member.version}, "
                             f"not {version}")
    return _check_display(member, coding, language)


def _check_display(member: Member, coding: dict[str, Any], language: str | None) -> _Check:
    shown = display_in(member.display, member.designations, member.language, language)
    given = coding.get("display")
    message = None
    valid = [member.display, *(d.get("value") for d in member.designations)]
    if given is not None and not _same_display(given, valid):
        message = (f"the display '{given}' is not a display of the code '{member.code}'; "
                   f"expected '{shown}'")
    return _Check(True, message, shown, member.code, member.abstract)


def _same_display(given: str, valid: list[str | None]) -> bool:
    wanted = " ".join(given.split()).casefold()
    return any(v is not None and " ".join(v.split()).casefold() == wanted for v in valid)


# --- $expand ------------------------------------------------------------------------------

def expand(value_set: str | dict[str, Any], filter: str | None = None,
           count: int | None = None, offset: int | None = None,
           display_language: str | None = None, *, value_set_version: str | None = None,
           include_designations: bool = False, active_only: bool = False
           ) -> dict[str, Any]:
    """The value set (a canonical, or a ValueSet resource) with an ``expansion``: the codes
    it holds, narrowed by ``filter`` (each word a prefix of a word of the display or of a
    designation, ignoring case and accents), paged by ``offset``/``count``. ``total`` counts
    every code after the filter; the parameters used are echoed in ``expansion.parameter``.
    """
    if count is not None and not 0 <= count <= MAX_COUNT:
        raise _invalid(f"'count' must be between 0 and {MAX_COUNT}")
    if offset is not None and not 0 <= offset <= MAX_OFFSET:
        raise _invalid(f"'offset' must be between 0 and {MAX_OFFSET}")
    if filter is not None and len(filter) > MAX_FILTER:
        raise _invalid(f"'filter' is longer than {MAX_FILTER} characters")
    vs = resolve_value_set(value_set, value_set_version)
    found = list(members(vs).values())
    used = list(dict.fromkeys((m.system, m.version) for m in found if m.held))
    if active_only:
        found = [m for m in found if not m.inactive]
    if filter and filter.strip():
        found = [m for m in found if matches_text(filter, m)]
    start = offset or 0
    page = found[start:] if count is None else found[start:start + count]
    expansion: dict[str, Any] = {
        "identifier": f"urn:uuid:{uuid.uuid4()}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "total": len(found),
    }
    if offset is not None or count is not None:
        expansion["offset"] = start
    echo = [("filter", "valueString", filter), ("count", "valueInteger", count),
            ("offset", "valueInteger", offset),
            ("displayLanguage", "valueCode", display_language),
            ("includeDesignations", "valueBoolean", include_designations or None),
            ("activeOnly", "valueBoolean", active_only or None)]
    parameters = [{"name": n, key: v} for n, key, v in echo if v is not None]
    parameters += [{"name": "used-codesystem", "valueUri": f"{s}|{v}" if v else s}
                   for s, v in used]
    if parameters:
        expansion["parameter"] = parameters
    contains = [_contains(m, display_language, include_designations) for m in page]
    if contains:
        expansion["contains"] = contains
    out = {k: v for k, v in vs.items() if k not in ("text", "expansion")}
    out["expansion"] = expansion
    return out


def _contains(member: Member, language: str | None, designations: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"system": member.system}
    if member.abstract:
        entry["abstract"] = True
    if member.inactive:
        entry["inactive"] = True
    if member.version:
        entry["version"] = member.version
    entry["code"] = member.code
    shown = display_in(member.display, member.designations, member.language, language)
    if shown:
        entry["display"] = shown
    if designations and member.designations:
        entry["designation"] = [dict(d) for d in member.designations]
    return entry


# --- $translate ---------------------------------------------------------------------------

def translate(*, url: str | None = None, concept_map: dict[str, Any] | None = None,
              concept_map_version: str | None = None, code: str | None = None,
              system: str | None = None, version: str | None = None,
              coding: dict[str, Any] | None = None,
              codeable_concept: dict[str, Any] | None = None, source: str | None = None,
              target: str | None = None, target_system: str | None = None,
              reverse: bool = False, display_language: str | None = None
              ) -> dict[str, Any]:
    """Parameters with ``result`` (some match is neither unmatched nor disjoint), a
    ``message`` when there is none, and one ``match`` (equivalence, concept, source) per
    mapping found. The map is ``concept_map``, the one at ``url``, or every ConceptMap
    held whose scope fits ``source``/``target``. ``reverse`` maps from target to source.
    """
    if code is not None and system is None:
        raise _invalid("'system' is required with 'code'")
    codings = _codings(code, system, version, None, coding, codeable_concept)
    if concept_map is not None:
        maps = [concept_map]
    elif url is not None:
        found = find("ConceptMap", url, concept_map_version)
        if found is None:
            raise TerminologyError(404, "not-found", f"the concept map {url} is not known")
        maps = [found]
    else:
        maps = [m for m in all_of("ConceptMap") if _in_scope(m, source, target, reverse)]
    matches = [match for cm in maps for c in codings
               for match in _translate_one(cm, c, target_system, reverse, 0)]
    result = any(m["equivalence"] not in _UNMATCHED for m in matches)
    message = None
    if not result:
        wanted = ", ".join(f"{c.get('system')}|{c.get('code')}" for c in codings)
        message = f"no mapping found for {wanted}"
    return _parameters({"name": "result", "valueBoolean": result},
                       {"name": "message", "valueString": message} if message else None,
                       *({"name": "match", "part": _match_parts(m, display_language)}
                         for m in matches))


def _in_scope(cm: dict[str, Any], source: str | None, target: str | None,
              reverse: bool) -> bool:
    scopes = (cm.get("sourceUri") or cm.get("sourceCanonical"),
              cm.get("targetUri") or cm.get("targetCanonical"))
    if reverse:
        scopes = scopes[::-1]
    return all(wanted is None or (scope is not None and split_canonical(scope)[0]
                                  == split_canonical(wanted)[0])
               for wanted, scope in ((source, scopes[0]), (target, scopes[1])))


def _translate_one(cm: dict[str, Any], coding: dict[str, Any], target_system: str | None,
                   reverse: bool, depth: int) -> list[dict[str, Any]]:
    if depth > 5:
        raise TerminologyError(400, "processing", "concept maps refer to each other in a loop")
    system, code = coding.get("system"), coding.get("code")
    out: list[dict[str, Any]] = []
    for group in cm.get("group", []):
        here, there = (group.get("target"), group.get("source")) if reverse else (
            group.get("source"), group.get("target"))
        if here != system or (target_system is not None and there != target_system):
            continue
        before = len(out)
        for element in group.get("element", []):
            for tgt in element.get("target", []):
                if reverse and tgt.get("code") == code:
                    out.append(_match(cm, there, group.get("sourceVersion"),
                                      element.get("code"), element.get("display"),
                                      _REVERSED.get(tgt.get("equivalence", ""),
                                                    tgt.get("equivalence", "equivalent"))))
                elif not reverse and element.get("code") == code:
                    out.append(_match(cm, there, group.get("targetVersion"), tgt.get("code"),
                                      tgt.get("display"), tgt.get("equivalence", "equivalent")))
        unmapped = group.get("unmapped")
        if len(out) == before and unmapped and not reverse:
            out += _unmapped(cm, group, unmapped, coding, target_system, depth)
    return out


def _unmapped(cm: dict[str, Any], group: dict[str, Any], unmapped: dict[str, Any],
              coding: dict[str, Any], target_system: str | None, depth: int
              ) -> list[dict[str, Any]]:
    """ConceptMap.group.unmapped: ``provided`` keeps the code, ``fixed`` gives one code,
    ``other-map`` asks another map."""
    mode = unmapped.get("mode")
    if mode == "provided":
        return [_match(cm, group.get("target"), None, coding.get("code"), None, "equal")]
    if mode == "fixed":
        return [_match(cm, group.get("target"), None, unmapped.get("code"),
                       unmapped.get("display"), "inexact")]
    if mode == "other-map" and unmapped.get("url"):
        other = find("ConceptMap", unmapped["url"])
        if other is not None:
            return _translate_one(other, coding, target_system, False, depth + 1)
    return []


def _match(cm: dict[str, Any], system: str | None, version: str | None, code: str | None,
           display: str | None, equivalence: str) -> dict[str, Any]:
    concept = None
    if code is not None:
        concept = {k: v for k, v in (("system", system), ("version", version), ("code", code),
                                     ("display", display)) if v is not None}
    return {"equivalence": equivalence, "concept": concept, "source": cm.get("url")}


def _match_parts(match: dict[str, Any], language: str | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"name": "equivalence", "valueCode": match["equivalence"]}]
    concept = match["concept"]
    if concept is not None:
        index = concepts_of(concept["system"]) if concept.get("system") else None
        known = index.get(concept["code"]) if index is not None else None
        if known is not None and (language is not None or "display" not in concept):
            concept = {**concept, "display": display_in(
                known.display, known.designations, index.resource.get("language"),
                language)}
        parts.append({"name": "concept", "valueCoding": concept})
    if match["source"]:
        parts.append({"name": "source", "valueUri": match["source"]})
    return parts
