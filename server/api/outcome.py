"""Every failure becomes an OperationOutcome response: the one place errors map to HTTP.

``FhirError`` carries its status; Werkzeug's HTTP errors (routing, body too large) keep
theirs; anything unexpected is a 500 whose diagnostics reveal nothing of the request
(the traceback goes to the log, never resource contents).
"""

from __future__ import annotations

import logging

import orjson
from flask import Flask, Response
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from server.errors import FhirError, too_large

log = logging.getLogger("amparo")
FHIR_JSON = "application/fhir+json"

_WERKZEUG_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly",
                   415: "not-supported"}


def error_response(error: FhirError, media_type: str = FHIR_JSON) -> Response:
    response = Response(orjson.dumps(error.outcome()), status=error.status,
                        content_type=media_type)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(FhirError)
    def handle_fhir_error(error: FhirError) -> Response:
        return error_response(error)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error: RequestEntityTooLarge) -> Response:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        return error_response(too_large(f"the request body exceeds {limit} bytes"))

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        status = error.code or 500
        code = _WERKZEUG_CODES.get(status, "processing")
        return error_response(FhirError(status, code, error.description or error.name))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unexpected error (%s)", type(error).__name__)
        return error_response(FhirError(500, "exception", "internal server error"))
