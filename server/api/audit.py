"""The audit trail through the API: AuditEvent read, vread and search, for auditors alone.

The trail is not stored as resource versions (``server/audit/trail.py``), so these routes,
more specific than ``:type/:id`` and ``:type``, serve it from the store's audit records.
Auditors are the clients granted a scope that names AuditEvent itself
(``server.access.is_auditor``); for anyone else the trail looks empty: a read is a 404
and a search finds nothing, as for any resource the gate hides. No route writes it
(``server/api/write.py`` answers 405).

Search parameters (each may list values separated by commas, any of which matches):
``patient`` (the survivor), ``agent`` (an institution, ``Organization/<id>``), ``purpose``
(the purpose of use: ``BTG`` finds break-the-glass), ``outcome`` (``0`` permitted,
``4`` refused, ``8`` failed), ``date`` (with prefixes ``ge``, ``gt``, ``le``, ``lt``,
``eq``), ``_count``, ``_total``; newest first, paged with ``_cursor``. Others are
refused with 400: an auditor must not believe a filter applied that was not.
"""

from __future__ import annotations

from urllib.parse import urlencode

import orjson

from server import errors
from server.access import is_auditor
from server.api.responses import bundle, fragment
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.api.search import form_params
from server.search.parse_values import PREFIXES
from server.search.values import date_bounds
from server.store import StoredVersion
from server.store.port import AuditEntry, AuditQuery

TYPE = "AuditEvent"
#: The search parameters served (beside ``_count`` and ``_total``).
SEARCHED = ("patient", "agent", "purpose", "outcome", "date")
#: What the CapabilityStatement says of AuditEvent besides its search parameters
#: (``server/api/metadata.py``).
CAPABILITY = {
    "interaction": [{"code": code} for code in ("read", "vread", "search-type")],
    "readHistory": False, "conditionalRead": "not-supported", "searchInclude": [],
    "searchRevInclude": [],
    "documentation": "El registro de auditoría: solo lo leen los auditores (un scope que "
                     "nombra AuditEvent); nadie lo escribe, modifica ni borra. Búsqueda: "
                     "cada parámetro admite valores separados por comas, sin modificadores "
                     "ni encadenamiento.",
}
_TOKENS = {"purpose": "purpose", "outcome": "outcome"}
_CONTROL = {"_count", "_total", "_cursor", "_format"}


@route("GET", "AuditEvent/:id", "read", "instance")
def read(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    entry = _entry(ctx, id)
    return FhirResponse(200, entry.body, {"ETag": 'W/"1"'}, _stored(entry))


@route("GET", "AuditEvent/:id/_history/:vid", "vread", "instance")
def vread(ctx: Context, req: FhirRequest, id: str, vid: str) -> FhirResponse:
    entry = _entry(ctx, id)
    if vid != "1":  # an event is never changed: it has one version
        raise errors.not_found(f"{TYPE}/{id} has no version '{vid[:20]}'")
    return FhirResponse(200, entry.body, {"ETag": 'W/"1"'}, _stored(entry))


@route("GET", "AuditEvent", "search-type", "type")
def search(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _search(ctx, req.params)


@route("POST", "AuditEvent/_search", "search-type", "type")
def search_post(ctx: Context, req: FhirRequest) -> FhirResponse:
    return _search(ctx, form_params(req))


def _entry(ctx: Context, id: str) -> AuditEntry:
    if is_auditor(ctx.principal) and ctx.flush_audit is not None:
        ctx.flush_audit()
    entry = ctx.repo.store.audit_entry(id) if is_auditor(ctx.principal) else None
    if entry is None:
        raise errors.not_found(f"{TYPE}/{id} is not known")
    return entry


def _search(ctx: Context, params: list[tuple[str, str]]) -> FhirResponse:
    query, applied = _query(ctx, params)
    page = None  # the trail is the auditors' alone: for anyone else it holds nothing
    if is_auditor(ctx.principal):
        if ctx.flush_audit is not None:  # what this process answered, in the trail now
            ctx.flush_audit()
        page = ctx.repo.store.audit_search(query)
    entries = [{"fullUrl": f"{ctx.base_url}/{TYPE}/{e.id}", "resource": fragment(e.body),
                "search": {"mode": "match"}} for e in (page.entries if page else [])]
    links = [("self", _url(ctx, applied))]
    if page is not None and page.next_cursor is not None:
        links.append(("next", _url(ctx, [*applied, ("_cursor", str(page.next_cursor))])))
    total = (page.total if page else 0) if query.total else None
    if total is None and page is not None and query.before is None \
            and page.next_cursor is None:
        total = len(page.entries)  # a first page holding every match: the total is free
    return FhirResponse(200, bundle("searchset", entries, total=total, links=links))


def _query(ctx: Context, params: list[tuple[str, str]]) -> tuple[AuditQuery, list]:
    fields: dict[str, tuple[str, ...]] = {}
    since = until = before = None
    count, total = ctx.settings.default_count, False
    applied: list[tuple[str, str]] = []
    for name, value in params:
        if name not in _CONTROL:
            applied.append((name, value))
        if name == "patient":
            fields["patient"] = tuple(_reference(v, "Patient") for v in _values(value))
        elif name == "agent":
            fields["institution"] = tuple(_reference(v, "Organization")
                                          for v in _values(value))
        elif name in _TOKENS:
            fields[_TOKENS[name]] = tuple(v.rsplit("|", 1)[-1] for v in _values(value))
        elif name == "date":
            since, until = _date(value, since, until)
        elif name == "_count":
            count = _int(name, value, 0, ctx.settings.max_count)
        elif name == "_total":
            total = value == "accurate"
        elif name == "_cursor":
            before = _int(name, value, 1, None)
        elif name != "_format":
            raise errors.invalid(f"search parameter '{name[:64]}' is not supported on "
                                 f"{TYPE}: patient, agent, purpose, outcome and date are")
    return AuditQuery(**fields, since_us=since, until_us=until, count=count, before=before,
                      total=total), applied


def _values(value: str) -> list[str]:
    values = [v for v in value.split(",") if v]
    if not values:
        raise errors.invalid("a search parameter needs a value")
    return values


def _reference(value: str, type: str) -> str:
    """``Type/id`` of a reference search value (a plain id means that type)."""
    if "/" not in value:
        return f"{type}/{value}"
    parts = value.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] != type:
        raise errors.invalid(f"'{value[:64]}' is not a reference to a {type}")
    return f"{type}/{parts[-1]}"


def _date(value: str, since: int | None, until: int | None) -> tuple[int | None, int | None]:
    """Narrow [since, until) by one date parameter (search.html#date, on an instant)."""
    prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
    bounds = date_bounds(text)
    if prefix not in PREFIXES or prefix in ("ne", "sa", "eb", "ap") or bounds is None:
        raise errors.invalid("date takes ge, gt, le, lt or eq and YYYY[-MM[-DD[Thh:mm"
                             "[:ss[.f]][zone]]]]")
    low, high = bounds[0], bounds[1] + 1
    lower = {"ge": low, "gt": high, "eq": low}.get(prefix)
    upper = {"le": high, "lt": low, "eq": high}.get(prefix)
    if lower is not None:
        since = lower if since is None else max(since, lower)
    if upper is not None:
        until = upper if until is None else min(until, upper)
    return since, until


def _int(name: str, value: str, low: int, high: int | None) -> int:
    if not value.isdigit() or int(value) < low:
        raise errors.invalid(f"{name} must be a whole number of at least {low}")
    return min(int(value), high) if high is not None else int(value)


def _url(ctx: Context, params: list[tuple[str, str]]) -> str:
    return f"{ctx.base_url}/{TYPE}?{urlencode(params)}" if params \
        else f"{ctx.base_url}/{TYPE}"


def _stored(entry: AuditEntry) -> StoredVersion:
    """The entry as the router's audit notes what a read returned."""
    recorded = orjson.loads(entry.body).get("meta", {}).get("lastUpdated", "")
    return StoredVersion(TYPE, entry.id, 1, recorded, False, entry.body)
