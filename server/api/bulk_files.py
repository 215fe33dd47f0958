"""The files of a completed export: ``GET [base]/bulk-export/[job]/[file]``, the
``url`` of each item of the manifest (``server/bulk/manifest.py``).

A Flask route of its own rather than a route of the FHIR table: a file is NDJSON, not a
FHIR resource, so it skips the FHIR content negotiation (a download tool sends
``Accept: application/fhir+ndjson``, which the FHIR edge would refuse with 406), and it
is streamed from disk in chunks of exactly its committed length, never read into memory
(``server/bulk/files.py``). The rest is done as the FHIR edge does it: the bearer token
becomes the Principal (401 without one), the job must be the caller's
(``server/bulk/access.py``; 404 otherwise, like a missing one), the token's scopes must
allow searching the file's type (403), every error is an OperationOutcome, and every
request is audited, its event stored before the response leaves, naming the job and
the file in its query entity. See
https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-data-output-file-request
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request

from server import errors
from server.access import ANONYMOUS
from server.api.bulk_export import STATUS_PATH
from server.api.flask_app import base_url
from server.api.outcome import error_response
from server.audit.recorder import AuditRecord
from server.auth.resource import principal_of
from server.auth.scopes import allows
from server.bulk.access import owned
from server.bulk.config import ExportConfig
from server.bulk.files import committed
from server.bulk.job import COMPLETED
from server.bulk.manifest import ERRORS_FILE, error_lines

NDJSON = "application/fhir+ndjson"
blueprint = Blueprint("bulk_files", __name__)


@blueprint.get(f"/fhir/{STATUS_PATH}/<job>/<name>")
def download(job: str, name: str) -> Response:
    services = current_app.extensions["amparo"]
    record = AuditRecord(ANONYMOUS, query=urlencode({"export": job[:64], "file": name[:128]}))
    try:
        record.principal = principal_of(services.auth.verifier, request.headers,
                                        base_url(services))
        response = _file(services, record.principal, job, name)
    except errors.FhirError as error:
        services.auditor.finish(record, error.status)
        return error_response(error)
    except Exception:  # answered 500 by the app's handler: audited as failed first
        services.auditor.finish(record, 500)
        raise
    services.auditor.finish(record, 200)  # stored before the first byte leaves
    return response


def _file(services, principal, job: str, name: str) -> Response:
    state = owned(services.store, principal, job)
    if state.status != COMPLETED:
        raise errors.not_found("the export has no files yet")
    if name == ERRORS_FILE and state.request.ignored:
        return Response(b"".join(error_lines(state)), mimetype=NDJSON)
    found = next((f for f in state.progress.files if f.name == name), None)
    if found is None:
        raise errors.not_found("the export has no such file")
    if not allows(principal.scopes, found.type, "s"):
        raise errors.FhirError(403, "forbidden", "the access token's scopes do not allow "
                               f"search on {found.type} resources")
    directory = ExportConfig.from_env(services.settings.store).job_directory(state.id)
    try:
        body = committed(directory, found)
    except FileNotFoundError:
        raise errors.not_found("the export's file is no longer available") from None
    response = Response(body, mimetype=NDJSON, direct_passthrough=True)
    response.headers["Content-Length"] = str(found.bytes)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
