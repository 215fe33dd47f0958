"""The terminology operations over HTTP: $expand, $validate-code, $lookup, $translate.

Each operation takes its inputs from the query (GET: primitive parameters only) or from
a ``Parameters`` body (POST, where Coding, CodeableConcept and resources may be sent too;
query parameters are added to it), checks names and types against the operation's
definition, and calls ``terminology.operations``, whose ``TerminologyError`` becomes the
OperationOutcome. ``[id]`` is the id of a resource held by ``terminology.registry``.
See: https://hl7.org/fhir/R4B/terminology-service.html and https://hl7.org/fhir/R4B/operations.html
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from terminology import operations, registry

_TEXT = frozenset({"valueString", "valueCode", "valueUri", "valueUrl", "valueCanonical",
                   "valueId", "valueMarkdown"})
_INTEGER = frozenset({"valueInteger", "valueUnsignedInt", "valuePositiveInt"})
_KINDS: dict[str, frozenset[str]] = {
    "text": _TEXT, "integer": _INTEGER, "boolean": frozenset({"valueBoolean"}),
    "Coding": frozenset({"valueCoding"}),
    "CodeableConcept": frozenset({"valueCodeableConcept"}),
}
_RESOURCES = {"ValueSet", "CodeSystem", "ConceptMap"}
_INT = re.compile(r"[+-]?\d{1,9}")
#: Parameters of the R4B definitions accepted and ignored: they shape what a fuller server
#: adds to an expansion, and ``date`` asks for versions by date (ours are not dated).
_IGNORED = {"date", "excludeNested", "excludeNotForUI", "excludePostCoordinated",
            "includeDefinition", "limitedExpansion"}

#: name -> kind, per operation (https://hl7.org/fhir/R4B/valueset-operation-expand.html...)
EXPAND = {"url": "text", "valueSet": "ValueSet", "valueSetVersion": "text",
          "filter": "text", "count": "integer", "offset": "integer",
          "displayLanguage": "text", "includeDesignations": "boolean",
          "activeOnly": "boolean"}
VALIDATE_VS = {"url": "text", "valueSet": "ValueSet", "valueSetVersion": "text",
               "code": "text", "system": "text", "systemVersion": "text", "display": "text",
               "coding": "Coding", "codeableConcept": "CodeableConcept",
               "displayLanguage": "text", "abstract": "boolean"}
VALIDATE_CS = {"url": "text", "codeSystem": "CodeSystem", "code": "text", "version": "text",
               "display": "text", "coding": "Coding", "codeableConcept": "CodeableConcept",
               "displayLanguage": "text", "abstract": "boolean"}
LOOKUP = {"code": "text", "system": "text", "version": "text", "coding": "Coding",
          "displayLanguage": "text", "property": "text"}
TRANSLATE = {"url": "text", "conceptMap": "ConceptMap", "conceptMapVersion": "text",
             "code": "text", "system": "text", "version": "text", "source": "text",
             "coding": "Coding", "codeableConcept": "CodeableConcept", "target": "text",
             "targetsystem": "text", "reverse": "boolean"}
_REPEATED = {"property"}


@route("GET", "ValueSet/$expand", None, "type")
@route("POST", "ValueSet/$expand", None, "type")
@route("GET", "ValueSet/:id/$expand", None, "instance")
@route("POST", "ValueSet/:id/$expand", None, "instance")
def expand(ctx: Context, req: FhirRequest, id: str | None = None) -> FhirResponse:
    args = arguments(ctx, req, "$expand", EXPAND)
    return _run(operations.expand, value_set=_value_set(args, id),
                value_set_version=args.get("valueSetVersion"), filter=args.get("filter"),
                count=args.get("count"), offset=args.get("offset"),
                display_language=args.get("displayLanguage"),
                include_designations=args.get("includeDesignations", False),
                active_only=args.get("activeOnly", False))


@route("GET", "ValueSet/$validate-code", None, "type")
@route("POST", "ValueSet/$validate-code", None, "type")
@route("GET", "ValueSet/:id/$validate-code", None, "instance")
@route("POST", "ValueSet/:id/$validate-code", None, "instance")
def validate_value_set_code(ctx: Context, req: FhirRequest, id: str | None = None
                            ) -> FhirResponse:
    args = arguments(ctx, req, "$validate-code", VALIDATE_VS)
    return _run(operations.validate_code, value_set=_value_set(args, id),
                value_set_version=args.get("valueSetVersion"),
                system_version=args.get("systemVersion"), **_coded(args))


@route("GET", "CodeSystem/$validate-code", None, "type")
@route("POST", "CodeSystem/$validate-code", None, "type")
@route("GET", "CodeSystem/:id/$validate-code", None, "instance")
@route("POST", "CodeSystem/:id/$validate-code", None, "instance")
def validate_code_system_code(ctx: Context, req: FhirRequest, id: str | None = None
                              ) -> FhirResponse:
    args = arguments(ctx, req, "$validate-code", VALIDATE_CS)
    version = args.get("version")
    if id is not None:
        held = _held("CodeSystem", id)
        code_system: Any = f"{held['url']}|{held['version']}" if held.get(
            "version") else held["url"]
    elif "codeSystem" in args:
        code_system = args["codeSystem"]
    elif "url" in args:
        code_system = f"{args['url']}|{version}" if version else args["url"]
    else:
        raise errors.invalid("$validate-code needs 'url' or 'codeSystem' (or "
                             "CodeSystem/[id]/$validate-code)")
    return _run(operations.validate_code, code_system=code_system, system_version=version,
                **_coded(args))


@route("GET", "CodeSystem/$lookup", None, "type")
@route("POST", "CodeSystem/$lookup", None, "type")
def lookup(ctx: Context, req: FhirRequest) -> FhirResponse:
    args = arguments(ctx, req, "$lookup", LOOKUP)
    coding = args.get("coding") or {}
    system, code = args.get("system", coding.get("system")), args.get("code",
                                                                       coding.get("code"))
    if not system or not code:
        raise errors.invalid("$lookup needs 'system' and 'code', or a 'coding' with both")
    return _run(operations.lookup, system=system, code=code,
                version=args.get("version", coding.get("version")),
                display_language=args.get("displayLanguage"),
                properties=args.get("property"))


@route("GET", "ConceptMap/$translate", None, "type")
@route("POST", "ConceptMap/$translate", None, "type")
@route("GET", "ConceptMap/:id/$translate", None, "instance")
@route("POST", "ConceptMap/:id/$translate", None, "instance")
def translate(ctx: Context, req: FhirRequest, id: str | None = None) -> FhirResponse:
    args = arguments(ctx, req, "$translate", TRANSLATE)
    if not any(name in args for name in ("code", "coding", "codeableConcept")):
        raise errors.invalid("$translate needs 'code' and 'system', 'coding' or "
                             "'codeableConcept'")
    return _run(operations.translate,
                concept_map=_held("ConceptMap", id) if id else args.get("conceptMap"),
                url=args.get("url"), concept_map_version=args.get("conceptMapVersion"),
                code=args.get("code"), system=args.get("system"),
                version=args.get("version"), coding=args.get("coding"),
                codeable_concept=args.get("codeableConcept"), source=args.get("source"),
                target=args.get("target"), target_system=args.get("targetsystem"),
                reverse=args.get("reverse", False))


# --- inputs -------------------------------------------------------------------------------

def arguments(ctx: Context, req: FhirRequest, operation: str, spec: dict[str, str]
              ) -> dict[str, Any]:
    """The operation's inputs by name, typed; 400 for an unknown name, a wrong type, a
    repeated single parameter, or a complex type sent in the query."""
    args: dict[str, Any] = {}
    for name, text in req.params:
        if name.startswith("_"):  # _format, _pretty: the HTTP layer's
            continue
        _put(args, operation, name, _from_query(operation, spec, name, text), None)
    if req.method == "POST" and req.raw:
        body = req.resource(ctx.settings, "Parameters").resource
        for i, parameter in enumerate(body.get("parameter", [])):
            where = f"Parameters.parameter[{i}]"
            name = parameter["name"]
            _put(args, operation, name, _from_body(operation, spec, parameter, where), where)
    return args


def _put(args: dict[str, Any], operation: str, name: str, value: Any, where: str | None
         ) -> None:
    if value is None:  # an ignored parameter
        return
    if name in _REPEATED:
        args.setdefault(name, []).append(value)
    elif name in args:
        raise errors.invalid(f"{operation} takes '{name}' once", [where] if where else None)
    else:
        args[name] = value


def _kind(operation: str, spec: dict[str, str], name: str, where: str | None) -> str | None:
    if name in _IGNORED:
        return None
    kind = spec.get(name)
    if kind is None:
        raise errors.FhirError(400, "not-supported",
                               f"{operation} has no parameter '{name[:64]}'",
                               [where] if where else None)
    return kind


def _from_query(operation: str, spec: dict[str, str], name: str, text: str) -> Any:
    kind = _kind(operation, spec, name, None)
    if kind is None:
        return None
    if kind == "text":
        return text
    if kind == "integer":
        if not _INT.fullmatch(text.strip()):
            raise errors.invalid(f"'{name}' must be an integer")
        return int(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise errors.invalid(f"'{name}' must be true or false")
        return text == "true"
    raise errors.invalid(f"'{name}' is a {kind}: send it in a POST Parameters body")


def _from_body(operation: str, spec: dict[str, str], parameter: dict[str, Any],
               where: str) -> Any:
    name = parameter["name"]
    kind = _kind(operation, spec, name, where)
    if kind is None:
        return None
    if kind in _RESOURCES:
        resource = parameter.get("resource")
        if not isinstance(resource, dict) or resource.get("resourceType") != kind:
            raise errors.invalid(f"'{name}' must be a {kind} resource", [where])
        return resource
    keys = [k for k in parameter if k.startswith("value")]
    if len(keys) != 1 or keys[0] not in _KINDS[kind]:
        raise errors.invalid(f"'{name}' must be a {kind}", [where])
    value = parameter[keys[0]]
    if kind == "integer" and (not isinstance(value, int) or abs(value) > 10**9):
        raise errors.invalid(f"'{name}' is out of range", [where])
    return value


def _value_set(args: dict[str, Any], id: str | None) -> Any:
    if id is not None:
        held = _held("ValueSet", id)
        if "url" in args and args["url"] != held.get("url"):
            raise errors.invalid(f"'url' does not match ValueSet/{id}")
        return held
    if "valueSet" in args:
        return args["valueSet"]
    if "url" in args:
        return args["url"]
    raise errors.invalid("give 'url' or 'valueSet' (or use ValueSet/[id]/$operation)")


def _coded(args: dict[str, Any]) -> dict[str, Any]:
    return {"code": args.get("code"), "system": args.get("system"),
            "display": args.get("display"), "coding": args.get("coding"),
            "codeable_concept": args.get("codeableConcept"),
            "display_language": args.get("displayLanguage"),
            "abstract": args.get("abstract", True)}


def _held(type: str, id: str) -> dict[str, Any]:
    found = registry.get(type, id)
    if found is None:
        raise errors.not_found(f"{type}/{id} is not known")
    return found


def _run(operation: Callable[..., dict[str, Any]], **kwargs: Any) -> FhirResponse:
    try:
        return FhirResponse(200, operation(**kwargs))
    except registry.TerminologyError as error:
        raise errors.FhirError(error.status, error.code, error.message) from None
