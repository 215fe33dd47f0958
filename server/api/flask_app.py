"""The HTTP edge: Flask request -> ``FhirRequest`` -> ``dispatch`` -> HTTP response.

Authentication happens here first: every path but ``metadata`` (and the public auth
endpoints of ``server/auth/endpoints.py``, served by their own routes) needs a bearer
token, which becomes the request's ``Principal`` (401 otherwise), and the token's scopes
must allow what the request does (``server/auth/permissions.py``; 403 otherwise).
Content negotiation happens here too (Accept and the ``fhirVersion`` parameter,
``_format``), and so does the one R4 check: a response to an R4 client is refused with
406 unless everything in it can be served as R4 (``server/api/versions.py``).

Every request but the public ones is audited (``server/audit/recorder.py``): its event is
stored before the response leaves, whatever the outcome (a 401 included).
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from flask import Blueprint, Flask, Response, current_app, request

from server import errors
from server.access import ANONYMOUS, Principal
from server.api import (  # noqa: F401 (routes)
    audit,
    bulk_export,
    bundle,
    case_life,
    case_summary,
    convert,
    everything,
    history,
    ig,
    match,
    measures,
    merge,
    metadata,
    plan_apply,
    read,
    search,
    subscription_ws,
    subscriptions,
    terminology,
    validate,
    write,
)
from server.api.ig import asks_for_package
from server.api.outcome import error_response
from server.api.router import Context, FhirRequest, FhirResponse, dispatch
from server.api.versions import R4, R4B, check_servable, media_type, requested_version
from server.audit.recorder import AuditRecord
from server.auth.permissions import authorize
from server.auth.resource import principal_of

blueprint = Blueprint("fhir", __name__)
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
_FORMATS = {"json", "application/json", "application/fhir+json"}


@blueprint.route("/fhir", methods=_METHODS, defaults={"path": ""}, strict_slashes=False)
@blueprint.route("/fhir/<path:path>", methods=_METHODS)
def fhir(path: str) -> Response:
    services = current_app.extensions["amparo"]
    public = path == "metadata" and request.method in ("GET", "HEAD")
    if public:
        return _serve(services, path, ANONYMOUS, None)
    record = AuditRecord(ANONYMOUS, query=request.query_string.decode() or None)
    try:
        response = _serve(services, path, None, record)
    except Exception:  # answered 500 by the app's handler: audited as failed first
        services.auditor.finish(record, 500)
        raise
    # no response leaves before its audit event is stored (a write stored it already)
    services.auditor.finish(record, response.status_code)
    return response


def _serve(services, path: str, principal: Principal | None,
           record: AuditRecord | None) -> Response:
    version = R4B
    try:
        base = base_url(services)
        if principal is None:
            principal = principal_of(services.auth.verifier, request.headers, base)
            record.principal = principal
        version = _negotiate(path)
        ctx = Context(services.repo, services.settings, principal, base, version,
                      authorize_entry=None if record is None else lambda entry: authorize(
                          principal, entry, services.settings, base), audit=record,
                      flush_audit=services.auditor.flush)
        req = FhirRequest(request.method, path, list(request.args.items(multi=True)),
                          request.headers,
                          request.get_data(cache=False) if request.method in
                          ("POST", "PUT", "PATCH") else None, request.content_type)
        if record is not None:
            authorize(principal, req, services.settings, base)
        if version == R4 and req.raw and _is_json(req.content_type):
            # refuse before writing what could not be answered as R4
            check_servable(req.json(services.settings), R4)
        response = dispatch(ctx, req)
        return _to_http(response, version)
    except errors.FhirError as error:
        return error_response(error, media_type(version))


def _negotiate(path: str) -> str:
    accept = request.headers.get("Accept")
    if asks_for_package(path, accept):
        return R4B
    fmt = request.args.get("_format")
    if fmt is not None and fmt.split(";")[0].strip().lower() not in _FORMATS:
        raise errors.not_acceptable("only JSON is served (_format=json)")
    return requested_version(accept)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media in ("application/fhir+json", "application/json")


def base_url(services) -> str:
    """The FHIR base URL: ``AMPARO_BASE_URL``, else the one the request came to."""
    return services.settings.base_url or _fhir_base(request.scheme, request.host,
                                                     request.root_path)


@lru_cache(maxsize=64)
def _fhir_base(scheme: str, host: str, root: str) -> str:
    """The FHIR base seen by the client (cached: Werkzeug's ``host_url`` rebuilds and
    IRI-converts the whole URL on every request)."""
    return f"{scheme}://{host}{root.rstrip('/')}/fhir"


def _to_http(response: FhirResponse, version: str) -> Response:
    body = response.body
    if isinstance(body, dict):
        body = orjson.dumps(body)
    if version == R4 and body:
        check_servable(orjson.loads(body), version)
    http = Response(body if body is not None else b"", status=response.status,
                    content_type=media_type(version) if body is not None else None)
    if body is None:  # 204/304 and Prefer: return=minimal: no body, so no media type
        del http.headers["Content-Type"]
    for name, value in response.headers.items():
        http.headers[name] = value
    return http


def init_app(app: Flask) -> None:
    from server.api import bulk_files  # its route uses this module's base_url

    app.register_blueprint(blueprint)
    bulk_files.init_app(app)  # bulk export files: NDJSON, outside the FHIR route table
