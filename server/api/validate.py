"""``$validate``: would this resource be accepted? For partner institutions' developers, who
check their resources against the implementation guide before sending them.

``[type]/$validate`` and ``[type]/[id]/$validate``, POST with the resource as the body or
in a ``Parameters`` body (``resource``, ``mode``, ``profile``); ``mode`` and ``profile``
may also come in the query. The answer is 200 with an OperationOutcome listing every
problem, valid or not (an information issue when there is none); a 4xx means the
validation itself could not be done (a malformed request, a profile this server does
not know, a resource of another type, an unknown id for update/delete).

What is checked: R4B structure, then the profiles that apply: the ``profile`` asked for,
else those the resource claims in ``meta.profile``, else the implementation guide's
profiles of its type that recognise it by their fixed and pattern values
(``server/conformance.py``).
``mode=create``/``update`` also check what those interactions would refuse (an update's
id must match; the target must exist); ``mode=delete`` checks that the resource exists.
See: https://hl7.org/fhir/R4B/resource-operation-validate.html
"""

from __future__ import annotations

from typing import Any

import orjson

from profiles import validate_structure
from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.conformance import applicable_profiles, conformance
from server.validation import check_type

MODES = ("create", "update", "delete", "profile")


@route("POST", ":type/$validate", None, "type")
@route("POST", ":type/:id/$validate", None, "instance")
@route("GET", ":type/:id/$validate", None, "instance")
def validate(ctx: Context, req: FhirRequest, type: str, id: str | None = None
             ) -> FhirResponse:
    resource, mode, profile = _inputs(ctx, req, type, id)
    if mode in ("update", "delete") and id is None:
        raise errors.invalid(f"mode {mode} needs an instance: {type}/[id]/$validate")
    if mode == "create" and id is not None:
        raise errors.invalid("mode create is for [type]/$validate, not an instance")
    if mode == "profile" and profile is None:
        raise errors.invalid("mode profile needs the 'profile' parameter")
    if profile is not None and conformance().validator(profile) is None:
        raise errors.FhirError(400, "not-supported", f"the profile {profile[:200]} is not "
                               "known to this server")
    if id is not None and (mode in ("update", "delete") or resource is None):
        stored = ctx.repo.read(ctx.principal, type, id, ctx.reader)  # 404/410 if absent
        if resource is None:
            resource = orjson.loads(stored.body)
    if mode == "delete":
        return _outcome([])
    if resource is None:
        raise errors.invalid("$validate needs a resource (the body, or the 'resource' "
                             "parameter of a Parameters body)")
    check_type(resource, type)
    issues = []
    if mode == "update" and resource.get("id") != id:
        issues.append(_issue("error", "invalid", f"an update of {type}/{id} must carry "
                             "that id", f"{type}.id"))
    issues += [_issue(p.severity, p.code, p.diagnostics, p.expression)
               for p in validate_structure(resource)]
    if not any(i["severity"] == "error" for i in issues):  # profiles assume a sound base
        urls = [profile] if profile is not None else applicable_profiles(resource)
        issues += [_issue(p.severity, p.code, p.diagnostics, p.expression)
                   for p in conformance().validate(resource, urls)]
    return _outcome(issues)


def _inputs(ctx: Context, req: FhirRequest, type: str, id: str | None
            ) -> tuple[dict | None, str | None, str | None]:
    """(resource, mode, profile) from the query and the body."""
    mode = profile = None
    for name, value in req.params:
        if name == "mode":
            mode = value
        elif name == "profile":
            profile = value
        elif not name.startswith("_"):
            raise errors.FhirError(400, "not-supported",
                                   f"$validate has no parameter '{name[:64]}'")
    resource = None
    if req.method == "POST" and req.raw:
        body = req.json(ctx.settings)
        if isinstance(body, dict) and body.get("resourceType") == "Parameters":
            resource, mode, profile = _from_parameters(body, mode, profile)
        else:
            resource = body
    if mode is not None and mode not in MODES:
        raise errors.invalid(f"mode must be one of {', '.join(MODES)}")
    return resource, mode, profile


def _from_parameters(body: dict, mode: str | None, profile: str | None
                     ) -> tuple[dict | None, str | None, str | None]:
    resource = None
    parameters = body.get("parameter", [])
    if not isinstance(parameters, list):
        raise errors.invalid("Parameters.parameter must be a list")
    for i, parameter in enumerate(parameters):
        where = [f"Parameters.parameter[{i}]"]
        name = parameter.get("name") if isinstance(parameter, dict) else None
        if name == "resource" and isinstance(parameter.get("resource"), dict):
            resource = parameter["resource"]
        elif name == "mode" and isinstance(parameter.get("valueCode"), str):
            mode = parameter["valueCode"]
        elif name == "profile" and isinstance(
                parameter.get("valueCanonical", parameter.get("valueUri")), str):
            profile = parameter.get("valueCanonical", parameter.get("valueUri"))
        else:
            raise errors.invalid("a $validate parameter is 'resource' (a resource), 'mode' "
                                 "(valueCode) or 'profile' (valueCanonical)", where)
    return resource, mode, profile


def _issue(severity: str, code: str, diagnostics: str, expression: str) -> dict[str, Any]:
    return {"severity": severity, "code": code, "diagnostics": diagnostics,
            "expression": [expression]}


def _outcome(issues: list[dict[str, Any]]) -> FhirResponse:
    if not issues:
        issues = [{"severity": "information", "code": "informational",
                   "diagnostics": "no problems found"}]
    return FhirResponse(200, orjson.dumps({"resourceType": "OperationOutcome",
                                           "issue": issues}))
