"""batch and transaction. See: https://hl7.org/fhir/R4B/http.html#transaction

Each entry becomes a ``FhirRequest`` run through the same route table as a single HTTP
request. A transaction runs all of them in ONE unit of work, in the order the spec
prescribes (DELETE, POST, PUT/PATCH, GET/HEAD) after resolving every placeholder and
conditional identity, and any failure rolls everything back and names the entry. A
batch runs each entry on its own and reports each outcome.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from server import clock, errors
from server.api.references import rewrite, rewrite_params
from server.api.responses import STATUS_TEXT, bundle, fragment, version_url, written
from server.api.router import Context, FhirRequest, FhirResponse, dispatch, route
from server.api.write import JSON_PATCH
from server.repository import new_id
from server.search.definitions import resource_types
from server.search.parse import parse_criteria
from server.validation import check_type, validate

_METHODS = ("DELETE", "POST", "PUT", "PATCH", "GET", "HEAD")
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_HEADERS = {"ifMatch": "if-match", "ifNoneMatch": "if-none-match",
            "ifNoneExist": "if-none-exist", "ifModifiedSince": "if-modified-since"}


@dataclass
class Entry:
    """One bundle entry on its way through processing."""

    index: int
    method: str
    url: str
    full_url: str | None
    request: FhirRequest
    type: str | None
    id: str | None
    conditional: bool
    response: FhirResponse | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


@route("POST", "", "transaction batch", "system")
def process(ctx: Context, req: FhirRequest) -> FhirResponse:
    body = req.json(ctx.settings)
    check_type(body, "Bundle")
    kind = body.get("type")
    if kind not in ("transaction", "batch"):
        raise errors.invalid("the base URL accepts Bundles of type transaction or batch",
                             ["Bundle.type"])
    raw_entries = body.get("entry", [])
    if not isinstance(raw_entries, list):
        raise errors.invalid("Bundle.entry must be an array", ["Bundle.entry"])
    if len(raw_entries) > ctx.settings.max_bundle_entries:
        raise errors.too_large(f"a bundle may hold at most {ctx.settings.max_bundle_entries} "
                               "entries")
    prefer_header = req.header("prefer")
    if kind == "batch":
        return _batch(ctx, raw_entries, prefer_header)
    entries = [_entry(ctx, i, raw, prefer_header, validate_now=True)
               for i, raw in enumerate(raw_entries)]
    _check_full_urls(entries)
    return _transaction(ctx, entries)


# -- transaction ------------------------------------------------------------------------


def _transaction(ctx: Context, entries: list[Entry]) -> FhirResponse:
    mapping: dict[str, str] = {}
    for entry in entries:  # identities known before touching the store
        if entry.method == "POST":
            entry.id = entry.request.assigned_id = new_id()
        if entry.full_url and entry.type and entry.id and not entry.conditional:
            mapping[entry.full_url] = f"{entry.type}/{entry.id}"
    current: Entry | None = None
    at = clock.now()
    try:
        settled = _can_settle_outside_the_lock(entries)
        for current in entries if settled else ():
            if current.request.valid is not None and rewrite(
                    current.request.valid.resource, mapping, None):
                settled = False  # a conditional reference: resolved under the lock
        current = None
        if settled:  # new resources can be made ready before the lock
            for entry in entries:
                if entry.method == "POST":
                    entry.request.valid.prepared = ctx.repo.prepare(
                        entry.request.valid, entry.id, 1, at, "POST")
        with ctx.repo.write(ctx.principal, at) as w:
            tx = replace(ctx, write=w)
            for current in entries:
                _resolve_identity(tx, current, mapping)
            current = None
            _check_overlaps(entries)
            for current in entries:
                if current.request.valid is not None and not settled:
                    rewrite(current.request.valid.resource, mapping,
                            lambda ref: _resolve_reference(tx, ref))
                if current.method in ("GET", "HEAD") and current.request.params:
                    current.request.params = rewrite_params(current.request.params, mapping)
            for current in sorted(entries, key=lambda e: _ORDER[e.method]):
                if current.response is None:
                    current.response = dispatch(tx, current.request)
            current = None
            w.uow.commit()
    except errors.FhirError as error:
        raise _located(error, current) from None
    return FhirResponse(200, bundle("transaction-response",
                                    [_response_entry(ctx, e) for e in entries]))


def _can_settle_outside_the_lock(entries: list[Entry]) -> bool:
    """Whether no entry's identity depends on the store (no conditional entry): then
    placeholders are rewritten and new resources prepared (stamped, serialised,
    indexed) before the store's write lock is taken, which is then held for the writes
    only."""
    return not any(e.conditional or (e.method == "POST" and e.request.header("if-none-exist"))
                   for e in entries)


def _resolve_identity(tx: Context, entry: Entry, mapping: dict[str, str]) -> None:
    """Turn conditional create/update/delete/patch into concrete ids (or a match)."""
    req, repo, w = entry.request, tx.repo, tx.write
    if entry.method == "POST" and req.header("if-none-exist"):
        raw = req.header("if-none-exist")
        query = parse_criteria(entry.type, rewrite_params(
            parse_qsl(raw.split("?", 1)[-1], keep_blank_values=True), mapping))
        matches = repo.match(w, query)
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"ifNoneExist matched {len(matches)} {entry.type} resources")
        if matches:
            entry.id = matches[0].id
            entry.response = written(tx, req, 200, matches[0], "matched ifNoneExist")
        if entry.full_url:
            mapping[entry.full_url] = f"{entry.type}/{entry.id}"
        return
    if not entry.conditional:
        return
    query = parse_criteria(entry.type, rewrite_params(req.params, mapping))
    if entry.method == "PUT":
        resource = req.valid.resource
        entry.id = repo.conditional_target(w, query, resource.get("id"))
        resource["id"] = entry.id
        if entry.full_url:
            mapping[entry.full_url] = f"{entry.type}/{entry.id}"
    else:
        matches = repo.match(w, query)
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"the conditional {entry.method} matched {len(matches)} resources")
        if not matches:
            if entry.method == "PATCH":
                raise errors.not_found(f"the conditional PATCH matched no {entry.type}")
            entry.response = FhirResponse(204)
            return
        entry.id = matches[0].id
    req.path, req.params = f"{entry.type}/{entry.id}", []


def _resolve_reference(tx: Context, reference: str) -> str:
    type, _, query = reference.partition("?")
    if type not in resource_types():
        raise errors.invalid(f"conditional reference to unknown type {type[:40]}")
    matches = tx.repo.match(tx.write, parse_criteria(type, parse_qsl(query,
                                                                     keep_blank_values=True)))
    if len(matches) != 1:
        raise errors.precondition_failed(
            f"conditional reference {reference[:100]} matched {len(matches)} resources, "
            "not exactly one")
    return f"{type}/{matches[0].id}"


def _check_overlaps(entries: list[Entry]) -> None:
    seen: dict[str, Entry] = {}
    for entry in entries:
        if entry.method in ("GET", "HEAD") or entry.id is None:
            continue
        identity = f"{entry.type}/{entry.id}"
        if identity in seen:
            raise errors.invalid(f"Bundle.entry[{seen[identity].index}] and "
                                 f"Bundle.entry[{entry.index}] both change {identity}")
        seen[identity] = entry


def _check_full_urls(entries: list[Entry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.full_url is None:
            continue
        if entry.full_url in seen and entry.method not in ("GET", "HEAD"):
            raise _located(errors.invalid("duplicate fullUrl in the transaction"), entry)
        seen.add(entry.full_url)


# -- batch ----------------------------------------------------------------------------------


def _batch(ctx: Context, raw_entries: list, prefer_header: str | None) -> FhirResponse:
    out = []
    for i, raw in enumerate(raw_entries):
        try:
            entry = _entry(ctx, i, raw, prefer_header, validate_now=False)
            if entry.request.parsed is not None and isinstance(entry.request.parsed, dict):
                rewrite(entry.request.parsed, {}, lambda ref: _batch_reference(ctx, ref))
            entry.response = dispatch(ctx, entry.request)
            out.append(_response_entry(ctx, entry))
        except errors.FhirError as error:
            out.append({"response": {"status": STATUS_TEXT.get(error.status, str(error.status)),
                                     "outcome": _located(error, None, i).outcome()}})
    return FhirResponse(200, bundle("batch-response", out))


def _batch_reference(ctx: Context, reference: str) -> str:
    with ctx.repo.write(ctx.principal) as w:
        return _resolve_reference(replace(ctx, write=w), reference)


# -- entries ----------------------------------------------------------------------------------


def _entry(ctx: Context, index: int, raw: object, prefer_header: str | None,
           validate_now: bool) -> Entry:
    where = f"Bundle.entry[{index}]"
    try:
        return _parse_entry(ctx, index, raw, prefer_header, validate_now, where)
    except errors.FhirError as error:
        raise _located(error, None, index) from None


def _parse_entry(ctx: Context, index: int, raw: object, prefer_header: str | None,
                 validate_now: bool, where: str) -> Entry:
    if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
        raise errors.invalid("each entry needs a request", [f"{where}.request"])
    request = raw["request"]
    method, url = request.get("method"), request.get("url")
    if method not in _METHODS or not isinstance(url, str) or not url:
        raise errors.invalid("entry.request needs a method (GET, HEAD, POST, PUT, PATCH, "
                             "DELETE) and a url", [f"{where}.request"])
    full_url = raw.get("fullUrl")
    if full_url is not None and not isinstance(full_url, str):
        raise errors.invalid("fullUrl must be a string", [f"{where}.fullUrl"])
    path, _, query = _relative(ctx, url).partition("?")
    segments = [s for s in path.split("/") if s]
    type = segments[0] if segments else None
    id = segments[1] if len(segments) == 2 and method in ("PUT", "DELETE", "PATCH") else None
    headers = {name: request[key] for key, name in _HEADERS.items()
               if isinstance(request.get(key), str)}
    if prefer_header:
        headers["prefer"] = prefer_header
    fhir_request = FhirRequest(method, path, parse_qsl(query, keep_blank_values=True),
                               headers, parsed=raw.get("resource"))
    conditional = bool(query) and method in ("PUT", "DELETE", "PATCH") and len(segments) == 1
    if method in ("POST", "PUT") and validate_now:
        if type is None or (method == "POST" and len(segments) != 1):
            raise errors.invalid(f"{method} needs a url of the form [type]"
                                 f"{'' if method == 'POST' else '/[id] or [type]?criteria'}")
        if raw.get("resource") is None:
            raise errors.invalid(f"a {method} entry needs a resource", [f"{where}.resource"])
        fhir_request.valid = validate(raw["resource"], type, f"{where}.resource")
    if method == "PATCH":
        fhir_request.raw, fhir_request.content_type = _patch_body(raw.get("resource"), where)
        fhir_request.parsed = None
    return Entry(index, method, url, full_url, fhir_request, type, id, conditional)


def _relative(ctx: Context, url: str) -> str:
    if url.startswith(ctx.base_url + "/"):
        return url[len(ctx.base_url) + 1:]
    if "://" in url.split("?")[0]:
        raise errors.invalid("entry.request.url must be relative to this server's base")
    return url.lstrip("/")


def _patch_body(resource: object, where: str) -> tuple[bytes, str]:
    """A PATCH entry carries its JSON Patch as a Binary (FHIRPath Patch is not supported)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Binary" \
            or resource.get("contentType") != JSON_PATCH:
        raise errors.unsupported_media_type(
            f"a PATCH entry needs a Binary resource of contentType {JSON_PATCH}")
    try:
        return base64.b64decode(resource.get("data", ""), validate=True), JSON_PATCH
    except (binascii.Error, ValueError, TypeError):
        raise errors.invalid("the PATCH Binary's data is not base64",
                             [f"{where}.resource.data"]) from None


def _response_entry(ctx: Context, entry: Entry) -> dict:
    response = entry.response or FhirResponse(204)
    out: dict = {}
    version = response.version
    if version is not None and not version.deleted:
        out["fullUrl"] = f"{ctx.base_url}/{version.type}/{version.id}"
    if response.body is not None:
        body = response.body
        out["resource"] = fragment(body) if isinstance(body, bytes) else body
    status: dict = {"status": STATUS_TEXT.get(response.status, str(response.status))}
    if version is not None:
        if entry.method not in ("GET", "HEAD"):
            status["location"] = version_url(version)
        status["etag"] = f'W/"{version.version}"'
        status["lastModified"] = version.last_updated
    out["response"] = status
    return out


def _located(error: errors.FhirError, entry: Entry | None,
             index: int | None = None) -> errors.FhirError:
    """``error`` with its issues naming the bundle entry that caused it."""
    if entry is not None:
        index = entry.index
    if index is None:
        return error
    where = f"Bundle.entry[{index}]"
    for issue in error.issues:
        if not issue.diagnostics.startswith(where):
            label = f"{where} ({entry.method} {entry.url[:100]})" if entry else where
            issue.diagnostics = f"{label}: {issue.diagnostics}"
        if not issue.expression:
            issue.expression = [where]
        elif not issue.expression[0].startswith("Bundle."):
            issue.expression = [f"{where}.{e}" for e in issue.expression]
    return error
