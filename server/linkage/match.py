"""Find and rank the survivors a Patient may be (``Patient/$match``).

Candidates come from a few indexed searches (blocking, as record-linkage systems call
it), made with the caller's access filter so that only what the consent model lets her
see is ever compared or returned: each valid RUN and document, each surname (either
order of a double surname), the first given name and the birth date. Each candidate is
then graded by ``compare.compare``.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server.access import Principal
from server.linkage.compare import GRADES, Verdict, compare
from server.linkage.identity import RUN_SYSTEM, Identity, identity
from server.repository import Repository
from server.search.parse import parse_criteria
from server.store import Reader, StoredVersion

#: candidates read per blocking search: a common name stops there, the others still run
BLOCK = 200


def matches(repo: Repository, principal: Principal, patient: dict, *,
            only_certain: bool = False, count: int = 10,
            reader: Reader | None = None) -> list[tuple[StoredVersion, Verdict]]:
    """The visible survivors ``patient`` may be, best first: certain, then probable, then
    possible ones (only certain ones with ``only_certain``), at most ``count``."""
    wanted = identity(patient)
    found: dict[str, tuple[StoredVersion, Verdict]] = {}
    for criteria in _blocks(wanted):
        query = replace(parse_criteria("Patient", [criteria]), count=BLOCK, total=False)
        for version in repo.search(principal, query, reader).matches:
            if version.id in found or version.id == patient.get("id"):
                continue
            verdict = compare(wanted, identity(orjson.loads(version.body)))
            if verdict.grade != "certainly-not":
                found[version.id] = (version, verdict)
    ranked = sorted(found.values(), key=lambda pair: (GRADES.index(pair[1].grade),
                                                       -pair[1].score, pair[0].id))
    if only_certain:
        ranked = [pair for pair in ranked if pair[1].grade == "certain"]
    return ranked[:count]


def _blocks(wanted: Identity) -> list[tuple[str, str]]:
    blocks = [("identifier", f"{RUN_SYSTEM}|{run}") for run in sorted(wanted.runs)]
    blocks += [("identifier", f"{system}|{value}") for system, value in sorted(wanted.documents)]
    blocks += [("family", surname) for surname in wanted.surnames]
    if wanted.given:
        blocks.append(("given", wanted.given))
    if wanted.birth_date:
        blocks.append(("birthdate", wanted.birth_date))
    return blocks
