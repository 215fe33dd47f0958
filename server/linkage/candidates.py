"""Candidate links: a new survivor who is probably one already known is recorded as such
for a caseworker to confirm (issue 7), never linked on the server's own judgement.

A certain match never gets here: a create with the same valid RUN or document returns the
existing Patient (``server/api/write.py``). When an institution creates a Patient with no
valid RUN and no document (the fixtures' rule 5.2.2 links only such a record
probabilistically; one with a RUN is someone until her RUN says otherwise), this write
rule looks, among the survivors that institution may see, for those the rules of
``compare.py`` grade ``probable``, and writes for each a FHIR ``Linkage`` in the same unit
of work:

- ``active`` false: asserted by nobody yet, a candidate;
- ``item``: the known survivor as ``source``, the new record as ``alternate``;
- authored by the institution that created her (its ``meta.tag``), so only that
  institution sees it (a Linkage names no survivor as its subject: its access keys are
  its author's), and it names nobody that institution could not already see.

The caseworker confirms a candidate with ``Patient/$merge`` (which removes the candidate)
or rejects it by deleting the Linkage; its history keeps what was proposed.

Blocking is narrower than ``Patient/$match``'s: the first given name together with either
surname (rule (a) needs both), so that a create costs one indexed search (about 0.5 ms);
a surname one letter off is found by ``$match``, not here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from server.linkage.compare import compare
from server.linkage.identity import certain_identifiers, identity
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
        if certain_identifiers(written):
            return  # identified: linked by her RUN or document only (rule 5.2.2)
        for known in probable(repo, w, written)[:MAX_LINKS]:
            repo.create(w, validate({
                "resourceType": "Linkage", "active": False,
                "author": {"reference": w.principal.institution},
                "item": [{"type": "source", "resource": {"reference": f"Patient/{known}"}},
                         {"type": "alternate",
                          "resource": {"reference": f"Patient/{written['id']}"}}]},
                "Linkage", profiles=repo.profiles))

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        return None


def probable(repo: Repository, w: Write, patient: dict) -> list[str]:
    """The ids of the survivors the writer may see whom ``patient`` probably is, best
    first."""
    wanted = identity(patient)
    if not wanted.given or not wanted.surnames:
        return []
    found: dict[str, float] = {}
    query = replace(parse_criteria("Patient", [
        ("given", escape(wanted.given)),
        ("family", ",".join(escape(surname) for surname in wanted.surnames))]),
        count=BLOCK, total=False)
    for version in repo.search(w.principal, query, w.uow).matches:
        known = orjson.loads(version.body)
        if version.id == patient["id"] or merged(known):
            continue
        verdict = compare(wanted, identity(known))
        if verdict.grade == "probable":
            found[version.id] = verdict.score
    return sorted(found, key=lambda id: (-found[id], id))


def merged(patient: dict) -> bool:
    """Whether ``patient`` was merged into another (``$merge``: a ``replaced-by`` link)."""
    return any(link.get("type") == "replaced-by" for link in patient.get("link") or [])
