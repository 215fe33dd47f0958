"""Where an export's lines come from: one page of a step (``plan.Step``) at a time.

- ``Identified``: what the caller may search, exactly: the page comes from
  ``Repository.search`` under the job's principal, so the consent gate's access filter
  is applied inside the store query (nothing hidden is ever read, counted or written)
  and a permit that obliges a redaction gives the redacted copy, as a search would.
  The rules behind the keys the page met are noted for the audit event.
- ``Deidentified``: the statistics purpose (``server/analytics/``): the platform reads
  the records itself (no access filter), leaves out every record of a survivor who
  declined statistical use, and only the de-identified form of the rest is written.

Both leave out what changed after the export's ``transactionTime``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from server import clock
from server.access import Principal, survivor_of
from server.analytics.deidentify import Deidentifier
from server.bulk.plan import Step
from server.repository import Repository
from server.search.query import Condition, SearchQuery
from server.store import UNRESTRICTED, Reader, StoredVersion

__all__ = ["DEIDENTIFIED_BASIS", "Deidentified", "Identified", "Page"]

#: The basis the audit event names for a de-identified export.
DEIDENTIFIED_BASIS = "policy:statistics-export"
#: A reference to a Patient, relative or absolute, versioned or not.
_PATIENT = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/|$)")


@dataclass(frozen=True)
class Page:
    """The lines of one page (each a resource's JSON), the cursor of the next page
    (None: the step is done) and the access rules the page's resources met."""

    lines: list[bytes]
    cursor: tuple | None
    rules: tuple[str, ...] = ()


class Identified:
    """Pages as ``principal`` may search them (see the module docstring)."""

    def __init__(self, repo: Repository, principal: Principal, transaction_us: int,
                 size: int):
        self.repo, self.principal = repo, principal
        self.transaction_us, self.size = transaction_us, size

    def page(self, step: Step, cursor: tuple | None) -> Page:
        found = self.repo.search(self.principal, SearchQuery(
            step.type, step.conditions, count=self.size, total=False, cursor=cursor))
        matches = [m for m in found.matches if _before(m, self.transaction_us)]
        if step.earlier and matches:
            repeated = self._earlier(step, [m.id for m in matches])
            matches = [m for m in matches if m.id not in repeated]
        rules = self.repo.basis(self.principal, matches) if matches else ()
        return Page([m.body for m in matches], found.next_cursor, rules)

    def _earlier(self, step: Step, ids: list[str]) -> set[str]:
        """The ids an earlier ``_typeFilter`` query of the step also matches (written
        already)."""
        found: set[str] = set()
        for conditions in step.earlier:
            query = SearchQuery(step.type, (*conditions, Condition("_id", "id", tuple(ids))),
                                count=len(ids), total=False)
            found.update(m.id for m in self.repo.search(self.principal, query).matches)
        return found


class Deidentified:
    """De-identified pages read through the platform (see the module docstring).
    ``decliners``: the survivors who declined statistical use, read when the run
    started."""

    def __init__(self, reader: Reader, deidentifier: Deidentifier,
                 decliners: frozenset[str], transaction_us: int, size: int):
        self.reader, self.deidentifier, self.decliners = reader, deidentifier, decliners
        self.transaction_us, self.size = transaction_us, size

    def page(self, step: Step, cursor: tuple | None) -> Page:
        found = self.reader.search(SearchQuery(step.type, step.conditions, count=self.size,
                                               total=False, cursor=cursor), UNRESTRICTED)
        lines = []
        for match in found.matches:
            if not _before(match, self.transaction_us):
                continue
            resource = orjson.loads(match.body)
            if self._declined(resource):
                continue
            copy = self.deidentifier.resource(resource)
            if copy is not None:
                lines.append(orjson.dumps(copy))
        return Page(lines, found.next_cursor, (DEIDENTIFIED_BASIS,))

    def _declined(self, resource: dict) -> bool:
        """Whether ``resource`` is about, or names, a survivor who declined."""
        if not self.decliners:
            return False
        if survivor_of(resource) in self.decliners:
            return True
        return any(ref in self.decliners for ref in _patients(resource))


def _before(version: StoredVersion, transaction_us: int) -> bool:
    changed = clock.parse_instant(version.last_updated)
    return changed is not None and changed <= transaction_us


def _patients(value: object) -> Iterator[str]:
    """Every ``Patient/<id>`` a resource's references name, anywhere in it."""
    if isinstance(value, dict):
        ref = value.get("reference")
        found = _PATIENT.search(ref) if isinstance(ref, str) else None
        if found is not None:
            yield f"Patient/{found.group(1)}"
        for item in value.values():
            yield from _patients(item)
    elif isinstance(value, list):
        for item in value:
            yield from _patients(item)
