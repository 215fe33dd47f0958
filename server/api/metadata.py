"""The CapabilityStatement, generated from the route table and the search parser.

Nothing here is a hand-written list: interactions come from the registered routes,
resource types from the R4B definitions (or, for R4 clients, the types R4 can be served
for), search parameters from what ``server.search.parse`` applies, and each operation's
definition from the IG's OperationDefinitions, or else R4B's.
See: https://hl7.org/fhir/R4B/http.html#capabilities
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import orjson

from profiles import ig
from server.api import audit
from server.api.router import Context, FhirRequest, FhirResponse, route, routes
from server.api.versions import R4, RELEASES, r4_resource_types
from server.api.write import NOT_WRITABLE
from server.search.definitions import params_for, resource_types
from server.search.parse import supported_params
from server.search.parse_values import modifiers
from server.subscriptions.topics import topics

_TYPE_LEVELS = ("type", "instance")
#: The interactions that change a resource: none of them for a read-only type.
_WRITES = frozenset({"create", "update", "patch", "delete"})
#: Where R4B's own OperationDefinitions live (``Patient-everything``, ``ValueSet-expand``).
CORE_OPERATIONS = "http://hl7.org/fhir/OperationDefinition/"
#: The Subscriptions Backport IG's (``$status``, ``$events``, ``$get-ws-binding-token``).
BACKPORT_OPERATIONS = "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/"
_BACKPORT_OPERATIONS = ("status", "events", "get-ws-binding-token")
#: The Bulk Data Access IG's CapabilityStatement this server instantiates.
BULK_DATA = "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"
#: The extension that lists, on Subscription, the topics a server offers.
TOPIC_CANONICAL = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                   "capabilitystatement-subscriptiontopic-canonical")


@route("GET", "metadata", None, "system")
def capabilities(ctx: Context, req: FhirRequest) -> FhirResponse:
    return FhirResponse(200, _statement(ctx.version, ctx.base_url))


@cache
def _statement(version: str, base_url: str) -> bytes:
    types = r4_resource_types() if version == R4 else resource_types()
    type_interactions = _interactions(_TYPE_LEVELS)
    statement = {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-28",
        "publisher": "Amparo",
        "kind": "instance",
        # the Bulk Data Access IG's server statement: $export at system, Patient and
        # Group level (server/api/bulk_export.py)
        "instantiates": [BULK_DATA],
        "software": {"name": "Amparo", "version": _software_version()},
        "implementation": {"description": "Amparo: plataforma de intercambio FHIR para la "
                                          "gestión integrada de casos de violencia contra "
                                          "las mujeres", "url": base_url},
        "fhirVersion": RELEASES[version],
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "security": _security(base_url),
            "resource": [_resource(t, type_interactions, types) for t in sorted(types)],
            "interaction": [{"code": code} for code in _interactions(("system",))],
            "searchParam": [dict(p) for p in RESULT_SEARCH_PARAMS],
            "operation": [{"name": name, "definition": _system_operations()[name]}
                          for name in sorted(_system_operations())],
        }],
    }
    return orjson.dumps(statement)


def _security(base_url: str) -> dict:
    """SMART on FHIR: where to get a token (``server/auth/``). See:
    https://hl7.org/fhir/smart-app-launch/conformance.html#using-cors"""
    from server.auth.endpoints import JWKS_PATH, TOKEN_PATH

    return {
        "cors": False,
        "service": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
            "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"}]}],
        "extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "token", "valueUri": f"{base_url}/{TOKEN_PATH}"}],
        }],
        "description": "SMART Backend Services: grant client_credentials with "
                       "client_secret_basic or private_key_jwt at the token endpoint "
                       f"({base_url}/{TOKEN_PATH}; keys at {base_url}/{JWKS_PATH}), "
                       "scopes system/<type>.<cruds>, purpose_of_use an HL7 v3 "
                       "PurposeOfUse code (BTG needs a justification). Every request but "
                       "metadata needs Authorization: Bearer <token>; X-Amparo-User may "
                       "name the staff member the system acts for.",
    }


#: The result parameters every search-type takes (search.html#return, #include); listed
#: once for the whole server (CapabilityStatement.rest.searchParam).
RESULT_SEARCH_PARAMS = (
    {"name": "_sort", "type": "special", "documentation":
        "Comma-separated keys, '-' for descending, by _id, _lastUpdated or any string, "
        "token, date, number, quantity, uri or reference parameter of the type."},
    {"name": "_count", "type": "number",
     "documentation": "Page size; 0 returns the total only."},
    {"name": "_total", "type": "token", "documentation":
        "none | estimate | accurate. Without it the total is given only when the first "
        "page holds every match."},
    {"name": "_include", "type": "special",
     "documentation": "Source:param[:Target], with :iterate (see searchInclude)."},
    {"name": "_revinclude", "type": "special",
     "documentation": "Source:param[:Target], with :iterate (see searchRevInclude)."},
    {"name": "_summary", "type": "token", "documentation": "true | text | data | count | false"},
    {"name": "_elements", "type": "string",
     "documentation": "Comma-separated top-level element names."},
    {"name": "_has", "type": "special", "documentation":
        "Reverse chaining: _has:Type:param:parameter=value, nestable, up to 3 levels."},
)


def _resource(type: str, interactions: list[str], types: frozenset[str] | set[str]) -> dict:
    definitions = params_for(type)
    search = []
    for code, kind in supported_params(type):
        entry = {"name": code, "type": kind}
        if code in definitions:
            entry["definition"] = definitions[code].url
            # ``_id`` is parsed in place (``parse.parse_condition``), without modifiers.
            applied = modifiers(definitions[code]) if code != "_id" else ()
            notes = ["Modifiers: " + ", ".join(f":{m}" for m in applied)] if applied else []
            if kind == "reference":
                notes.append(f"Chainable: {code}[:Type].parameter=value, up to 3 levels")
            if notes:
                entry["documentation"] = ". ".join(notes)
        search.append(entry)
    read_only = type in NOT_WRITABLE
    if read_only:  # read, vread, search and history only (server.api.write)
        interactions = [code for code in interactions if code not in _WRITES]
    out = {
        "type": type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{type}",
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned" if read_only else "versioned-update",
        "readHistory": True,
        "updateCreate": not read_only,
        "conditionalCreate": not read_only,
        "conditionalRead": "full-support",
        "conditionalUpdate": not read_only,
        "conditionalDelete": "not-supported" if read_only else "single",
        "searchInclude": [f"{type}:{code}" for code in _reference_params(type)],
        "searchRevInclude": [f"{source}:{code}" for source in sorted(types)
                             for code in _reference_params(source, pointing_to=type)],
        "searchParam": search,
    }
    operations = _operations(type)
    if operations:
        out["operation"] = operations
    if type == "Subscription":  # the topics offered (Subscriptions Backport IG)
        out["extension"] = [{"url": TOPIC_CANONICAL, "valueCanonical": url}
                            for url in sorted(topics())]
    if type == audit.TYPE:  # the trail is served apart (server/api/audit.py)
        out.update(audit.CAPABILITY)
        out["searchParam"] = [{k: v for k, v in entry.items() if k != "documentation"}
                              for entry in search if entry["name"] in audit.SEARCHED
                              or entry["name"] in ("_count", "_total")]
    for key in ("searchInclude", "searchRevInclude"):
        if not out[key]:
            del out[key]
    return out


def _operations(type: str) -> list[dict]:
    """The operations routed under ``type`` by name (``ValueSet/$expand``) and under every
    type (``[type]/$validate``), each with its OperationDefinition (``definition``)."""
    names = dict.fromkeys(part[1:] for r in routes() if r.pattern[:1] == (type,)
                          for part in r.pattern if part.startswith("$"))
    every_type = dict.fromkeys(part[1:] for r in routes() if r.pattern[:1] == (":type",)
                               for part in r.pattern if part.startswith("$"))
    return [{"name": name, "definition": operation_definition(type, name)}
            for name in names] + [
        {"name": name, "definition": operation_definition("Resource", name)}
        for name in every_type if name not in names]


def operation_definition(type: str, code: str) -> str:
    """The canonical of the OperationDefinition of ``type``'s ``$code``: the IG's when it
    defines one (the operations R4B lacks, such as ``EpisodeOfCare/$summary``), the
    Subscriptions Backport IG's for a subscription's, else R4B's, which HL7 names
    ``{type}-{code}`` (``Resource-{code}`` for every type)."""
    if type == "Subscription" and code in _BACKPORT_OPERATIONS:
        return f"{BACKPORT_OPERATIONS}backport-subscription-{code}"
    return _ours().get((type, code), f"{CORE_OPERATIONS}{type}-{code}")


@cache
def _system_operations() -> dict[str, str]:
    """Code -> canonical of the operations routed at the system level (``[base]/$x``),
    all the IG's."""
    ours = {d["code"]: d["url"] for d in ig.operation_definitions() if d.get("system")}
    return {r.pattern[0][1:]: ours[r.pattern[0][1:]] for r in routes()
            if r.pattern[:1] and r.pattern[0].startswith("$")}


@cache
def _ours() -> dict[tuple[str, str], str]:
    """(resource type, code) -> canonical of each OperationDefinition of the IG."""
    return {(type, definition["code"]): definition["url"]
            for definition in ig.operation_definitions()
            for type in definition.get("resource", [])}


def _reference_params(type: str, pointing_to: str | None = None) -> list[str]:
    """Codes of the reference parameters of ``type`` that this server applies (the ones
    ``_include``/``_revinclude`` accept), optionally only those that can point to
    ``pointing_to``."""
    definitions = params_for(type)
    return [code for code, kind in supported_params(type) if kind == "reference" and (
        pointing_to is None or pointing_to in definitions[code].target)]


def _interactions(levels: tuple[str, ...]) -> list[str]:
    codes: list[str] = []
    for r in routes():
        for code in (r.interaction or "").split():
            if r.level in levels and code not in codes:
                codes.append(code)
    return codes


def _software_version() -> str:
    try:
        return package_version("amparo")
    except PackageNotFoundError:
        return "0.0.0"
