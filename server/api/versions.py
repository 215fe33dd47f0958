"""FHIR version negotiation: R4B (4.3.0) by default, R4 (4.0.1) for clients that ask.

See: https://hl7.org/fhir/R4B/http.html#version-parameter

The rule. A client names the FHIR version it wants with the ``fhirVersion`` parameter of
the FHIR JSON media type: in Accept for what it reads, in Content-Type for what it sends
(``application/fhir+json; fhirVersion=4.0``). Values are major.minor (``4.3``, ``4.0``);
``4.3.0`` and ``4.0.1`` are taken too. Without the parameter the server speaks R4B. Any
other version is refused: 406 in Accept, 415 in Content-Type.

R4 is served only where R4 and R4B agree, never converted. A resource goes out as R4 when
its type's base definition is identical in both versions, or every element that differs
is absent from it, or the only differences are Reference targets R4B added and every
reference there points to a type R4 allows. Contained resources, Bundle entries and
``entry.response.outcome`` must pass too. Anything else is a 406. The comparison is
``profiles/r4b/r4-compatibility.json``, written by ``scripts/build_r4_compat.py`` from
the HL7 definitions.

Why R4 at all: Chile's national guides (CL Core, MINSAL) are R4, and R4 clients check
the server's version before they talk to it.
"""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from importlib import resources

from server.errors import not_acceptable, unsupported_media_type

__all__ = ["R4", "R4B", "RELEASES", "body_version", "check_servable", "media_type",
           "r4_resource_types", "requested_version"]

R4B = "4.3"
R4 = "4.0"
RELEASES = {R4B: "4.3.0", R4: "4.0.1"}  # for CapabilityStatement.fhirVersion

_VERSIONS = {"4.3": R4B, "4.3.0": R4B, "4.0": R4, "4.0.1": R4}
_FHIR_JSON = "application/fhir+json"
# How specifically an Accept media range names the FHIR JSON the server sends; the most
# specific range decides (RFC 9110 section 12.5.1). application/json is taken as FHIR JSON.
_RANK = {_FHIR_JSON: 4, "application/json": 3, "application/*": 2, "*/*": 1}
_SERVED = "it serves FHIR JSON (application/fhir+json) as fhirVersion 4.3 (R4B) or 4.0 (R4)"
_SD = "http://hl7.org/fhir/StructureDefinition/"
# The resource type of a relative, absolute or conditional reference.
_REFERENCE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)"
                        r"(?:/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?|\?.*)$")


@lru_cache(maxsize=256)  # clients send the same few Accept headers over and over
def requested_version(accept: str | None) -> str:
    """Return the FHIR version (R4B or R4) to answer with, from an Accept header.

    The most specific media range naming each version decides its q; q=0 excludes it; the
    highest q wins, then the more specific range, then R4B. ``text/html,*/*`` gets R4B.
    Raises 406 when no FHIR JSON in 4.3 or 4.0 is acceptable.
    """
    if not accept or not accept.strip():
        return R4B
    best: dict[str, tuple[tuple[int, bool], float]] = {}
    unknown = False
    for media, params in _media_types(accept):
        rank, q = _RANK.get(media, 0), _quality(params.get("q"))
        if not rank or q is None:
            continue
        asked = params.get("fhirversion")
        if asked is not None and asked not in _VERSIONS:
            unknown = True
            continue
        specificity = (rank, asked is not None)
        for version in (R4B, R4) if asked is None else (_VERSIONS[asked],):
            known = best.get(version)
            if known is None or specificity > known[0]:
                best[version] = (specificity, q)
            elif specificity == known[0]:
                best[version] = (specificity, max(q, known[1]))
    acceptable = [(q, specificity, version == R4B, version)
                  for version, (specificity, q) in best.items() if q > 0]
    if not acceptable:
        asked = "the fhirVersion asked for is not supported" if unknown else \
            "Accept names no media type it can send"
        raise not_acceptable(f"Not acceptable: {asked}; {_SERVED}")
    return max(acceptable)[-1]


def body_version(content_type: str | None) -> str:
    """Return the FHIR version (R4B or R4) of a FHIR JSON request body, from Content-Type.

    Takes ``application/fhir+json`` and ``application/json``, with an optional
    ``fhirVersion`` (none means R4B) and ``charset`` (UTF-8 only). Anything else, including
    a missing Content-Type and ``application/json-patch+json``, raises 415: a PATCH
    handler checks for JSON Patch before it calls this.
    """
    media_types = _media_types(content_type or "")
    if len(media_types) != 1 or media_types[0][0] not in (_FHIR_JSON, "application/json"):
        raise unsupported_media_type(f"Unsupported Content-Type: {_SERVED}")
    params = media_types[0][1]
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise unsupported_media_type("Unsupported charset: FHIR JSON bodies are UTF-8")
    asked = params.get("fhirversion")
    if asked is None:
        return R4B
    if asked not in _VERSIONS:
        raise unsupported_media_type(f"Unsupported fhirVersion in Content-Type: {_SERVED}")
    return _VERSIONS[asked]


def media_type(version: str) -> str:
    """Return the Content-Type of a response in ``version``."""
    if version not in RELEASES:
        raise ValueError(f"unknown FHIR version {version!r}")
    return f"{_FHIR_JSON}; fhirVersion={version}"


def r4_resource_types() -> frozenset[str]:
    """Return the types an R4 CapabilityStatement may list: identical, or targets only."""
    return _r4_types()


def check_servable(resource: dict, version: str) -> None:
    """Return None when ``resource`` can go out in ``version``; raise 406 when it cannot.

    Always None for R4B. For R4, see the module docstring; nested resources are checked
    wherever they are (contained, Bundle.entry.resource, entry.response.outcome,
    Parameters.parameter.resource).
    """
    if version == R4B:
        return
    if version != R4:
        raise ValueError(f"unknown FHIR version {version!r}")
    if reason := _unservable(resource, {}, {}):
        raise not_acceptable(f"Not acceptable as FHIR R4 (fhirVersion=4.0): {reason}; "
                             "it can be read as R4B (fhirVersion=4.3)")


@cache
def _compatibility() -> dict:
    """Return r4-compatibility.json, with ``identical`` as a frozenset."""
    path = resources.files("profiles.r4b").joinpath("r4-compatibility.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    return data | {"identical": frozenset(data["identical"])}


@cache
def _r4_types() -> frozenset[str]:
    data = _compatibility()
    return data["identical"] | frozenset(
        name for name, differences in data["different"].items()
        if all(difference["kind"] == "targets" for difference in differences.values()))


def accepts_any(accept: str | None, media_types: set[str]) -> bool:
    """True when ``accept`` names one of ``media_types`` with a quality above 0."""
    return any(media in media_types and (_quality(params.get("q")) or 0) > 0
               for media, params in _media_types(accept or ""))


def _media_types(header: str) -> list[tuple[str, dict[str, str]]]:
    """Return (media type, parameters with lower-cased names) for each item of a header."""
    items = []
    for item in _split(header, ","):
        media, *params = _split(item, ";")
        parameters = {}
        for param in params:
            name, _, value = param.partition("=")
            parameters[name.strip().lower()] = value.strip().strip('"')
        items.append((media.lower(), parameters))
    return items


def _split(text: str, separator: str) -> list[str]:
    """Return the non-empty parts of ``text`` between separators outside quoted strings."""
    parts, start, quoted = [], 0, False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part.strip() for part in parts if part.strip()]


def _quality(value: str | None) -> float | None:
    """Return a q parameter as a number, 1 when absent, None when malformed."""
    if value is None:
        return 1.0
    try:
        q = float(value)
    except ValueError:
        return None
    return q if 0 <= q <= 1 else None


def _unservable(resource: dict, ids: dict[str, str], urls: dict[str, str]) -> str | None:
    """Return why ``resource`` (and what it nests) is not servable as R4, or None.

    ``ids`` maps contained ids to types for ``#id`` references; ``urls`` maps the fullUrls
    of the enclosing Bundles to types.
    """
    data = _compatibility()
    name = resource.get("resourceType")
    if not isinstance(name, str):
        return "a resource has no resourceType"
    if name not in data["identical"] and name not in data["different"]:
        return f"{name[:64]} is not an R4 resource type"
    # "#id" finds a sibling of the container's contained, "#" the container itself.
    ids = {**(ids or {"": name}), **_types_by_key(resource.get("contained"), "id")}
    if name == "Bundle":
        urls = {**urls, **_full_urls(resource.get("entry"))}
    found: dict[str, list] = {}
    nested: list[tuple[str, dict]] = []
    _walk(resource, name, data["contentReferences"], found, nested)
    for path, difference in data["different"].get(name, {}).items():
        values = [value for at, values in found.items() if _matches(path, at)
                  for value in values]
        parent = path.rpartition(".")[0]
        if difference.get("r4Required") and not values and (
                parent == name or any(_matches(parent, at) for at in found)):
            return f"R4 requires {path}, which R4B leaves out"
        if not values:
            continue
        if difference["kind"] != "targets":
            return f"{path} is defined differently in R4"
        allowed = set(difference["r4Targets"])
        for value in values:
            targets = _target_types(value, ids, urls)
            if targets is None or not targets <= allowed:
                return f"{path} refers to a resource type R4 does not allow there"
    for at, child in nested:
        inner = ids if at == f"{name}.contained" else {}
        if reason := _unservable(child, inner, urls):
            return reason
    return None


def _types_by_key(items: object, key: str) -> dict[str, str]:
    """Return ``item[key]`` -> resourceType for a list of resources (contained by id)."""
    if not isinstance(items, list):
        return {}
    return {r[key]: r.get("resourceType") for r in items
            if isinstance(r, dict) and isinstance(r.get(key), str)}


def _full_urls(entries: object) -> dict[str, str]:
    """Return fullUrl -> resourceType for a list of Bundle entries."""
    if not isinstance(entries, list):
        return {}
    return _types_by_key([e["resource"] | {"fullUrl": e.get("fullUrl")} for e in entries
                          if isinstance(e, dict) and isinstance(e.get("resource"), dict)],
                         "fullUrl")


def _walk(node: dict, path: str, aliases: dict[str, str], found: dict[str, list],
          nested: list[tuple[str, dict]]) -> None:
    """Collect every element of ``node`` under its definition path, not entering resources.

    ``_name`` (a primitive's id and extensions) counts as ``name``; a contentReference
    (``Questionnaire.item.item``) is followed to the path it reuses.
    """
    for key, value in node.items():
        if key == "resourceType":
            continue
        at = f"{path}.{key.removeprefix('_')}"
        at = aliases.get(at, at)
        for item in value if isinstance(value, list) else [value]:
            found.setdefault(at, []).append(item)
            if isinstance(item, dict) and "resourceType" in item:
                nested.append((at, item))
            elif isinstance(item, dict):
                _walk(item, at, aliases, found, nested)


def _matches(definition: str, instance: str) -> bool:
    """Return whether an instance path is at a definition path (``value[x]``: valueQuantity)."""
    expected, actual = definition.split("."), instance.split(".")
    return len(expected) == len(actual) and all(
        e == a or (e.endswith("[x]") and a.startswith(e[:-3]) and a[len(e) - 3:][:1].isupper())
        for e, a in zip(expected, actual, strict=True))


def _target_types(reference: object, ids: dict[str, str], urls: dict[str, str]
                  ) -> set[str] | None:
    """Return the types a Reference points to; None when it points somewhere unknown.

    A Reference with neither ``reference`` nor ``type`` (identifier or display only)
    points to no type: empty set.
    """
    if not isinstance(reference, dict):
        return None
    types = set()
    if "type" in reference:
        if not isinstance(reference["type"], str):
            return None
        types.add(reference["type"].removeprefix(_SD))
    if "reference" in reference:
        target = reference["reference"]
        if not isinstance(target, str):
            return None
        if target.startswith("#"):
            kind = ids.get(target[1:])
        elif target in urls:
            kind = urls[target]
        else:
            match = _REFERENCE.search(target)
            kind = match and match.group(1)
        if not isinstance(kind, str):
            return None
        types.add(kind)
    return types
