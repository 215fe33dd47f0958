"""read and vread. See: https://hl7.org/fhir/R4B/http.html#read"""

from __future__ import annotations

from server import clock, errors
from server.api.responses import parse_etag, version_headers
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.store import StoredVersion


@route("GET", ":type/:id", "read", "instance")
def read(ctx: Context, req: FhirRequest, type: str, id: str) -> FhirResponse:
    found = ctx.repo.read(ctx.principal, type, id, ctx.reader)
    if _not_modified(req, found):
        return FhirResponse(304, None, version_headers(ctx, found), found)
    return FhirResponse(200, found.body, version_headers(ctx, found), found)


@route("GET", ":type/:id/_history/:vid", "vread", "instance")
def vread(ctx: Context, req: FhirRequest, type: str, id: str, vid: str) -> FhirResponse:
    if not vid.isdigit():
        raise errors.not_found(f"{type}/{id} has no version '{vid[:20]}'")
    found = ctx.repo.vread(ctx.principal, type, id, int(vid), ctx.reader)
    return FhirResponse(200, found.body, version_headers(ctx, found), found)


def _not_modified(req: FhirRequest, found: StoredVersion) -> bool:
    """Conditional read: If-None-Match, then If-Modified-Since (second precision)."""
    none_match = req.header("if-none-match")
    if none_match is not None:
        # A list of entity tags (RFC 9110 section 13.1.2); one that is not a version
        # ETag of this server cannot match, so it is no error.
        tags = [tag.strip() for tag in none_match.split(",")]
        return "*" in tags or found.version in {_version(tag) for tag in tags}
    since = req.header("if-modified-since")
    if since is not None:
        threshold = clock.parse_http_date(since)
        updated = clock.parse_instant(found.last_updated)
        if threshold is not None and updated is not None:
            return updated // 1_000_000 <= threshold // 1_000_000
    return False


def _version(tag: str) -> int | None:
    try:
        return parse_etag(tag)
    except errors.FhirError:
        return None
