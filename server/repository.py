"""FHIR interactions on top of the storage port, written once for every adapter.

Adapters only persist versions and answer queries; the rules of FHIR's RESTful API live
here: version numbering and ``meta``, conditional create/update/delete/patch
(https://hl7.org/fhir/R4B/http.html#cond-update), ``If-Match`` checks, soft delete, and
the access gate on every read path. Writes happen inside a ``Write`` (one unit of work,
one timestamp); a transaction bundle runs many interactions in one ``Write``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Protocol

import orjson

import consent
from server import clock, errors
from server.access import (
    AUTHOR_SYSTEM,
    CONTEXT_TYPES,
    PLATFORM,
    AccessGate,
    Principal,
    Survivor,
    author_code,
    record_of,
    survivor_from,
    survivor_of,
)
from server.cases import CaseOpening
from server.linkage.candidates import CandidateLinks, merged
from server.patch import apply_json_patch
from server.plans import PlanActivities
from server.referrals import ReferralWorkflow
from server.risk import RiskScoring
from server.search.extract import extract
from server.search.query import HistoryQuery, SearchQuery
from server.store import (
    HistoryPage,
    NewVersion,
    Reader,
    SearchPage,
    Store,
    StoredVersion,
    UnitOfWork,
)
from server.subscriptions.subscription import SubscriptionRule
from server.validation import Valid, validate


@dataclass(slots=True)
class Write:
    """One unit of work with its caller and its single timestamp."""

    uow: UnitOfWork
    principal: Principal
    at: tuple[str, int]
    #: survivors' records read by this unit (``AccessGate.context``), until one changes
    survivors: dict[str, Survivor] = field(default_factory=dict)
    #: survivors this unit created (POST: a server-assigned id nobody could have named
    #: before), with what of hers it wrote, ``(type, id) -> (version, content or None
    #: when deleted)``: her whole record, known without a search
    fresh: dict[str, dict[tuple[str, str], tuple[int, dict | None]]] = \
        field(default_factory=dict)
    #: what this unit wrote, ``(Type/id, the survivor it concerns)``, for its audit event
    written: list[tuple[str, str | None]] = field(default_factory=list)
    #: the rules that let it write (``consent.Decision.basis``), for the same event
    basis: list[str] = field(default_factory=list)
    #: what the write rules remember within this unit (her open case: ``server/cases.py``)
    memo: dict[str, dict] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a write did: HTTP status, and the resulting (or matched) version, if any."""

    status: int
    version: StoredVersion | None


class WriteRule(Protocol):
    """A domain rule that runs inside the unit of work of each write of its ``types``:
    it may refuse the write (raise ``FhirError``, nothing is committed) or write what
    follows from it (through the repository, so its own writes are checked too).

    A rule may also define ``before_write(repo, w, resource, previous)``, called before
    the version is stamped with the resource as a dict it may change in place (the
    elements the server computes, e.g. a referral task's times) and the current version
    (None on a creation); ``Repository._before_write`` calls it when it is defined."""

    types: frozenset[str]

    def after_write(self, repo: Repository, w: Write, written: dict,
                    previous: dict | None) -> None: ...

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None: ...


#: The platform's domain rules: risk answers scored into their assessment, the referral
#: workflow (its files are checked here: a bad one stops the server from starting), her
#: case found or opened at each contact, the state of each service offered in her plan,
#: a new survivor's probable matches recorded for a caseworker, a subscription checked.
RULES: tuple[WriteRule, ...] = (RiskScoring(), ReferralWorkflow(), CaseOpening(),
                                PlanActivities(), CandidateLinks(), SubscriptionRule())


class Repository:
    def __init__(self, store: Store, gate: AccessGate, profiles: str = "off",
                 rules: Sequence[WriteRule] = RULES):
        self.store = store
        self.gate = gate
        self.profiles = profiles  # which writes the IG's profiles check (Settings.profiles)
        self.rules = {type: [r for r in rules if type in r.types]
                      for rule in rules for type in rule.types}

    # -- reads -------------------------------------------------------------------------

    def read(self, principal: Principal, type: str, id: str,
             reader: Reader | None = None) -> StoredVersion:
        """The current version. See: https://hl7.org/fhir/R4B/http.html#read

        ``reader`` is a unit of work when the read is part of a transaction.
        """
        reader = reader or self.store
        found = reader.read_visible(type, id, self.gate.query_filter(principal, type))
        if found is None:  # missing or hidden: the same answer
            raise errors.not_found(f"{type}/{id} is not known")
        if found.deleted:
            raise errors.gone(f"{type}/{id} was deleted", {"ETag": f'W/"{found.version}"'})
        return self.gate.shown(principal, found, reader)

    def vread(self, principal: Principal, type: str, id: str, version: int,
              reader: Reader | None = None) -> StoredVersion:
        """One version. See: https://hl7.org/fhir/R4B/http.html#vread"""
        reader = reader or self.store
        current = reader.read(type, id)
        self._visible(principal, reader, current, type, id)
        found = reader.vread(type, id, version)
        if found is None:
            raise errors.not_found(f"{type}/{id} has no version {version}")
        if found.deleted:
            raise errors.gone(f"{type}/{id} version {version} is a deletion",
                              {"ETag": f'W/"{version}"'})
        return self.gate.shown(principal, found, reader)

    def _visible(self, principal: Principal, reader: Reader, found: StoredVersion | None,
                 type: str, id: str) -> None:
        """404 unless ``found`` exists and the caller may see it: a hidden resource is
        reported exactly like a missing one. A deleted one is decided on the keys of its
        last content, which its deletion keeps."""
        if found is None or not self.gate.check(principal, "read", found, reader):
            raise errors.not_found(f"{type}/{id} is not known")

    def basis(self, principal: Principal, versions: Iterable[StoredVersion],
              reader: Reader | None = None) -> tuple[str, ...]:
        """The rules that let ``principal`` see ``versions`` (a search's or a history's
        answer): the basis its audit event records."""
        found = (reader or self.store).basis(((v.type, v.id) for v in versions),
                                            self.gate.query_filter(principal, None))
        return tuple(sorted({rule for rules in found.values() for rule in rules}))

    def search(self, principal: Principal, query: SearchQuery,
               reader: Reader | None = None) -> SearchPage:
        """See: https://hl7.org/fhir/R4B/http.html#search"""
        reader = reader or self.store
        page = reader.search(query, self.gate.query_filter(principal, query.type))
        return replace(page, matches=self._shown(principal, page.matches, reader),
                       included=self._shown(principal, page.included, reader))

    def history(self, principal: Principal, query: HistoryQuery,
                reader: Reader | None = None) -> HistoryPage:
        """See: https://hl7.org/fhir/R4B/http.html#history

        The history of one resource is 404 when the resource is missing or hidden, like
        a read; type and system history are filtered inside the store query.
        """
        reader = reader or self.store
        if query.id is not None:
            self._visible(principal, reader, reader.read(query.type, query.id), query.type,
                          query.id)
        page = reader.history(query, self.gate.query_filter(principal, query.type))
        return replace(page, versions=self._shown(principal, page.versions, reader))

    def _shown(self, principal: Principal, versions: list[StoredVersion],
               reader: Reader) -> list[StoredVersion]:
        """``versions`` as the caller may see them (``AccessGate.shown``)."""
        return [self.gate.shown(principal, v, reader) for v in versions]

    # -- writes ------------------------------------------------------------------------

    @contextmanager
    def write(self, principal: Principal,
              at: tuple[str, int] | None = None) -> Iterator[Write]:
        """A unit of work; commit with ``w.uow.commit()``, else everything rolls back.

        ``at`` is its timestamp (every version it writes gets it): by default the time
        the unit starts; a transaction that prepares its versions before taking the
        store's lock passes the time it started preparing.
        """
        with self.store.unit_of_work() as uow:
            yield Write(uow, principal, at or clock.now())

    def create(self, w: Write, resource: Valid, if_none_exist: SearchQuery | None = None,
               id: str | None = None) -> Outcome:
        """POST: a new id, version 1 (``id`` lets a transaction pre-assign it).

        With ``If-None-Exist``: one match is returned as is (200), several are 412.
        Only what the caller may see is a match (``match``): when the only resource
        meeting the criteria is hidden, a new resource is created (201), exactly as when
        none exists, since 200 or 412 would reveal the hidden one; a hidden resource
        beside a visible one does not make them several.
        See: https://hl7.org/fhir/R4B/http.html#ccreate
        """
        if if_none_exist is not None:
            matches = self.match(w, if_none_exist)
            if len(matches) == 1:
                return Outcome(200, self.gate.shown(w.principal, matches[0], w.uow))
            if matches:
                raise errors.precondition_failed(
                    f"If-None-Exist matched {len(matches)} {if_none_exist.type} resources")
        resource = self._before_write(w, resource, None)
        return Outcome(201, self._put(w, resource, id or new_id(), None, "POST"))

    def update(self, w: Write, type: str, id: str, resource: Valid,
               if_match: int | None = None, if_none_match: bool = False) -> Outcome:
        """PUT by id; creates the resource when the id is new (update-as-create).

        See: https://hl7.org/fhir/R4B/http.html#update
        """
        current = w.uow.read(type, id)
        self._writable(w, current, type, id)
        exists = current is not None and not current.deleted
        if exists:
            self._changeable(w, current, "update")
        if if_none_match and exists:
            raise errors.precondition_failed(f"{type}/{id} already exists (If-None-Match: *)")
        self._check_if_match(current, if_match, type, id)
        completed = self._before_write(w, resource, current)
        if exists and self._unchanged(w, current, resource, completed):
            return Outcome(200, current)  # no-op update: no new version, no event
        version = self._put(w, completed, id, current, "PUT")
        return Outcome(200 if exists else 201, version)

    def conditional_update(self, w: Write, query: SearchQuery, resource: Valid,
                           if_match: int | None = None) -> Outcome:
        """PUT by search, to the id ``conditional_target`` picks (a hidden resource is
        never updated: it is no match, and naming its id is refused like a plain PUT).
        See: https://hl7.org/fhir/R4B/http.html#cond-update"""
        target = self.conditional_target(w, query, resource.resource.get("id"))
        return self.update(w, query.type, target, resource, if_match)

    def conditional_target(self, w: Write, query: SearchQuery, given_id: str | None) -> str:
        """The id a conditional update writes to: the single match (412 if several; 400
        if the body names another id), else the body's id, else a new id.

        Matches are searched as the caller may see them (``match``): a hidden resource
        meeting the criteria is no match, so the update creates, as when none exists.

        A body's id that did not match is checked like the target of a plain PUT of it:
        409 when the caller sees that it exists ("exists but does not match"), and 404
        when it is hidden, the answer ``_writable`` gives a PUT to a hidden id. A 409
        there would confirm that the hidden resource exists (and that it does not meet
        the criteria); 404 says no more than a plain PUT does.

        Residual, shared with plain PUT: update-as-create of a missing id succeeds (201)
        where a hidden id answers 404, so a client that guesses a hidden resource's
        server-assigned id can tell that the id is taken (nothing of its content, nor
        whether it meets the criteria). Server-assigned ids are random uuids
        (``new_id``), which makes such a guess hopeless; closing it would mean writing a
        second resource under a taken id, or overwriting one the caller may not see.
        """
        matches = self.match(w, query)
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"the conditional update matched {len(matches)} {query.type} resources")
        if matches:
            if given_id is not None and given_id != matches[0].id:
                raise errors.invalid("the resource id does not match the resource the "
                                     "conditional update found")
            return matches[0].id
        if given_id is None:
            return new_id()
        current = w.uow.read(query.type, given_id)
        self._writable(w, current, query.type, given_id)  # hidden: 404, like a PUT
        if current is not None and not current.deleted:
            raise errors.conflict(f"{query.type}/{given_id} exists but does not match the "
                                  "conditional update's criteria")
        return given_id

    def delete(self, w: Write, type: str, id: str, if_match: int | None = None) -> Outcome:
        """Soft delete: a new, deleted version; history stays. Deleting what does not
        exist (or is already deleted) succeeds and changes nothing.
        See: https://hl7.org/fhir/R4B/http.html#delete
        """
        current = w.uow.read(type, id)
        if current is not None and not self.gate.check(w.principal, "delete", current, w.uow):
            current = None  # hidden: deleted like a resource that does not exist
        if current is None or current.deleted:
            if if_match is not None and (current is None or current.version != if_match):
                raise errors.precondition_failed(f"If-Match W/\"{if_match}\" does not match "
                                                 f"{type}/{id}")
            return Outcome(204, current)
        self._check_if_match(current, if_match, type, id)
        self._changeable(w, current, "delete")
        previous = orjson.loads(current.body)
        patient = self._remember(w, previous, current.version + 1, None)
        version = NewVersion(type, id, current.version + 1, w.at[0], w.at[1], "DELETE", None,
                             access_keys=self.gate.access_keys(previous, w.uow, w.survivors))
        w.uow.write(version)
        w.written.append((f"{type}/{id}", patient))
        self._rekey(w, previous, patient)
        for rule in self.rules.get(type, ()):
            rule.after_delete(self, w, type, id)
        return Outcome(204, _stored(version))

    def conditional_delete(self, w: Write, query: SearchQuery) -> Outcome:
        """DELETE by search (single match only).

        Never deletes what the caller may not see: matches are searched under the
        caller's access filter (``match``), so a hidden resource is no match (204, as
        when nothing matches, and it stays), and a hidden one beside a visible one does
        not make them several; ``delete`` checks the gate again on the one it deletes.
        See: https://hl7.org/fhir/R4B/http.html#3.1.0.7.1"""
        matches = self.match(w, query)
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"the conditional delete matched {len(matches)} {query.type} resources")
        if not matches:
            return Outcome(204, None)
        return self.delete(w, query.type, matches[0].id)

    def patch(self, w: Write, type: str, id: str, operations: object,
              if_match: int | None = None) -> Outcome:
        """JSON Patch, then the full validation of an update.
        See: https://hl7.org/fhir/R4B/http.html#patch
        """
        current = w.uow.read(type, id)
        if current is None:
            raise errors.not_found(f"{type}/{id} is not known")
        self._writable(w, current, type, id)
        if current.deleted:
            raise errors.gone(f"{type}/{id} was deleted")
        self._changeable(w, current, "update")  # a patch is an update
        self._check_if_match(current, if_match, type, id)
        patched = apply_json_patch(orjson.loads(current.body), operations)
        if not isinstance(patched, dict) or patched.get("resourceType") != type \
                or patched.get("id") != id:
            raise errors.unprocessable("a patch may not change resourceType or id")
        valid = validate(patched, type, profiles=self.profiles)
        completed = self._before_write(w, valid, current)
        if self._unchanged(w, current, valid, completed):
            return Outcome(200, current)
        return Outcome(200, self._put(w, completed, id, current, "PATCH"))

    def conditional_patch(self, w: Write, query: SearchQuery, operations: object,
                          if_match: int | None = None) -> Outcome:
        matches = self.match(w, query)
        if not matches:
            raise errors.not_found(f"the conditional patch matched no {query.type}")
        if len(matches) > 1:
            raise errors.precondition_failed(
                f"the conditional patch matched {len(matches)} {query.type} resources")
        return self.patch(w, query.type, matches[0].id, operations, if_match)

    # -- helpers -----------------------------------------------------------------------

    def match(self, w: Write, query: SearchQuery) -> list[StoredVersion]:
        """Up to two current matches of conditional criteria, as the caller may see them.

        Every conditional interaction (create, update, delete, patch, and a
        transaction's conditional entries and references) finds its target here, under
        the caller's access filter inside the store query: a hidden resource must count
        neither as the match (it would be returned, changed or deleted) nor towards
        "several" (412 would reveal it), so it behaves as if it did not exist. A Patient
        merged into another is no match either: she is now the Patient it was merged
        into, which holds its identifiers too. A platform-linked ingestion finds a
        survivor among them all (``AccessGate.match_filter``)."""
        limited = SearchQuery(query.type, query.conditions, count=3, total=False)
        access = self.gate.match_filter(w.principal, query.type)
        return [m for m in w.uow.search(limited, access).matches
                if not (m.type == "Patient" and merged(orjson.loads(m.body)))][:2]

    @staticmethod
    def _check_if_match(current: StoredVersion | None, if_match: int | None, type: str,
                        id: str) -> None:
        if if_match is None:
            return
        if current is None or current.deleted or current.version != if_match:
            raise errors.precondition_failed(
                f"If-Match W/\"{if_match}\" does not match the current version of {type}/{id}")

    def _put(self, w: Write, valid: Valid, id: str, current: StoredVersion | None,
             method: str) -> StoredVersion:
        version = current.version + 1 if current is not None else 1
        author = self._author(w, current)
        new = valid.prepared
        if new is None or (new.id, new.version, new.last_updated, new.method) \
                != (id, version, w.at[0], method):
            new = self.prepare(valid, id, version, w.at, method, author)
        written = orjson.loads(new.body)
        if author_code(written) != author:  # prepared for another author
            new = self.prepare(valid, id, version, w.at, method, author)
            written = orjson.loads(new.body)
        if new.type == "Organization":
            self.gate.forget(f"Organization/{id}")
        if new.type == "Patient" and method == "POST" and current is None:
            w.fresh[f"Patient/{id}"] = {}
            w.survivors[f"Patient/{id}"] = Survivor()
        patient = self._remember(w, written, new.version, written)
        new = replace(new, access_keys=self.gate.access_keys(written, w.uow, w.survivors))
        w.uow.write(new)
        w.written.append((f"{new.type}/{id}", patient))
        if (current is None or current.deleted) and "author" not in w.basis:
            w.basis.append("author")  # a creation: its institution becomes the author
        self._rekey(w, written, patient)
        for rule in self.rules.get(new.type, ()):
            previous = orjson.loads(current.body) if current and not current.deleted else None
            rule.after_write(self, w, written, previous)
        return _stored(new)

    def _unchanged(self, w: Write, current: StoredVersion, sent: Valid,
                   completed: Valid) -> bool:
        """Whether an update would store what is stored: as sent (a client that sends
        back what it read, server-set elements included), or as the rules complete it (a
        client that leaves out what the server keeps, such as a contact's case)."""
        author = self._author(w, current)
        return any(_same_content(current, stamp(v.resource, author))
                   for v in ((sent,) if completed is sent else (sent, completed)))

    def _before_write(self, w: Write, valid: Valid, current: StoredVersion | None) -> Valid:
        """``valid`` as the rules of its type complete it before it is stamped: a new,
        unprepared ``Valid`` when one changed it (a transaction prepared the version
        from the resource as the client sent it)."""
        rules = [r for r in self.rules.get(valid.type, ()) if hasattr(r, "before_write")]
        if not rules:
            return valid
        previous = orjson.loads(current.body) if current and not current.deleted else None
        resource = copy.deepcopy(valid.resource)
        for rule in rules:
            rule.before_write(self, w, resource, previous)
        return valid if resource == valid.resource else Valid(resource)

    def prepare(self, valid: Valid, id: str, version: int, at: tuple[str, int],
                method: str, author: str = PLATFORM) -> NewVersion:
        """The version to store: ``meta`` stamped (version, time, the author's tag, the
        default security labels), JSON and search index. Its access keys depend on the
        store (the survivor's record): ``_put`` adds them inside the unit of work.

        Pure computation, so a transaction can do it before taking the store's lock.
        """
        resource = stamp(valid.resource, author)
        meta = resource["meta"]
        meta["versionId"] = str(version)
        meta["lastUpdated"] = at[0]
        stamped = {"resourceType": resource["resourceType"], "id": id, "meta": meta}
        stamped.update((k, v) for k, v in resource.items() if k not in stamped)
        return NewVersion(stamped["resourceType"], id, version, at[0], at[1], method,
                          orjson.dumps(stamped), extract(stamped))

    # -- access -------------------------------------------------------------------------

    def _writable(self, w: Write, current: StoredVersion | None, type: str, id: str) -> None:
        """404 when the caller may not see the resource it is about to change: an update
        (even as create on a hidden id), patch or delete of a hidden resource looks like
        one of a resource that does not exist."""
        if current is not None and not self.gate.check(w.principal, "update", current, w.uow):
            raise errors.not_found(f"{type}/{id} is not known")

    def _changeable(self, w: Write, current: StoredVersion, action: str) -> None:
        """403 when the caller sees the resource but may not change it: only its author
        institution does, or a grant that gives the update (the receiving institution of
        a referral updates its task); ``AccessGate.change_decision``."""
        decision = self.gate.change_decision(w.principal, action, orjson.loads(current.body),
                                             w.uow, w.survivors)
        if not decision.permit:
            raise errors.FhirError(403, "forbidden",
                                   f"{current.type}/{current.id}: {' '.join(decision.reasons)}")
        w.basis.extend(b for b in decision.basis if b not in w.basis)

    def _author(self, w: Write, current: StoredVersion | None) -> str:
        """The author tag's code of a write: the first author's, kept by every later
        write (a deletion keeps the last content's), else the caller's institution."""
        if current is not None:
            body = current.body
            if body is None and current.version > 1:
                body = (w.uow.vread(current.type, current.id, current.version - 1)
                        or current).body
            if (code := author_code(orjson.loads(body) if body else None)) is not None:
                return code
        return institution_code(w.principal)

    def _remember(self, w: Write, resource: dict, version: int,
                  content: dict | None) -> str | None:
        """Note a write (``content`` None: a deletion) in the context of the survivor it
        concerns, before its keys are computed; returns her (``Patient/<id>``)."""
        patient = survivor_of(resource)
        if patient is None:
            return None
        fresh = w.fresh.get(patient)
        if fresh is not None:
            fresh[(resource["resourceType"], resource["id"])] = (version, content)
            if resource.get("resourceType") in CONTEXT_TYPES:
                w.survivors[patient] = survivor_from(
                    (body for _, body in fresh.values() if body is not None), w.uow)
        return patient

    def _rekey(self, w: Write, resource: dict, patient: str | None) -> None:
        """After a write of one of a survivor's Consents, cases or care teams: recompute
        the keys of her whole record in this unit of work, from memory when this unit
        created her (but ``resource``, whose keys were computed after ``_remember``), else
        read through it."""
        if patient is None or resource.get("resourceType") not in CONTEXT_TYPES:
            return
        fresh = w.fresh.get(patient)
        if fresh is not None:
            own = (resource["resourceType"], resource["id"])
            record = [(type, id, version, body) for (type, id), (version, body)
                      in fresh.items() if body is not None and (type, id) != own]
        else:  # read her context again, now with this write
            w.survivors.pop(patient, None)
            record = [(v.type, v.id, v.version, orjson.loads(v.body))
                      for v in record_of(w.uow, patient)]
        self.gate.rekey(w.uow, patient, record, w.survivors)


def institution_code(principal: Principal) -> str:
    """The author tag's code for what ``principal`` creates: its Organization id, or
    ``PLATFORM`` for the platform's own loads."""
    inst = principal.institution or ""
    return inst.split("/", 1)[1] if inst.startswith("Organization/") else PLATFORM


def stamp(resource: dict, author: str) -> dict:
    """A copy of ``resource`` whose ``meta`` carries the author tag (``author``, any tag
    of that system a client sent replaced) and the default security labels
    (``consent.default_labels``: added, never lowering one it has)."""
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or []
            if not (isinstance(t, dict) and t.get("system") == AUTHOR_SYSTEM)]
    meta["tag"] = [*tags, {"system": AUTHOR_SYSTEM, "code": author}]
    out = {**resource, "meta": meta}
    labels = consent.default_labels(out)
    if labels:
        meta["security"] = [*(meta.get("security") or []), *labels]
    return out


def new_id() -> str:
    """A server-assigned logical id (random, so ids reveal nothing about order or count)."""
    return str(uuid.uuid4())


def _same_content(current: StoredVersion, resource: dict) -> bool:
    """True when ``resource`` only repeats the current version (server-set meta aside)."""
    return _content(orjson.loads(current.body)) == _content(resource)


def _content(resource: dict) -> dict:
    meta = {k: v for k, v in (resource.get("meta") or {}).items()
            if k not in ("versionId", "lastUpdated")}
    out = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        out["meta"] = meta
    return out


def _stored(version: NewVersion) -> StoredVersion:
    return StoredVersion(version.type, version.id, version.version, version.last_updated,
                         version.deleted, version.body, version.method)
