"""batch and transaction. See: https://hl7.org/fhir/R4B/http.html#transaction

Each entry becomes a ``FhirRequest`` run through the same route table as a single HTTP
request. A transaction runs all of them in ONE unit of work, in the order the spec
prescribes (DELETE, POST, PUT/PATCH, GET/HEAD) after resolving every placeholder and
conditional identity, and any failure rolls everything back and names the entry. A
batch runs each entry on its own and reports each outcome.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl, urlencode

from server import clock, errors
from server.api.bundle_entries import Entry, located, parse_entry
from server.api.references import rewrite, rewrite_params
from server.api.responses import STATUS_TEXT, bundle, fragment, version_url, written
from server.api.router import Context, FhirRequest, FhirResponse, dispatch, route
from server.repository import institution_code, new_id
from server.search.definitions import resource_types
from server.search.parse import parse_criteria
from server.validation import check_type

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


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
    if ctx.audit is not None:
        ctx.audit.entered(kind)  # the route serves both: this request is one of them
    if kind == "batch":
        return _batch(ctx, raw_entries, prefer_header)
    entries = [parse_entry(ctx, i, raw, prefer_header, validate_now=True)
               for i, raw in enumerate(raw_entries)]
    _check_full_urls(entries)
    return _transaction(ctx, entries)


# -- transaction ------------------------------------------------------------------------


def _transaction(ctx: Context, entries: list[Entry]) -> FhirResponse:
    mapping = _placeholders(entries)
    at = clock.now()
    settled = _prepare_outside_the_lock(ctx, entries, mapping, at)
    current: Entry | None = None
    creating: dict[tuple[str, str], Entry] = {}
    try:
        with ctx.repo.write(ctx.principal, at) as w:
            tx = replace(ctx, write=w)
            moved: dict[str, str] = {}
            for current in entries:
                assigned = current.id
                _resolve_identity(tx, current, mapping, creating)
                if settled and current.method == "POST" and current.id != assigned:
                    moved[f"{current.type}/{assigned}"] = f"{current.type}/{current.id}"
            current = None
            if moved:
                _prepare_again(ctx, entries, moved, at)
            _check_overlaps(entries)
            for current in entries:
                if current.request.valid is not None and not settled:
                    rewrite(current.request.valid.resource, mapping,
                            lambda ref: _resolve_reference(tx, ref))
                if current.method in ("GET", "HEAD") and current.request.params:
                    current.request.params = rewrite_params(current.request.params, mapping)
            for current in sorted(entries, key=lambda e: _ORDER[e.method]):
                if current.response is None and current.same_as is None:
                    current.response = dispatch(tx, current.request)
            current = None
            for entry in entries:
                if entry.same_as is not None:
                    entry.response = replace(entry.same_as.response, status=200)
            ctx.seal_audit(w)
            w.uow.commit()
        if ctx.audit is not None:
            ctx.audit.committed()
    except errors.FhirError as error:
        raise located(error, current) from None
    return FhirResponse(200, bundle("transaction-response",
                                    [_response_entry(ctx, e) for e in entries]))


def _placeholders(entries: list[Entry]) -> dict[str, str]:
    """fullUrl -> ``Type/id`` for every identity known before touching the store (new
    ids for POST entries, the ids of PUT/DELETE/PATCH by id)."""
    mapping = {}
    for entry in entries:
        if entry.method == "POST":
            entry.id = entry.request.assigned_id = new_id()
        if entry.full_url and entry.type and entry.id and not entry.conditional:
            mapping[entry.full_url] = f"{entry.type}/{entry.id}"
    return mapping


def _prepare_outside_the_lock(ctx: Context, entries: list[Entry], mapping: dict[str, str],
                              at: tuple[str, int]) -> bool:
    """When no entry's identity depends on the store (no conditional entry, no
    conditional reference), rewrite the placeholders and prepare the new resources
    (stamped, serialised, indexed) now, so that the store's write lock is held for the
    writes only. Returns whether that was possible.

    A survivor's create that the server made conditional (``Entry.implied``) does not
    stop it: she is almost always new, so her entry is prepared as a creation, and in
    the rare case she is known after all ``_prepare_again`` points the bundle at her."""
    if any(e.conditional or (e.method == "POST" and e.request.header("if-none-exist")
                             and not e.implied) for e in entries):
        return False
    for entry in entries:
        try:
            if entry.request.valid is not None and rewrite(entry.request.valid.resource,
                                                           mapping, None):
                return False  # a conditional reference: resolved under the lock
        except errors.FhirError as error:
            raise located(error, entry) from None
    for entry in entries:
        if entry.method == "POST":
            entry.request.valid.prepared = ctx.repo.prepare(
                entry.request.valid, entry.id, 1, at, "POST", institution_code(ctx.principal))
    return True


def _prepare_again(ctx: Context, entries: list[Entry], moved: dict[str, str],
                   at: tuple[str, int]) -> None:
    """A prepared bundle whose survivor turned out to be known (``moved``: the id her
    entry was given -> hers): every resource that names the given id names hers, and the
    new ones are prepared again."""
    for entry in entries:
        valid = entry.request.valid
        if valid is None or entry.response is not None or entry.same_as is not None:
            continue
        rewrite(valid.resource, moved, None)
        if entry.method == "POST":
            valid.prepared = ctx.repo.prepare(valid, entry.id, 1, at, "POST",
                                              institution_code(ctx.principal))


def _resolve_identity(tx: Context, entry: Entry, mapping: dict[str, str],
                      creating: dict[tuple[str, str], Entry]) -> None:
    """Turn conditional create/update/delete/patch into concrete ids (or a match).

    A conditional create that matches nothing becomes a plain create (its criteria are
    not searched a second time); a later entry with the same criteria is the same new
    resource, not a duplicate of it."""
    req, repo, w = entry.request, tx.repo, tx.write
    if entry.method == "POST" and req.header("if-none-exist"):
        raw = req.header("if-none-exist")
        params = rewrite_params(parse_qsl(raw.split("?", 1)[-1], keep_blank_values=True),
                                mapping)
        key = (entry.type, urlencode(sorted(params)))
        matches = [] if key in creating else repo.match(w, parse_criteria(entry.type, params))
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"ifNoneExist matched {len(matches)} {entry.type} resources")
        if matches:
            entry.id = matches[0].id
            entry.response = written(tx, req, 200, matches[0], "matched ifNoneExist")
        elif key in creating:
            entry.same_as = creating[key]
            entry.id = entry.same_as.id
        else:
            creating[key] = entry
            req.headers = {k: v for k, v in req.headers.items() if k != "if-none-exist"}
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
        if entry.method in ("GET", "HEAD") or entry.id is None or entry.response is not None \
                or entry.same_as is not None:  # reads, matches and repeats change nothing
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
            raise located(errors.invalid("duplicate fullUrl in the transaction"), entry)
        seen.add(entry.full_url)


# -- batch ----------------------------------------------------------------------------------


def _batch(ctx: Context, raw_entries: list, prefer_header: str | None) -> FhirResponse:
    out = []
    for i, raw in enumerate(raw_entries):
        try:
            entry = parse_entry(ctx, i, raw, prefer_header, validate_now=False)
            if ctx.authorize_entry is not None:
                ctx.authorize_entry(entry.request)
            if entry.request.parsed is not None and isinstance(entry.request.parsed, dict):
                rewrite(entry.request.parsed, {}, lambda ref: _batch_reference(ctx, ref))
            entry.response = dispatch(ctx, entry.request)
            out.append(_response_entry(ctx, entry))
        except errors.FhirError as error:
            out.append({"response": {"status": STATUS_TEXT.get(error.status, str(error.status)),
                                     "outcome": located(error, None, i).outcome()}})
    return FhirResponse(200, bundle("batch-response", out))


def _batch_reference(ctx: Context, reference: str) -> str:
    with ctx.repo.write(ctx.principal) as w:
        return _resolve_reference(replace(ctx, write=w), reference)


# -- entries ----------------------------------------------------------------------------------


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
