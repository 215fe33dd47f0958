"""What a request needs of the token's scopes (DESIGN.md, "Who may see what", 1): the
SMART permission each interaction takes on its resource type, checked before the
request runs (403 otherwise).

- read, vread, instance history: ``r``;
- search (GET or POST ``_search``), type history: ``s``;
- system history: ``s`` on every type (``system/*.s``);
- create ``c``; update and patch ``u``; delete ``d``;
- conditional create (``If-None-Exist``), update, patch and delete: that and ``s`` (the
  criteria are a search);
- transaction: what each entry needs (refused whole, naming the entry); batch: each
  entry is checked when it runs (``Context.authorize_entry``), so a forbidden one gets
  403 in its own response and the others run;
- ``$expand``, ``$validate-code``, ``$lookup``, ``$translate``: ``r`` on ValueSet,
  CodeSystem or ConceptMap;
- ``Patient/$match``: ``s`` (it searches the survivors);
- ``EpisodeOfCare/[id]/$close``, ``$reopen``, ``$transfer``: ``u`` (they change the case);
- ``Patient/$merge``, ``Patient/$unmerge``: ``u`` (they change both Patients);
- ``Measure/[id]/$evaluate-measure``: ``r`` on Measure (aggregates only: README,
  "Indicators");
- ``[type]/[id]/$validate``: ``r`` (it reads the stored resource);
  ``[type]/$validate``: ``c`` or ``u`` (it checks a resource about to be written);
- ``ig/package.tgz``: nothing beyond a valid token; ``metadata`` not even that.

A request that matches no route needs nothing here: the router answers it (404, 405).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from server import errors
from server.access import Principal
from server.api.router import FhirRequest, Route, routes
from server.auth.scopes import allows
from server.config import Settings
from server.search.definitions import resource_types

_BY_INTERACTION = {"read": "r", "vread": "r", "history-instance": "r", "search-type": "s",
                   "history-type": "s", "history-system": "s", "create": "c",
                   "update": "u", "patch": "u", "delete": "d"}
_NAMES = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}
#: a case's life (server/api/case_life.py), merging survivors' records (server/api/merge.py)
_CHANGES = {"$close", "$reopen", "$transfer", "$merge", "$unmerge"}
_MAX_DEPTH = 2  # a bundle inside a bundle entry, and no deeper


@dataclass(frozen=True)
class Need:
    """One of ``any_of``'s permissions on ``type`` (None: on every type)."""

    type: str | None
    any_of: str
    where: str | None = None  # the bundle entry, for the OperationOutcome


def authorize(principal: Principal, req: FhirRequest, settings: Settings, base: str) -> None:
    """Raise 403 (OperationOutcome ``forbidden``) unless ``principal``'s scopes give every
    permission ``req`` needs."""
    for need in needs(req, settings, base):
        if not any(allows(principal.scopes, need.type, p) for p in need.any_of):
            what = " or ".join(_NAMES[p] for p in need.any_of)
            on = f"{need.type} resources" if need.type else "every resource type"
            where = f"{need.where}: " if need.where else ""
            raise errors.FhirError(
                403, "forbidden", f"{where}the access token's scopes do not allow {what} "
                f"on {on}", [need.where] if need.where else None)


def needs(req: FhirRequest, settings: Settings, base: str) -> list[Need]:
    """Every permission ``req`` needs (see the module table)."""
    conditional = req.header("if-none-exist") is not None
    return list(_needs(req.method, req.path, bool(req.params), conditional,
                       lambda: _body(req, settings), base, None, 0))


def _needs(method: str, path: str, has_query: bool, if_none_exist: bool, body, base: str,
           where: str | None, depth: int) -> Iterator[Need]:
    segments = [s for s in path.split("/") if s]
    found = _route("GET" if method == "HEAD" else method, segments)
    if found is None:
        return
    route, type = found
    interaction = route.interaction
    if interaction == "transaction batch":
        bundle = body()
        if depth < _MAX_DEPTH and not (isinstance(bundle, dict) and bundle.get("type") == "batch"):
            yield from _entries(bundle, base, where, depth)
        return
    operation = next((p for p in route.pattern if p.startswith("$")), None)
    if operation is not None:
        if operation == "$validate" and route.level == "type":
            yield Need(type, "cu", where)
        elif operation == "$match":
            yield Need(type, "s", where)
        elif operation in _CHANGES:
            yield Need(type, "u", where)
        else:
            yield Need(type, "r", where)
        return
    permission = _BY_INTERACTION.get(interaction or "")
    if permission is None:  # metadata, the IG package: any valid token
        return
    yield Need(None if interaction == "history-system" else type, permission, where)
    conditional = (interaction == "create" and if_none_exist) or \
        (interaction in ("update", "patch", "delete") and route.level == "type" and has_query)
    if conditional:
        yield Need(type, "s", where)


def _entries(bundle: object, base: str, where: str | None, depth: int) -> Iterator[Need]:
    if not isinstance(bundle, dict) or bundle.get("type") not in ("transaction", "batch") \
            or not isinstance(bundle.get("entry"), list):
        return  # the bundle handler refuses it
    for i, entry in enumerate(bundle["entry"]):
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            continue
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or not isinstance(url, str):
            continue
        if url.startswith(base + "/"):
            url = url[len(base) + 1:]
        path, _, query = url.partition("?")
        label = f"Bundle.entry[{i}]" if where is None else f"{where}.resource.entry[{i}]"
        yield from _needs(method, path.lstrip("/"), bool(parse_qsl(query)),
                          isinstance(request.get("ifNoneExist"), str),
                          lambda entry=entry: entry.get("resource"), base, label, depth + 1)


def _route(method: str, segments: list[str]) -> tuple[Route, str | None] | None:
    """The route the router would run for ``method`` and ``segments``, and its resource
    type; None when none matches (the router answers 404 or 405)."""
    best: tuple[int, Route, str | None] | None = None
    for route in routes():
        if route.method != method or len(route.pattern) != len(segments):
            continue
        type, matched = None, True
        for part, segment in zip(route.pattern, segments, strict=True):
            if part[0] == ":":
                if segment[0] == "_" or segment == "metadata" or \
                        (part == ":type" and segment not in resource_types()):
                    matched = False
                    break
                if part == ":type":
                    type = segment
            elif part != segment:
                matched = False
                break
        if not matched:
            continue
        if type is None and route.pattern and route.pattern[0][0] not in ":$" \
                and route.pattern[0] in resource_types():
            type = route.pattern[0]
        rank = sum(part[0] == ":" for part in route.pattern)
        if best is None or rank < best[0]:
            best = (rank, route, type)
    return None if best is None else (best[1], best[2])


def _body(req: FhirRequest, settings: Settings) -> object:
    try:
        return req.json(settings)
    except errors.FhirError:
        return None  # malformed: the bundle handler answers 400
