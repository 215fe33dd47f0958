"""history at instance, type and system level.

See: https://hl7.org/fhir/R4B/http.html#history. Newest first, keyset-paged on the
store's change order, ``_since`` and ``_count`` supported.
"""

from __future__ import annotations

from urllib.parse import urlencode

from server import clock, errors
from server.api.responses import STATUS_TEXT, bundle, etag, fragment
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.search.parse import page_token, read_page_token
from server.search.query import HistoryQuery
from server.store import StoredVersion

_PARAMS = {"_count", "_since", "_page", "_format", "_pretty"}


@route("GET", "_history", "history-system", "system")
def system_history(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _history(ctx, req, None, None, "_history")


@route("GET", ":type/_history", "history-type", "type")
def type_history(ctx: Context, req: FhirRequest, type: str) -> FhirResponse:
    return _history(ctx, req, type, None, f"{type}/_history")


@route("GET", ":type/:id/_history", "history-instance", "instance")
def instance_history(ctx: Context, req: FhirRequest, type: str, id: str) -> FhirResponse:
    return _history(ctx, req, type, id, f"{type}/{id}/_history")


def _history(ctx: Context, req: FhirRequest, type: str | None, id: str | None,
             path: str) -> FhirResponse:
    query, kept = _query(ctx, req, type, id)
    page = ctx.repo.history(ctx.principal, query, ctx.reader)
    if ctx.audit is not None:
        ctx.audit.based_on(ctx.repo.basis(ctx.principal, page.versions, ctx.reader))
    links = [("self", _url(ctx, path, kept))]
    if page.next_cursor is not None:
        token = page_token("a", page.next_cursor)
        links.append(("next", _url(ctx, path, [*kept, ("_page", token)])))
    entries = [_entry(ctx, version) for version in page.versions]
    return FhirResponse(200, bundle("history", entries, links=links))


def _query(ctx: Context, req: FhirRequest, type: str | None,
           id: str | None) -> tuple[HistoryQuery, list[tuple[str, str]]]:
    count, since, cursor, kept = ctx.settings.default_count, None, None, []
    for name, value in req.params:
        if name not in _PARAMS:
            raise errors.invalid(f"history parameter {name[:40]} is not supported")
        if name == "_count":
            if not value.isdigit() or int(value) > ctx.settings.max_count:
                raise errors.invalid(f"_count must be an integer from 0 to "
                                     f"{ctx.settings.max_count}")
            count = int(value)
            kept.append((name, value))
        elif name == "_since":
            since = clock.parse_instant(value)
            if since is None or "T" in value and not _has_zone(value):
                raise errors.invalid("_since must be an instant with a time zone")
            kept.append((name, value))
        elif name == "_page":
            cursor = _cursor(value)
    return HistoryQuery(type, id, since, count, cursor), kept


def _has_zone(value: str) -> bool:
    tail = value.split("T", 1)[1]
    return tail.endswith("Z") or "+" in tail or "-" in tail


def _cursor(value: str) -> int:
    after, before = read_page_token(value)
    if not isinstance(after, int) or before is not None:
        raise errors.invalid("_page is not a history page token")
    return after


def _entry(ctx: Context, version: StoredVersion) -> dict:
    method = version.method
    url = version.type if method == "POST" else f"{version.type}/{version.id}"
    status = 201 if method == "POST" or (method == "PUT" and version.version == 1) else 200
    entry: dict = {"fullUrl": f"{ctx.base_url}/{version.type}/{version.id}"}
    if version.deleted:
        status = 204
    else:
        entry["resource"] = fragment(version.body)
    entry["request"] = {"method": method, "url": url}
    entry["response"] = {"status": STATUS_TEXT[status], "etag": etag(version.version),
                         "lastModified": version.last_updated}
    return entry


def _url(ctx: Context, path: str, params: list[tuple[str, str]]) -> str:
    return f"{ctx.base_url}/{path}" + (f"?{urlencode(params)}" if params else "")
