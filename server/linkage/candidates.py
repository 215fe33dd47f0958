"""Candidate links: a new survivor who is probably one already known is recorded as such
for someone to confirm (issue 7), never linked on the server's own judgement.

A certain match never gets here: a create with the same valid RUN or document returns the
existing Patient (``server/api/write.py``). Rule 5.2.2 of the institutions' fixtures
links a record with no valid RUN and no document probabilistically, so when a Patient is
created this write rule looks for the survivors ``compare.py`` grades ``probable``:

- a new record with no valid RUN or document, among all the known survivors;
- a new record with a valid RUN or a passport, among the known survivors with neither
  (the woman a neighbour named to the hotline, whom her complaint with her RUN now
  names), since otherwise the order the records came in would decide whether they are
  linked;
- a new record with another system's identifier only (a partner system's own number),
  not at all: it is linked by that identifier, as a certain match.

For each it writes a FHIR ``Linkage`` in the same unit of work:

- ``active`` false: asserted by nobody yet, a candidate;
- ``item``: the record to keep as ``source`` (the one with a RUN or document, else the
  known one), the record to merge into it as ``alternate``;
- whoever looks is who sees it. Over the API, that is the institution that created her:
  it looks among the survivors it may see, authors the link (its ``meta.tag``; a Linkage
  names no survivor as its subject, so its access keys are its author's), and the link
  names nobody that institution could not already see. For a platform-linked ingestion
  (``Principal.platform_links``) the platform looks among every survivor and the link
  is the platform's, seen only by its own review (``amparo linkage``), since it may name
  a woman the institution does not know.

Confirming a candidate is merging its alternate into its source (``Patient/$merge``,
``amparo linkage confirm``), which removes the candidate; rejecting is deleting the
Linkage; its history keeps what was proposed.

Blocking is narrower than ``Patient/$match``'s: the first given name together with either
surname (rule (a) needs both), so that a create costs one indexed search (about 0.5 ms);
a surname one letter off is found by ``$match``, not here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from server.access import ANONYMOUS
from server.linkage.compare import compare
from server.linkage.identity import (
    RUN_SYSTEM,
    carries_identity_document,
    identified,
    identity,
)
from server.search.parse import parse_criteria
from server.search.syntax import escape
from server.validation import validate

if TYPE_CHECKING:
    from server.repository import Repository, Write

#: candidates read per blocking search, and candidate links written per new survivor
BLOCK, MAX_LINKS = 50, 5


class CandidateLinks:
    """The write rule (``Repository`` runs it on every Patient write)."""

    types = frozenset({"Patient"})

    def after_write(self, repo: Repository, w: Write, written: dict,
                    previous: dict | None) -> None:
        if previous is not None or w.principal.institution is None:
            return  # only a new record, made by an institution
        named = identified(written)
        if named and not carries_identity_document(written):
            return  # another system's identifier: she is linked by it only (issue 7)
        looker = replace(w, principal=ANONYMOUS) if w.principal.platform_links else w
        for known in probable(repo, looker, written, unidentified_only=named)[:MAX_LINKS]:
            keep, fold = (written["id"], known) if named else (known, written["id"])
            link = {"resourceType": "Linkage", "active": False,
                    "item": [{"type": "source", "resource": {"reference": f"Patient/{keep}"}},
                             {"type": "alternate",
                              "resource": {"reference": f"Patient/{fold}"}}]}
            if looker is w:
                link["author"] = {"reference": w.principal.institution}
            repo.create(looker, validate(link, "Linkage", profiles=repo.profiles))

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        return None


def probable(repo: Repository, w: Write, patient: dict,
             unidentified_only: bool = False) -> list[str]:
    """The ids of the survivors the writer may see whom ``patient`` probably is, best
    first (with ``unidentified_only``, only those with no valid RUN or document)."""
    wanted = identity(patient)
    if not wanted.given or not wanted.surnames:
        return []
    found: dict[str, float] = {}
    criteria = [("given", escape(wanted.given)),
                ("family", ",".join(escape(surname) for surname in wanted.surnames))]
    if unidentified_only:  # most women have a RUN: the store leaves them out (passports below)
        criteria.append(("identifier:not", f"{escape(RUN_SYSTEM)}|"))
    query = replace(parse_criteria("Patient", criteria), count=BLOCK, total=False)
    for version in repo.search(w.principal, query, w.uow).matches:
        known = orjson.loads(version.body)
        if version.id == patient["id"] or merged(known) or \
                (unidentified_only and identified(known)):
            continue
        verdict = compare(wanted, identity(known))
        if verdict.grade == "probable":
            found[version.id] = verdict.score
    return sorted(found, key=lambda id: (-found[id], id))


def merged(patient: dict) -> bool:
    """Whether ``patient`` was merged into another (``$merge``: a ``replaced-by`` link)."""
    return any(link.get("type") == "replaced-by" for link in patient.get("link") or [])
