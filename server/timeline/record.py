"""A survivor's record, and the part of it that is one case's, as the caller may see it.

Every resource comes from ``Repository.search`` with the caller's principal, so the
consent gate has already left out (and redacted) what the caller may not see: nothing
here ever holds a hidden record, so nothing built from it can count or hint at one.

Scopes are not in the gate's keys (``consent/_keys.py``): the server applies them per
type. A caller reads here only the types its token's scopes allow to read (``r``,
``server.auth.scopes.allows``); the platform itself (an internal principal) reads all.

Her record is the Patient compartment as ``server/access.py`` keeps it: the types of
``RECORD_TYPES``, each searched by ``patient``. A case's part of it (``case_part``) is
the case, the care teams it names, and every record of hers linked to the case, directly
or through another record of the case (the IG's ``caso`` search parameter and its
neighbours):

- ``Encounter.episodeOfCare`` and the ``workflow-episodeOfCare`` extension (Observation,
  ServiceRequest, CarePlan, QuestionnaireResponse, any other type that carries it);
- ``DocumentReference.context.encounter`` naming the case or one of its contacts;
- ``encounter``, ``basedOn``, ``focus``, ``partOf`` and ``basis`` naming a record of the
  case: an assessment made at one of its contacts, the task of one of its referrals.

A record linked only through one the caller may not see is not shown as the case's:
the link is judged on what the caller sees, never on a hidden record.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import orjson

from server import errors
from server.access import RECORD_TYPES, Principal, survivor_of
from server.auth.scopes import allows
from server.cases import WORKFLOW_EPISODE
from server.search.definitions import resource_types
from server.search.parse import parse_criteria
from server.search.values import parse_reference
from server.store import Reader, StoredVersion
from server.timeline.dates import timeline_date

if TYPE_CHECKING:
    from server.repository import Repository

__all__ = ["MAX_RECORDS", "Entry", "Record", "case_part", "case_record",
           "entry", "her_record", "readable_types"]

#: The elements through which a record joins the case of the record it names.
LINKS = ("episodeOfCare", "encounter", "basedOn", "focus", "partOf", "basis")
#: The records of hers read at most, all types together: a guard against a record so
#: large that ordering it in memory would hurt the server (the answer says when it cut).
MAX_RECORDS = 5000
_PAGE = 500


@dataclass(frozen=True, slots=True)
class Entry:
    """One visible record: its stored version (as the caller may see it), its content,
    and the instant that places it in the timeline (``dates.timeline_date``)."""

    version: StoredVersion
    resource: dict
    date: int

    @property
    def ref(self) -> str:
        return f"{self.version.type}/{self.version.id}"


@dataclass(frozen=True, slots=True)
class Record:
    """What was read of her record; ``truncated`` when ``MAX_RECORDS`` cut it."""

    entries: tuple[Entry, ...]
    truncated: bool = False


def entry(version: StoredVersion) -> Entry:
    resource = orjson.loads(version.body)
    return Entry(version, resource, timeline_date(resource))


def readable_types(principal: Principal, types: Iterable[str]) -> tuple[str, ...]:
    """Those of ``types`` the caller's scopes allow it to read (all, for the platform)."""
    return tuple(t for t in types if principal.internal or allows(principal.scopes, t, "r"))


def her_record(repo: Repository, principal: Principal, patient: str,
               types: Iterable[str] = RECORD_TYPES, reader: Reader | None = None) -> Record:
    """The current versions of her record (``patient`` is ``Patient/<id>``; the Patient
    itself is not among them) of ``types`` that the caller may see, at most
    ``MAX_RECORDS``."""
    entries: list[Entry] = []
    for type in types:
        query = replace(parse_criteria(type, [("patient", patient)]), count=_PAGE,
                        total=False)
        while True:
            page = repo.search(principal, query, reader)
            entries += (entry(v) for v in page.matches)
            if len(entries) > MAX_RECORDS:
                return Record(tuple(entries[:MAX_RECORDS]), truncated=True)
            if page.next_cursor is None:
                break
            query = replace(query, cursor=page.next_cursor)
    return Record(tuple(entries))


def case_record(repo: Repository, principal: Principal, case: Entry,
                reader: Reader | None = None) -> Record:
    """The case's part of her record (``case_part``) as the caller may see it, read from
    every type its scopes allow; a care team the case names that her record search did
    not find (one without ``subject``) is read by id."""
    patient = survivor_of(case.resource)
    record = her_record(repo, principal, patient, readable_types(principal, RECORD_TYPES),
                        reader) if patient else Record(())
    found = {item.ref for item in record.entries}
    teams = []
    if readable_types(principal, ("CareTeam",)):
        for ref in _references(case.resource.get("team")):
            type, _, id = ref.partition("/")
            if type == "CareTeam" and ref not in found:
                # missing, deleted or hidden: not part of what the caller sees
                with suppress(errors.FhirError):
                    teams.append(entry(repo.read(principal, type, id, reader)))
    return Record(tuple(case_part(case, [*record.entries, *teams])), record.truncated)


def case_part(case: Entry, record: Iterable[Entry]) -> list[Entry]:
    """The case, its care teams and the records of ``record`` linked to it (see the
    module docstring), the case first, the others in the order they joined."""
    teams = {ref for ref in _references(case.resource.get("team")) if ref.startswith("CareTeam/")}
    members = {case.ref} | teams
    part = [case]
    rest = []
    for item in record:
        if item.ref == case.ref:
            continue
        if item.ref in teams:
            part.append(item)
        else:
            rest.append(item)
    grown = True
    while grown:  # a record may join through one that joined on the previous pass
        grown, waiting = False, []
        for item in rest:
            if links(item.resource) & members:
                members.add(item.ref)
                part.append(item)
                grown = True
            else:
                waiting.append(item)
        rest = waiting
    return part


def links(resource: dict) -> set[str]:
    """``Type/id`` of every record ``resource`` names through a link of the case."""
    found = set(_references(*(resource.get(name) for name in LINKS)))
    context = resource.get("context")
    if resource.get("resourceType") == "DocumentReference" and isinstance(context, dict):
        found.update(_references(context.get("encounter")))
    for extension in resource.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == WORKFLOW_EPISODE:
            found.update(_references(extension.get("valueReference")))
    return found


def _references(*values: object) -> list[str]:
    """``Type/id`` of the References in ``values`` (each a Reference or a list of them);
    an absolute URL ending in ``Type/id`` counts, a contained or unknown one does not."""
    out = []
    for value in values:
        for item in value if isinstance(value, list) else [value]:
            text = item.get("reference") if isinstance(item, dict) else None
            parsed = parse_reference(text, resource_types()) if isinstance(text, str) else None
            if parsed is not None and parsed[0] is not None:
                out.append(f"{parsed[0]}/{parsed[1]}")
    return out
