"""What the status URL answers (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-
data-status-request): 202 with ``X-Progress`` and ``Retry-After`` while the export
runs; 200 with the completion manifest (``Content-Type: application/json``, ``Expires``)
when it is done; 500 with an OperationOutcome when it failed.

The manifest lists one ``output`` item per file (type, url, count), ``requiresAccessToken``
true (files are served only to the client that asked, with its token: ``access.py``),
and an ``error`` item when parameters were ignored under ``Prefer: handling=lenient``
(``errors.ndjson``: one OperationOutcome per parameter). Counts are of what the caller
could see: nothing hidden is counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import orjson

from server import errors
from server.bulk.job import ACCEPTED, ACTIVE, FAILED, State
from server.bulk.plan import steps

__all__ = ["DEIDENTIFIED", "ERRORS_FILE", "RETRY_AFTER", "error_lines", "status"]

RETRY_AFTER = "2"
ERRORS_FILE = "errors.ndjson"
#: Manifest extension saying the files hold the de-identified form (server/analytics).
DEIDENTIFIED = "https://fhir.amparo.cl/bulk/desidentificado"


def status(state: State, base: str) -> tuple[int, dict | None, dict[str, str]]:
    """(HTTP status, manifest or None, headers) of ``state``'s status request."""
    if state.status in ACTIVE:
        return 202, None, {"X-Progress": progress(state), "Retry-After": RETRY_AFTER}
    if state.status == FAILED:
        raise errors.FhirError(500, "exception", f"the export failed: {state.error}")
    request = state.request
    root = f"{base}/bulk-export/{state.id}"
    manifest = {
        "transactionTime": request.transaction_time,
        "request": request.request_url,
        "requiresAccessToken": True,
        "output": [{"type": f.type, "url": f"{root}/{f.name}", "count": f.count}
                   for f in state.progress.files if f.count],
        "error": [{"type": "OperationOutcome", "url": f"{root}/{ERRORS_FILE}",
                   "count": len(request.ignored)}] if request.ignored else [],
    }
    if request.deidentified:
        manifest["extension"] = {DEIDENTIFIED: True}
    expires = format_datetime(datetime.fromtimestamp(state.expires_us / 1e6, UTC), usegmt=True)
    return 200, manifest, {"Content-Type": "application/json", "Expires": expires}


def progress(state: State) -> str:
    """The ``X-Progress`` text: under 100 characters, as the IG asks."""
    if state.status == ACCEPTED:
        return "accepted, waiting to start"
    total = len(steps(state.request)) or 1
    done = min(state.progress.step, total)
    return (f"{100 * done // total}% (step {min(done + 1, total)} of {total}, "
            f"{state.progress.written} resources written)")


def error_lines(state: State) -> list[bytes]:
    """The ``errors.ndjson`` lines: one OperationOutcome per ignored parameter."""
    return [orjson.dumps({"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "not-supported", "diagnostics": message}]}) + b"\n"
        for message in state.request.ignored]
