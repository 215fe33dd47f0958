"""The platform's review of candidate links (``amparo linkage``): the links it proposed
while linking an ingestion (``candidates.py``; no institution sees them, since they may
name a woman the institution does not know) are confirmed or rejected by the platform's
staff, as an institution's caseworker does with its own over the API.

Confirming merges the record to fold into the record to keep (``Patient/$merge``, which
also folds her cases into one and settles the link); rejecting deletes the link, whose
history keeps what was proposed. Both go through the route table as the platform, with
the staff member running the command as the audit trail's user, so they are written,
audited and undoable (``Patient/$unmerge``) exactly as over the API.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import orjson

from server.access import ANONYMOUS, author_code
from server.api.flask_app import blueprint  # noqa: F401 (registers the routes)
from server.api.router import Context, FhirRequest, dispatch
from server.audit.recorder import AuditRecord
from server.errors import not_found
from server.linkage.compare import compare
from server.linkage.identity import identity
from server.repository import Repository
from server.search.parse import parse_search

#: candidate links listed at most, oldest first
LIMIT = 1000


@dataclass(frozen=True)
class Candidate:
    """A proposed link: the record to keep, the one to fold into it, why, and who
    proposed it (an institution's id, or ``plataforma``)."""

    id: str
    keep: str
    fold: str
    reasons: tuple[str, ...]
    proposer: str | None


def pending(repo: Repository) -> list[Candidate]:
    """Every candidate link (``active`` false) still standing."""
    query = parse_search("Linkage", [("_count", str(LIMIT)), ("_sort", "_lastUpdated")]).query
    found = []
    for version in repo.search(ANONYMOUS, replace(query, total=False)).matches:
        link = orjson.loads(version.body)
        if link.get("active") is not False:
            continue
        items = {i.get("type"): (i.get("resource") or {}).get("reference", "")
                 for i in link.get("item") or []}
        keep, fold = items.get("source", ""), items.get("alternate", "")
        found.append(Candidate(version.id, keep, fold, _reasons(repo, keep, fold),
                               author_code(link)))
    return found


def confirm(ctx: Context, id: str) -> dict:
    """Merge the link's record to fold into its record to keep; the ``$merge`` answer."""
    candidate = next((c for c in pending(ctx.repo) if c.id == id), None)
    if candidate is None:
        raise not_found(f"no candidate link Linkage/{id[:64]}")
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": candidate.fold}},
        {"name": "target-patient", "valueReference": {"reference": candidate.keep}}]}
    return _run(ctx, FhirRequest("POST", "Patient/$merge", parsed=body))


def reject(ctx: Context, id: str) -> None:
    if not any(c.id == id for c in pending(ctx.repo)):
        raise not_found(f"no candidate link Linkage/{id[:64]}")
    _run(ctx, FhirRequest("DELETE", f"Linkage/{id}"))


def platform_context(ctx: Context, user: str) -> Context:
    """``ctx`` as the platform, audited with ``user`` as the staff member acting."""
    principal = replace(ANONYMOUS, user=user)
    return replace(ctx, principal=principal, audit=AuditRecord(principal))


def _run(ctx: Context, request: FhirRequest) -> dict:
    response = dispatch(ctx, request)
    body = response.body
    return orjson.loads(body) if isinstance(body, bytes) and body else body or {}


def _reasons(repo: Repository, keep: str, fold: str) -> tuple[str, ...]:
    patients = []
    for reference in (keep, fold):
        found = repo.store.read("Patient", reference.partition("/")[2])
        if found is None or found.deleted:
            return ()
        patients.append(identity(orjson.loads(found.body)))
    return compare(*patients).reasons
