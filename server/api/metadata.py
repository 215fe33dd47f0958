"""The CapabilityStatement, generated from the route table and the search parser.

Nothing here is a hand-written list: interactions come from the registered routes,
resource types from the R4B definitions (or, for R4 clients, the types R4 can be served
for), search parameters from what ``server.search.parse`` applies.
See: https://hl7.org/fhir/R4B/http.html#capabilities
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import orjson

from server.api.router import Context, FhirRequest, FhirResponse, route, routes
from server.api.versions import R4, RELEASES, r4_resource_types
from server.search.definitions import params_for, resource_types
from server.search.parse import supported_params

_TYPE_LEVELS = ("type", "instance")


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
        "software": {"name": "Amparo", "version": _software_version()},
        "implementation": {"description": "Amparo: plataforma de intercambio FHIR para la "
                                          "gestión integrada de casos de violencia contra "
                                          "las mujeres", "url": base_url},
        "fhirVersion": RELEASES[version],
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [{
            "mode": "server",
            "resource": [_resource(t, type_interactions) for t in sorted(types)],
            "interaction": [{"code": code} for code in _interactions(("system",))],
        }],
    }
    return orjson.dumps(statement)


def _resource(type: str, interactions: list[str]) -> dict:
    definitions = params_for(type)
    search = []
    for code, kind in supported_params(type):
        entry = {"name": code, "type": kind}
        if code in definitions:
            entry["definition"] = definitions[code].url
        search.append(entry)
    return {
        "type": type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{type}",
        "interaction": [{"code": code} for code in interactions],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "searchParam": search,
    }


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
