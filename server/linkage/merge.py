"""Merging two Patients of one woman, and undoing it (``Patient/$merge``, following the R5
operation, and ``Patient/$unmerge``).

A merge, as R5 describes it (https://hl7.org/fhir/R5/patient-operation-merge.html):

- the **source** becomes inactive with a ``replaced-by`` link to the target;
- the **target** gets a ``replaces`` link to the source and the source's identifiers it
  lacks (``use`` old), unless the caller sends the ``result-patient`` to write instead;
- the records of hers that named the source name the target.

What the consent model adds:

- Both Patients must be visible to the caller (404 otherwise, as if missing) and
  changeable by it (403), and they must not contradict each other (different valid RUNs
  or birth dates: 422): a merge is never a way to join two women's records.
- Only records the caller sees are moved, and the platform's own records of her (her
  case and care team), which follow her whatever the caller's purpose shows. Those it
  may change move under its name; the platform's move as the platform's. The
  other institutions' records it sees but may not change still name the source, whose
  ``replaced-by`` link says where she is now; the answer counts them. Records it may not
  see are neither moved nor counted.
- Candidate links (``candidates.py``) between the two are settled: deleted.

Every merge is written with a ``Provenance`` (activity ``merge`` of ISO 21089) whose
``target`` lists each version the merge wrote and whose ``entity`` lists the versions
they replaced; the request's AuditEvent records the writes. ``unmerge`` reads that
Provenance back and undoes exactly what the merge did, where it is still there to undo:
the links and copied identifiers leave the Patients, the source is active as it was,
and each moved reference that still names the target names the source again, whatever
else changed in the record since. The undoing is written with its own Provenance
(activity ``unmerge``), so that a merge and its undoing are both in the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

import consent
from server import cases, errors
from server.access import ANONYMOUS, CONTEXT_TYPES, PLATFORM, RECORD_TYPES, author_code
from server.auth.scopes import allows
from server.linkage.candidates import merged
from server.linkage.compare import compare
from server.linkage.identity import identity
from server.search.parse import parse_criteria
from server.timeline.record import her_record, readable_types
from server.validation import validate

if TYPE_CHECKING:
    from server.repository import Repository, Write

LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
_DISPLAY = {"merge": "Merge Record Lifecycle Event", "unmerge": "Unmerge Record Lifecycle Event"}
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Merged:
    """What a merge (or its undoing) did: the target (the source, for an undoing) as it
    is now, how many records were moved and how many the caller sees but could not
    move."""

    patient: dict
    moved: int
    kept: int


def merge(repo: Repository, w: Write, source_id: str, target_id: str,
          result: dict | None = None, preview: bool = False) -> Merged:
    """Merge ``Patient/source_id`` into ``Patient/target_id`` (``result``: the target as
    the caller wants it written; ``preview``: check and report, write nothing)."""
    if source_id == target_id:
        raise errors.unprocessable("the source and the target are the same Patient")
    source, target = _patient(repo, w, source_id), _patient(repo, w, target_id)
    for role, patient in (("source", source), ("target", target)):
        if merged(patient):
            raise errors.unprocessable(f"the {role} Patient/{patient['id']} was already "
                                       "merged into another (replaced-by)")
    verdict = compare(identity(source), identity(target))
    if verdict.grade == "certainly-not":
        raise errors.unprocessable("these records are not of the same woman: "
                                   + ", ".join(verdict.reasons))
    for patient in (source, target):
        _changeable(repo, w, patient)
    target_after = _result(target, source, result) if result is not None \
        else _absorbed(target, source)
    source_after = {**source, "active": False, "link": [
        *(source.get("link") or []),
        {"other": {"reference": f"Patient/{target_id}"}, "type": "replaced-by"}]}
    moving, shown, kept = _records(repo, w, f"Patient/{source_id}")
    if preview:
        return Merged(target_after, shown, kept)
    keep, folding = cases.to_fold(repo, w, f"Patient/{source_id}", f"Patient/{target_id}")
    renames = {f"Patient/{source_id}": f"Patient/{target_id}"} | {
        f"EpisodeOfCare/{case['id']}": f"EpisodeOfCare/{keep['id']}" for case in folding}
    changes = [_write(repo, w, source, source_after), _write(repo, w, target, target_after)]
    changes += [_write(repo, w, before, _moved(before, renames, folding, w.at[0]))
                for before in moving]
    if keep is not None and folding:
        done = {f"{before['resourceType']}/{before['id']}" for before in moving}
        changes += _fold(repo, w, keep, folding, renames, done,
                         (f"Patient/{source_id}", f"Patient/{target_id}"))
    _settle_candidates(repo, w, source_id, target_id)
    _provenance(repo, w, "merge", changes)
    return Merged(orjson.loads(changes[1][1].body), shown, kept)


def unmerge(repo: Repository, w: Write, source_id: str, target_id: str) -> Merged:
    """Undo the merge of ``Patient/source_id`` into ``Patient/target_id`` that the
    caller's institution made (its Provenance must be visible to the caller)."""
    source = _patient(repo, w, source_id)
    _patient(repo, w, target_id)  # visible, or 404
    if not any(link.get("type") == "replaced-by"
               and (link.get("other") or {}).get("reference") == f"Patient/{target_id}"
               for link in source.get("link") or []):
        raise errors.unprocessable(f"Patient/{source_id} is not merged into "
                                   f"Patient/{target_id}")
    record = _merge_record(repo, w, source_id, target_id)
    befores, writtens = _versions(w, record, "entity"), _versions(w, record, "target")
    changes = []
    for (type, id), before in befores.items():
        current = w.uow.read(type, id)
        if current is None or current.deleted:
            continue  # deleted since: nothing left to undo
        now = orjson.loads(current.body)
        if (type, id) == ("Patient", source_id):
            undone = _restored_source(now, before, target_id)
        elif (type, id) == ("Patient", target_id):
            undone = _restored_target(now, before, befores[type, source_id], source_id)
        elif (type, id) in writtens:
            undone = _undone(now, before, writtens[type, id])
        else:
            continue
        if undone != now:
            bookkeeping = author_code(now) != PLATFORM and not _may_change(repo, w, now)
            changes.append(_write(repo, w, now, undone, as_platform=bookkeeping))
    _provenance(repo, w, "unmerge", changes, record)
    restored = orjson.loads(w.uow.read("Patient", source_id).body)
    return Merged(restored, max(len(changes) - 2, 0), 0)


# -- the two Patients ---------------------------------------------------------------------

def _patient(repo: Repository, w: Write, id: str) -> dict:
    return orjson.loads(repo.read(w.principal, "Patient", id, w.uow).body)


def _changeable(repo: Repository, w: Write, resource: dict) -> None:
    decision = _change_decision(repo, w, resource)
    if not decision.permit:
        raise errors.FhirError(403, "forbidden",
                               f"{resource['resourceType']}/{resource['id']}: "
                               + ("; ".join(decision.reasons) or "no se puede modificar"))


def _may_change(repo: Repository, w: Write, resource: dict) -> bool:
    return (w.principal.internal or allows(w.principal.scopes, resource["resourceType"], "u")) \
        and _change_decision(repo, w, resource).permit


def _change_decision(repo: Repository, w: Write, resource: dict) -> consent.Decision:
    return repo.gate.change_decision(w.principal, "update", resource, w.uow, w.survivors)


def _absorbed(target: dict, source: dict) -> dict:
    """The target with the source's identifiers it lacks (``use`` old) and the link."""
    held = {(i.get("system"), i.get("value")) for i in target.get("identifier") or []}
    copied = [{**i, "use": "old"} for i in source.get("identifier") or []
              if (i.get("system"), i.get("value")) not in held]
    out = {**target, "link": [*(target.get("link") or []),
                              {"other": {"reference": f"Patient/{source['id']}"},
                               "type": "replaces"}]}
    if copied:
        out["identifier"] = [*(target.get("identifier") or []), *copied]
    return out


def _result(target: dict, source: dict, result: dict) -> dict:
    """The caller's ``result-patient``: the target's id, and its ``replaces`` link."""
    if result.get("resourceType") != "Patient" or result.get("id") != target["id"]:
        raise errors.unprocessable("result-patient must be the target Patient (same id)")
    if not any(link.get("type") == "replaces"
               and (link.get("other") or {}).get("reference") == f"Patient/{source['id']}"
               for link in result.get("link") or []):
        raise errors.unprocessable("result-patient must link to the source (type replaces)")
    return {k: v for k, v in result.items() if k != "meta"} | {"meta": target.get("meta", {})}


def _restored_source(now: dict, before: dict, target_id: str) -> dict:
    out = {k: v for k, v in now.items() if k not in ("active", "link")}
    if "active" in before:
        out["active"] = before["active"]
    links = [link for link in now.get("link") or []
             if not (link.get("type") == "replaced-by"
                     and (link.get("other") or {}).get("reference") == f"Patient/{target_id}")]
    return out | ({"link": links} if links else {})


def _restored_target(now: dict, before: dict, source: dict, source_id: str) -> dict:
    """The target without the ``replaces`` link and the identifiers the merge copied
    (those of the source that the target did not have before)."""
    had = {(i.get("system"), i.get("value")) for i in before.get("identifier") or []}
    given = {(i.get("system"), i.get("value")) for i in source.get("identifier") or []}
    out = {k: v for k, v in now.items() if k not in ("identifier", "link")}
    identifiers = [i for i in now.get("identifier") or []
                   if (key := (i.get("system"), i.get("value"))) in had or key not in given]
    links = [link for link in now.get("link") or []
             if not (link.get("type") == "replaces"
                     and (link.get("other") or {}).get("reference") == f"Patient/{source_id}")]
    return out | ({"identifier": identifiers} if identifiers else {}) | \
        ({"link": links} if links else {})


# -- her records ----------------------------------------------------------------------------

def _records(repo: Repository, w: Write, source: str) -> tuple[list[dict], int, int]:
    """(the records of hers to move, how many of them the caller sees, how many more
    it sees but may not change: its scopes' ``u`` and the consent model's update). Her
    case and care team are the platform's and follow her whether or not the caller's
    purpose shows them (they are not counted then)."""
    moving, kept, seen = [], 0, set()
    types = readable_types(w.principal, RECORD_TYPES)
    for entry in her_record(repo, w.principal, source, types, w.uow).entries:
        resource = entry.resource
        seen.add(entry.ref)
        if author_code(resource) == PLATFORM or _may_change(repo, w, resource):
            moving.append(resource)
        else:
            kept += 1
    shown = len(moving)
    for entry in her_record(repo, ANONYMOUS, source, CONTEXT_TYPES, w.uow).entries:
        if entry.ref not in seen and author_code(entry.resource) == PLATFORM:
            moving.append(entry.resource)
    return moving, shown, kept


def _moved(before: dict, renames: dict[str, str], folding: list[dict], at: str) -> dict:
    """A record of hers as the merge leaves it: naming the target and her one case; a
    case folded into the other, cancelled."""
    after = _renamed(before, renames)
    if before["resourceType"] == "EpisodeOfCare" and \
            any(case["id"] == before["id"] for case in folding):
        after = cases.folded(after, at)
    return after


def _fold(repo: Repository, w: Write, keep: dict, folding: list[dict],
          renames: dict[str, str], done: set[str], patients: tuple[str, ...]
          ) -> list[tuple[str, Any]]:
    """Fold her other open cases into ``keep`` (the oldest), as the platform, whose the
    cases are: every record of either Patient that names one of them, including those
    the caller does not see or may not change (the link to her case is the server's,
    like the author tag), names ``keep``; each is cancelled; their institutions join
    ``keep``'s care team, so none loses its part in her case."""
    platform = replace(w, principal=ANONYMOUS)
    cases_only = {old: new for old, new in renames.items() if old.startswith("EpisodeOfCare/")}
    changes = []
    for patient in patients:
        for entry in her_record(repo, ANONYMOUS, patient, RECORD_TYPES, w.uow).entries:
            if entry.ref in done:
                continue
            done.add(entry.ref)
            after = _moved(entry.resource, cases_only, folding, w.at[0])
            if after != entry.resource:
                changes.append(_write(repo, platform, entry.resource, after))
    kept = orjson.loads(w.uow.read("EpisodeOfCare", keep["id"]).body)
    joining = [i for case in folding for i in cases.institutions_of(case, w.uow)]
    team = cases.team_joined(repo, platform, kept, joining)
    if team is not None:
        changes.append(_write(repo, platform, *team))
    return changes


def _references(node: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every ``reference`` string in ``node``, with its path."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield path, node["reference"]
        for key, value in node.items():
            if key not in ("meta", "reference"):
                yield from _references(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, (*path, i))


def _target(reference: str) -> str:
    """``Type/id`` of a reference (absolute or versioned ones too)."""
    return "/".join(reference.split("/_history/")[0].split("/")[-2:])


def _set(resource: dict, path: Path, reference: str) -> dict:
    out = copy = orjson.loads(orjson.dumps(resource))
    for key in path:
        copy = copy[key]
    copy["reference"] = reference
    return out


def _renamed(resource: dict, renames: dict[str, str]) -> dict:
    """``resource`` with each reference to a key of ``renames`` naming its value."""
    out = resource
    for path, reference in list(_references(resource)):
        if (new := renames.get(_target(reference))) is not None:
            out = _set(out, path, new)
    return out


def _undone(now: dict, before: dict, written: dict) -> dict:
    """``now`` without what the merge did (``before`` it, ``written`` by it), where it is
    still as the merge left it: each reference it moved names what it named before, and
    each other element it changed (a case's status, a team's members) is as before,
    unless changed since."""
    was, made = dict(_references(before)), dict(_references(written))
    out = now
    for path, reference in _references(now):
        if path in was and path in made and was[path] != made[path] \
                and reference == made[path]:
            out = _set(out, path, was[path])
    for key in (set(before) | set(written)) - {"meta", "id"}:
        if before.get(key) != written.get(key) and out.get(key) == written.get(key):
            out = {k: v for k, v in out.items() if k != key} | \
                ({key: before[key]} if key in before else {})
    return out


# -- writing --------------------------------------------------------------------------------

def _write(repo: Repository, w: Write, before: dict, after: dict,
           as_platform: bool = False) -> tuple[str, Any]:
    """Update ``before`` to ``after``: (the replaced version's reference, the new
    version). The platform's own records, and ``as_platform`` the server's bookkeeping
    on another's (the link to her case), are written as the platform."""
    platform = as_platform or author_code(before) == PLATFORM
    writer = replace(w, principal=ANONYMOUS) if platform else w
    type, id = before["resourceType"], before["id"]
    replaced = f"{type}/{id}/_history/{before['meta']['versionId']}"
    outcome = repo.update(writer, type, id, validate(after, type, profiles=repo.profiles))
    return replaced, outcome.version


def _settle_candidates(repo: Repository, w: Write, source_id: str, target_id: str) -> None:
    """Delete the candidate links between the two that the caller sees."""
    query = replace(parse_criteria("Linkage", [("item", f"Patient/{source_id}")]),
                    count=100, total=False)
    for version in repo.search(w.principal, query, w.uow).matches:
        items = {(i.get("resource") or {}).get("reference")
                 for i in orjson.loads(version.body).get("item") or []}
        if f"Patient/{target_id}" in items:
            repo.delete(w, "Linkage", version.id)


def _provenance(repo: Repository, w: Write, activity: str, changes: list[tuple[str, Any]],
                merge_record: dict | None = None) -> None:
    entities = [{"role": "revision", "what": {"reference": replaced}}
                for replaced, _ in changes]
    if merge_record is not None:
        entities.append({"role": "source", "what": {
            "reference": f"Provenance/{merge_record['id']}"}})
    agent = w.principal.institution or "Organization/" + PLATFORM
    resource = {
        "resourceType": "Provenance",
        "target": [{"reference": f"{v.type}/{v.id}/_history/{v.version}"}
                   for _, v in changes] or [{"reference": entities[-1]["what"]["reference"]}],
        "recorded": w.at[0],
        "activity": {"coding": [{"system": LIFECYCLE, "code": activity,
                                 "display": _DISPLAY[activity]}]},
        "agent": [{"who": {"reference": agent}}],
        "entity": entities,
    }
    repo.create(w, validate(resource, "Provenance", profiles=repo.profiles))


def _versions(w: Write, record: dict, element: str) -> dict[tuple[str, str], dict]:
    """The versions a merge's Provenance names, by (type, id): with ``entity``, the
    first it replaced of each record (as it was before the merge); with ``target``, the
    last it wrote (as the merge left it: one record may be written twice, her case's
    team renamed and then joined)."""
    found: dict[tuple[str, str], dict] = {}
    items = record.get(element) or []
    for item in items if element == "target" else reversed(items):
        reference = (item.get("what") or item).get("reference", "")
        parts = reference.split("/")
        if len(parts) == 4 and parts[2] == "_history":
            type, id, _, version = parts
            stored = w.uow.vread(type, id, int(version))
            if stored is not None and not stored.deleted:
                found[type, id] = orjson.loads(stored.body)
    return found


def _merge_record(repo: Repository, w: Write, source_id: str, target_id: str) -> dict:
    """The latest merge Provenance the caller sees that moved the source into the
    target."""
    query = replace(parse_criteria("Provenance", [("entity", f"Patient/{source_id}")]),
                    count=100, total=False)
    records = [orjson.loads(v.body) for v in repo.search(w.principal, query, w.uow).matches]
    for record in sorted(records, key=lambda r: r["meta"]["lastUpdated"], reverse=True):
        codes = {c.get("code") for c in (record.get("activity") or {}).get("coding") or []}
        named = {(e.get("what") or {}).get("reference", "").split("/_history/")[0]
                 for e in record.get("entity") or []}
        if "merge" in codes and {f"Patient/{source_id}", f"Patient/{target_id}"} <= named:
            return record
    raise errors.unprocessable("no record of this merge is visible to you: only the "
                               "institution that merged them can undo it")
