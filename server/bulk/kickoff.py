"""An ``$export`` kick-off, checked and read into an ``ExportRequest`` (``request.py``).

See https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-kick-off-request.
Parameters, by GET (POST with a Parameters body is not supported: 405):

- ``_outputFormat``: ``application/fhir+ndjson`` (default), ``application/ndjson`` or
  ``ndjson``; anything else is 400.
- ``_since``: a FHIR instant (with seconds and a timezone); resources changed after it.
- ``_type``: resource types, comma-separated, repeatable. Unknown types, the audit trail
  (served to auditors alone), types outside a survivor's record at the Patient and Group
  levels and types the de-identified form does not carry are 400; a type the token's
  scopes do not allow searching is 403. Without ``_type``: every type the scopes allow
  searching, of those the level carries.
- ``_typeFilter``: ``Type?query`` searches, comma-separated, repeatable; a type's
  queries are OR-ed and its resources are those matching one of them. Result parameters
  (``_include``, ``_sort``, ``_count``...) and parameters this server does not apply are
  400, and so is a filter of a type not exported. Refused altogether in the
  de-identified mode: a filter could single one woman out.
- ``_elements``, ``patient``, ``includeAssociatedData`` and unknown parameters are not
  supported: 400, or with ``Prefer: handling=lenient`` ignored and reported in the
  manifest's ``error`` file (as are unknown and unexportable ``_type`` values).

Diagnostics never echo more than a short, truncated piece of what was sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl

from server import clock, errors
from server.access import RECORD_TYPES
from server.bulk.request import GROUP, PATIENT, SYSTEM, ExportRequest
from server.search.definitions import resource_types
from server.search.parse import parse_search
from server.search.parse_result import RESULT_PARAMS

__all__ = ["COMPARTMENT", "OUTPUT_FORMATS", "parse_prefer", "read_request"]

OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
#: A survivor's record (the platform's reading of the Patient compartment, as
#: ``$everything``'s): what the Patient and Group levels export.
COMPARTMENT = ("Patient", *RECORD_TYPES)
#: The Bulk Data IG's optional parameters this server does not support.
_UNSUPPORTED = ("_elements", "patient", "includeAssociatedData")
_NEUTRAL = ("_format", "_pretty")
_SINGLE = ("_outputFormat", "_since")
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")
#: Where one ``_typeFilter`` query ends: a comma followed by the next ``Type?``.
_NEXT_QUERY = re.compile(r",(?=[A-Z][A-Za-z]*\?)")
_NEVER = frozenset({"AuditEvent"})


def parse_prefer(header: str | None) -> tuple[bool, bool]:
    """(``respond-async`` asked, ``handling=lenient`` asked) of a Prefer header."""
    tokens = {t.strip().lower().replace(" ", "") for t in (header or "").split(",")}
    return "respond-async" in tokens, "handling=lenient" in tokens


def read_request(params: list[tuple[str, str]], *, level: str, request_url: str,
                 transaction: tuple[str, int], searchable: Callable[[str], bool],
                 exportable: tuple[str, ...] | None = None, deidentified: bool = False,
                 lenient: bool = False, group: str | None = None,
                 members: tuple[str, ...] = ()) -> ExportRequest:
    """The export ``params`` ask for at ``level``; ``searchable(type)`` says whether the
    token's scopes allow searching a type, ``exportable`` narrows the types further (the
    de-identified form's). Raises ``FhirError`` (400, 403) for what cannot be honoured."""
    ignored: list[str] = []
    given: dict[str, list[str]] = {}
    for name, value in params:
        if name in _NEUTRAL:
            continue
        if name not in ("_outputFormat", "_since", "_type", "_typeFilter"):
            what = "is not supported" if name in _UNSUPPORTED else "is not a parameter " \
                "of $export"
            _refuse(f"{name[:64]} {what}", lenient, ignored)
            continue
        if name in _SINGLE and name in given:
            raise errors.invalid(f"{name} may be given only once")
        given.setdefault(name, []).append(value)
    output = (given.get("_outputFormat") or ["application/fhir+ndjson"])[0]
    if output.strip().lower() not in OUTPUT_FORMATS:
        raise errors.not_supported(
            f"_outputFormat {output[:64]!r} is not supported: use application/fhir+ndjson, "
            "application/ndjson or ndjson")
    since, since_us = _since(given.get("_since"))
    carried = _carried(level, exportable)
    types = _types(given.get("_type"), carried, searchable, lenient, ignored)
    filters = _filters(given.get("_typeFilter"), types, deidentified)
    return ExportRequest(level=level, types=types, request_url=request_url,
                         transaction_time=transaction[0], transaction_us=transaction[1],
                         since=since, since_us=since_us, type_filters=filters,
                         group=group if level == GROUP else None, members=members,
                         deidentified=deidentified, ignored=tuple(ignored))


def _refuse(message: str, lenient: bool, ignored: list[str]) -> None:
    if not lenient:
        raise errors.not_supported(message)
    ignored.append(message + "; ignored (Prefer: handling=lenient)")


def _since(values: list[str] | None) -> tuple[str | None, int | None]:
    if not values:
        return None, None
    value = values[0]
    at = clock.parse_instant(value) if _INSTANT.fullmatch(value) else None
    if at is None:
        raise errors.invalid("_since must be a FHIR instant with seconds and a timezone, "
                             "e.g. 2025-01-31T00:00:00Z")
    return value, at


def _carried(level: str, exportable: tuple[str, ...] | None) -> tuple[str, ...]:
    """The types ``level`` can export, in export order."""
    if level in (PATIENT, GROUP):
        types = COMPARTMENT
    elif level == SYSTEM:
        types = tuple(t for t in sorted(resource_types()) if t not in _NEVER)
    else:
        raise ValueError(f"unknown export level {level!r}")
    if exportable is not None:
        types = tuple(t for t in types if t in exportable)
    return types


def _types(values: list[str] | None, carried: tuple[str, ...],
           searchable: Callable[[str], bool], lenient: bool,
           ignored: list[str]) -> tuple[str, ...]:
    if not values:
        return tuple(t for t in carried if searchable(t))
    asked: list[str] = []
    for value in values:
        for type in (t.strip() for t in value.split(",")):
            if not type:
                raise errors.invalid("_type holds an empty resource type")
            if type not in resource_types():
                _refuse(f"_type: {type[:64]} is not a resource type", lenient, ignored)
            elif type not in carried:
                _refuse(f"_type: {type} is not exported at this level or in this mode",
                        lenient, ignored)
            elif not searchable(type):
                raise errors.FhirError(403, "forbidden", f"_type: the access token's scopes "
                                       f"do not allow search on {type} resources")
            elif type not in asked:
                asked.append(type)
    if not asked:
        raise errors.invalid("_type names no resource type this export can carry")
    return tuple(t for t in carried if t in asked)


def _filters(values: list[str] | None, types: tuple[str, ...],
             deidentified: bool) -> dict[str, tuple[str, ...]]:
    if not values:
        return {}
    if deidentified:
        raise errors.FhirError(
            403, "forbidden", "_typeFilter is not accepted in a de-identified export: a "
            "filter could single out a survivor")
    found: dict[str, list[str]] = {}
    for value in values:
        for query in _NEXT_QUERY.split(value):
            type, mark, text = query.partition("?")
            if not mark or not text:
                raise errors.invalid("_typeFilter values are searches such as "
                                     "Observation?code=... (Type?query)")
            if type not in types:
                raise errors.invalid(f"_typeFilter: {type[:64]} is not exported by this "
                                     "request (see _type)")
            pairs = parse_qsl(text, keep_blank_values=True)
            if not pairs:
                raise errors.invalid(f"_typeFilter: the {type} query selects nothing")
            result = sorted({n.partition(":")[0] for n, _ in pairs} & RESULT_PARAMS)
            if result:
                raise errors.invalid(f"_typeFilter: result parameters ({', '.join(result)}) "
                                     "may not be used")
            parse_search(type, pairs, strict=True)  # 400 for anything not applied
            found.setdefault(type, []).append(text)
    return {type: tuple(queries) for type, queries in found.items()}
