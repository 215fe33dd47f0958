"""Building responses: resource headers, Prefer handling, and Bundles of stored JSON.

Stored resources are already JSON; bundles embed them as ``orjson.Fragment`` so that a
search or transaction response never parses and re-serialises what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from server import clock, errors
from server.api.router import Context, FhirRequest, FhirResponse
from server.store import StoredVersion

STATUS_TEXT = {200: "200 OK", 201: "201 Created", 204: "204 No Content", 304: "304 Not Modified",
               400: "400 Bad Request", 404: "404 Not Found", 409: "409 Conflict",
               410: "410 Gone", 412: "412 Precondition Failed", 422: "422 Unprocessable Entity"}


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etag(value: str | None) -> int | None:
    """The version number of an ETag (``W/"3"`` or ``"3"``); 400 if not a version."""
    if value is None:
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise errors.invalid("If-Match must be an ETag of a version, such as W/\"3\"")
    return int(text)


def version_headers(ctx: Context, version: StoredVersion, location: bool = False) -> dict:
    headers = {"ETag": etag(version.version),
               "Last-Modified": clock.http_date(version.last_updated)}
    if location:
        headers["Location"] = f"{ctx.base_url}/{version_url(version)}"
    return headers


def version_url(version: StoredVersion) -> str:
    return f"{version.type}/{version.id}/_history/{version.version}"


def prefer(req: FhirRequest, name: str) -> str | None:
    """A token of the Prefer header (``return``, ``handling``), or None."""
    header = req.header("prefer")
    if not header:
        return None
    for part in header.split(","):
        for item in part.split(";"):
            key, _, value = item.strip().partition("=")
            if key.strip().lower() == name:
                return value.strip().strip('"')
    return None


def written(ctx: Context, req: FhirRequest, status: int, version: StoredVersion | None,
            message: str) -> FhirResponse:
    """The response to a write, shaped by ``Prefer: return=``.
    See: https://hl7.org/fhir/R4B/http.html#ops"""
    wanted = prefer(req, "return") or "representation"
    if version is None or version.deleted:
        headers = version_headers(ctx, version) if version is not None else {}
        if wanted == "OperationOutcome":
            return FhirResponse(200, information(message), headers, version)
        return FhirResponse(204, None, headers, version)
    headers = version_headers(ctx, version, location=True)
    if wanted == "minimal":
        return FhirResponse(status, None, headers, version)
    if wanted == "OperationOutcome":
        return FhirResponse(status, information(message), headers, version)
    return FhirResponse(status, version.body, headers, version)


def information(message: str) -> dict:
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": "information", "code": "informational",
                       "diagnostics": message}]}


def bundle(kind: str, entries: Iterable[dict], *, total: int | None = None,
           links: Iterable[tuple[str, str]] = ()) -> dict:
    out: dict = {"resourceType": "Bundle", "type": kind}
    if total is not None:
        out["total"] = total
    links = [{"relation": rel, "url": url} for rel, url in links]
    if links:
        out["link"] = links
    out["entry"] = list(entries)
    if not out["entry"]:
        del out["entry"]
    return out


def fragment(body: bytes) -> orjson.Fragment:
    return orjson.Fragment(body)
