"""Ingesting an institution's export file (``amparo ingest``) with a mapping of
``mappings/``: each ingested record's transaction goes through the same route table as
an HTTP request (``dispatch``), as that institution (its author tag, its consent view),
so it is validated, indexed and audited exactly like data a partner system sends. One
thing differs: the platform links the survivors (``principal_of``), since an operator,
not the institution, runs the load, and one woman is one record whoever met her first.

One record is one transaction: a record that fails (a profile it breaks, a conflict)
is rejected alone with the server's reason and nothing of it is stored; the others are
committed. A crash mid-file leaves every record either whole or absent, and since ids
derive from the records' keys, running the same file again writes nothing new for the
records already in and completes the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

import orjson

import mappings
from mappings.engine import REJECTED, Issue, Result
from server import errors
from server.access import AccessGate, Principal
from server.api.flask_app import blueprint  # noqa: F401 (registers the routes)
from server.api.router import Context, FhirRequest, dispatch
from server.audit.recorder import AuditRecord
from server.config import Settings
from server.loading import INTERNAL_BASE
from server.repository import Repository
from server.store import Store

#: The purpose an institution's own load is made for (its consent view for linkage).
PURPOSE = "COC"
INSTITUTION_SID = "https://fhir.amparo.cl/sid/institucion"


@dataclass
class Summary:
    """What a run did: outcomes counted, and every record's result (for the report)."""

    mapping: str
    source: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(mappings.OUTCOMES, 0))
    results: list[Result] = field(default_factory=list)

    def add(self, result: Result) -> None:
        self.counts[result.outcome] += 1
        self.results.append(result)


def principal_of(mapping: dict, institution: str | None = None) -> Principal:
    """The institution a record comes from (``institution``, else the mapping's), as it
    writes: its own records, read through its consent view, except that the platform
    links the survivors (``platform_links``): a woman another institution already
    recorded with the same valid RUN or document is found and her record is the one added
    to, with the institution joining her case; a probable match becomes a candidate link
    for the platform's review."""
    return Principal(client_id=f"ingest:{mapping['name']}",
                     institution=institution or f"Organization/{mapping['institution']}",
                     purpose=PURPOSE, scopes=frozenset({"system/*.cruds"}),
                     platform_links=True)


def author_of(store: Store, result: Result) -> str | None:
    """The record's own institution (``Result.institution``) when the directory has it,
    so that each hospital or centre of a feed of several authors its records, sees them
    and takes part in the case; None otherwise (the mapping's institution writes). An
    institution the bundle makes (a hospital's Organization, created if missing) is the
    directory's with the same ``sid/institucion`` identifier."""
    reference = result.institution or ""
    if reference.startswith("urn:uuid:") and result.bundle is not None:
        made = next((e["resource"] for e in result.bundle["entry"]
                     if e.get("fullUrl") == reference), {})
        ids = [i.get("value") for i in made.get("identifier") or []
               if i.get("system") == INSTITUTION_SID]
        reference = f"Organization/{ids[0]}" if ids and made.get("resourceType") == \
            "Organization" else ""
    type, _, id = reference.partition("/")
    found = store.read("Organization", id) if type == "Organization" and id else None
    return reference if found is not None and not found.deleted else None


def ingest(store: Store, settings: Settings, mapping: dict, data: bytes, source: str,
           dry_run: bool = False, extracted: date | None = None,
           progress: Callable[[Result], None] | None = None) -> Summary:
    """Run ``mapping`` over ``data`` and store what it ingests (nothing with ``dry_run``)."""
    ctx = Context(Repository(store, AccessGate(store), settings.profiles), settings,
                  principal_of(mapping), settings.base_url or INTERNAL_BASE)
    authors: dict[str | None, Principal] = {}
    summary = Summary(mapping["name"], source)
    for result in mappings.convert(mapping, data, source, extracted):
        if result.bundle is not None and not dry_run:
            author = author_of(store, result)
            principal = authors.get(author) or authors.setdefault(
                author, principal_of(mapping, author))
            result = _store(replace(ctx, principal=principal), store, result)
        summary.add(result)
        if progress is not None:
            progress(result)
    return summary


def _store(ctx: Context, store: Store, result: Result) -> Result:
    bundle = result.bundle
    _keep_first_load(store, bundle)
    ctx = replace(ctx, audit=AuditRecord(ctx.principal))  # each record is audited
    try:
        response = dispatch(ctx, FhirRequest("POST", "", parsed=bundle,
                                             headers={"prefer": "return=minimal"}))
    except errors.FhirError as exc:
        return Result(result.position, result.key, REJECTED,
                      [*result.issues, Issue("registro", _diagnostics(exc), "error")])
    if response.status >= 400:
        return Result(result.position, result.key, REJECTED, [
            *result.issues, Issue("registro", f"el servidor respondió {response.status}",
                                  "error")])
    return result


def _keep_first_load(store: Store, bundle: dict) -> None:
    """Re-ingesting a record keeps what its Provenance said of the first load, so that
    nothing changes and no new version is written: when (``recorded``), and what it
    wrote (``target``). A conditional entry (her Patient) may be found elsewhere now,
    in the record she was merged into since, but the first load made the one it made."""
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Provenance":
            found = store.read("Provenance", resource["id"])
            if found is None or found.deleted:
                continue
            first = orjson.loads(found.body)
            resource["recorded"] = first["recorded"]
            if _same_but_conditional(resource["target"], first["target"]):
                resource["target"] = first["target"]


def _same_but_conditional(now: list[dict], first: list[dict]) -> bool:
    """Whether two Provenance target lists differ only where ``now`` names a bundle
    entry of its own (``urn:uuid:``, resolved when the transaction runs)."""
    return len(now) == len(first) and all(
        a["reference"] == b.get("reference") or a["reference"].startswith("urn:uuid:")
        for a, b in zip(now, first, strict=True))


def _diagnostics(error: errors.FhirError) -> str:
    return "; ".join(i.diagnostics for i in error.issues if i.diagnostics)[:500] or str(error)
