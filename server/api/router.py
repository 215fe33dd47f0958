"""The FHIR REST surface as one route table, independent of Flask (Medplum's fhir-router).

HTTP requests (``server/api/flask_app.py``) and the entries of batch/transaction bundles
(``server/api/bundle.py``) both become a ``FhirRequest`` and go through ``dispatch``, so
an entry of a transaction behaves exactly like the same request sent alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from server import errors
from server.access import Principal
from server.api.body import parse_json
from server.api.versions import R4B, body_version
from server.audit.recorder import AuditRecord
from server.config import Settings
from server.repository import Repository, Write
from server.search.definitions import resource_types
from server.store import Reader, StoredVersion
from server.validation import Valid, validate

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NO_BODY = object()


@dataclass
class FhirRequest:
    """One FHIR interaction request. ``path`` is relative to the base (``Patient/1``)."""

    method: str
    path: str
    params: list[tuple[str, str]] = field(default_factory=list)
    #: looked up by lower-case name (Werkzeug's headers match any case)
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str | None = None
    parsed: Any = _NO_BODY  # a bundle entry's resource, already parsed
    valid: Valid | None = None  # a bundle entry's resource, already validated
    assigned_id: str | None = None  # a transaction's pre-assigned id for a POST entry

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if value not in (None, "") else None

    def json(self, settings: Settings) -> Any:
        """The body as JSON (415 for a non-JSON media type, 400 when malformed)."""
        if self.parsed is not _NO_BODY:
            return self.parsed
        body_version(self.content_type)
        if self.raw is None:
            raise errors.invalid("the request has no body")
        self.parsed = parse_json(self.raw, settings.max_json_depth)
        return self.parsed

    def resource(self, settings: Settings, type: str) -> Valid:
        """The body as a validated resource of ``type`` (validated once per request)."""
        if self.valid is None or self.valid.type != type:
            self.valid = validate(self.json(settings), type, profiles=settings.profiles)
        return self.valid


@dataclass
class FhirResponse:
    """``body`` is a dict (may hold ``orjson.Fragment``s), raw JSON bytes, or None."""

    status: int
    body: dict | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    #: the version written or read, for transaction/batch response entries
    version: StoredVersion | None = None


@dataclass
class Context:
    """What a handler needs besides the request."""

    repo: Repository
    settings: Settings
    principal: Principal
    base_url: str
    version: str = R4B
    write: Write | None = None  # set while a transaction runs its entries
    #: checks the caller's permission for one batch entry (403 in that entry's response);
    #: the edge checks everything else before dispatching (``server/auth/permissions``)
    authorize_entry: Callable[[FhirRequest], None] | None = None
    #: the request's audit (None: an internal call, which keeps no trail)
    audit: AuditRecord | None = None
    #: moves this process's spooled audit events into the trail (an auditor's search)
    flush_audit: Callable[[], None] | None = None

    @property
    def reader(self) -> Reader | None:
        return self.write.uow if self.write is not None else None

    @contextmanager
    def writing(self) -> Iterator[Write]:
        """The transaction's unit of work, or a new one committed when the block ends."""
        if self.write is not None:
            yield self.write
            return
        with self.repo.write(self.principal) as w:
            yield w
            self.seal_audit(w)
            w.uow.commit()
        if self.audit is not None:
            self.audit.committed()

    def seal_audit(self, w: Write) -> None:
        """Append the audit event of what ``w`` wrote to ``w``'s unit, before it commits."""
        if self.audit is not None and w.written:
            self.audit.seal_into(w.uow, w.at, w.written, w.basis)


Handler = Callable[..., FhirResponse]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: tuple[str, ...]
    handler: Handler
    #: CapabilityStatement interaction code (None for metadata itself).
    interaction: str | None
    level: str  # "system", "type" or "instance"


_ROUTES: list[Route] = []


def route(method: str, pattern: str, interaction: str | None, level: str):
    """Register ``handler`` for ``method`` and a pattern such as ``:type/:id/_history``."""
    def register(handler: Handler) -> Handler:
        parts = tuple(p for p in pattern.split("/") if p)
        _ROUTES.append(Route(method, parts, handler, interaction, level))
        return handler
    return register


def routes() -> list[Route]:
    """Every registered route (the CapabilityStatement is generated from these)."""
    return list(_ROUTES)


def dispatch(ctx: Context, req: FhirRequest) -> FhirResponse:
    """Run the handler that matches ``req``; 404/405 as OperationOutcome otherwise."""
    segments = [s for s in req.path.split("/") if s]
    operation = next((s for s in segments if s.startswith("$")), None)
    method = "GET" if req.method == "HEAD" else req.method
    # an operation is served only by a route that names it (never read as an id); routes
    # with more literal segments come first (``ig/package.tgz`` before ``:type/:id``)
    candidates = sorted((r for r in _ROUTES if len(r.pattern) == len(segments)
                         and (operation is None or operation in r.pattern)),
                        key=lambda r: sum(part[0] == ":" for part in r.pattern))
    if operation is not None and not any(_match(r.pattern, segments) is not None
                                         for r in candidates):
        raise errors.not_supported(f"operation {operation[:64]} is not supported")
    for candidate in candidates:
        if candidate.method == method:
            params = _match(candidate.pattern, segments)
            if params is not None:
                return _run(ctx, req, candidate, params)
    allowed: set[str] = set()
    for candidate in candidates:
        try:
            if _match(candidate.pattern, segments) is not None:
                allowed.add(candidate.method)
        except errors.FhirError:  # an unknown type, once a literal route has matched
            if not allowed:
                raise
            break
    if allowed:
        raise errors.method_not_allowed(
            f"{req.method} is not allowed here; allowed: {', '.join(sorted(allowed))}")
    raise errors.not_found(f"no FHIR endpoint at '{req.path[:100]}'")


def _run(ctx: Context, req: FhirRequest, route: Route, params: dict[str, str]) -> FhirResponse:
    if ctx.audit is None:
        return route.handler(ctx, req, **params)
    ctx.audit.entering(route.interaction)
    try:
        response = route.handler(ctx, req, **params)
        ctx.audit.returned(response.version)
        return response
    finally:
        ctx.audit.leaving()


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    params = {}
    for part, segment in zip(pattern, segments, strict=True):
        if part[0] == ":":
            if segment[0] == "_" or segment == "metadata":
                return None
            params[part[1:]] = segment
        elif part != segment:
            return None
    if "type" in params and params["type"] not in resource_types():
        raise errors.not_found(f"resource type '{params['type'][:64]}' is not supported")
    if "id" in params and not ID.fullmatch(params["id"]):
        raise errors.invalid(f"'{params['id'][:64]}' is not a valid resource id")
    return params
