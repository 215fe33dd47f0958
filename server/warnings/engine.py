"""Early warning on the outbox: after each committed change to a survivor's records that
a rule reads, and when her timer fires, her alerts are made to agree with the rules
(``rules.py``, ``aggressors.py``, ``engagement.py``).

``EarlyWarning`` is an outbox consumer (``server/worker.py``): for an event of a record
about a survivor it reads her facts as the platform (``record.py``: every institution's
records: no one institution sees the whole picture, which is the point), evaluates the
rules and reconciles her alerts in the event's unit of work, so an alert commits with
the acknowledgement of the event that raised it, exactly once:

- a finding without an active alert of its kind raises one: an AlertEvidence
  (DetectedIssue: the records that triggered it, why in plain words) and an Alert (Flag)
  on her that points at it, both written by the platform and seen under the consent
  model like any of her records. Their ids derive from her, the kind and the evidence
  (and a plan's service, ``Finding.basis``), so a redelivered event finds what it raised
  and raises nothing twice;
- a finding with an active alert keeps that alert (its evidence updated if it grew: a
  third incident joins the same recurrence, it does not make a second alert);
- an active alert without its finding clears itself: the Flag becomes inactive, with
  the end of its period (a later, lower assessment; an incident entered in error; the
  referral accepted; the measure ended).

Which events are looked at (``TRIGGERS``, and ``_matters``): RiskAssessments,
Encounters, CarePlans and RelatedPersons; Observations that are (or were) incidents;
Tasks that are (or were) a referral's; ServiceRequests that are (or were) protection
measures. An event of another type costs one type check; one of these types that no
rule reads (an Observation that is not an incident), reading its two versions.

The survivors reconciled for an event are the one its record is about, now and in its
previous version (a record moved to another woman changes both), and, because one
woman's record can raise another's serial aggressor alert (rule 4):

- for an incident, every other woman whose incidents name the same men as hers
  (``Facts.peers``), and those named by the incident's previous version but no longer;
- for an aggressor record (RelatedPerson), every woman whose incidents name the same man
  by its current or previous identifiers (``record.group``), not its survivor otherwise.

A batch of events (one unit of work) reconciles each survivor once: the batch's events
are all committed, so her record as read then already holds them all.

A time-based rule changes its mind with no change to her records (a referral falls
due, her latest assessment grows old, a protection measure ends, a high-risk woman's
silence reaches its days), so each reconciliation also sets her timer
(``server/timers.py``, ``early-warning:Patient/<id>``) to the next such instant, and
``on_timer`` reconciles her again then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

import terminology
from server import clock
from server.access import ANONYMOUS, survivor_of
from server.repository import Write
from server.store import OutboxEvent, UnitOfWork
from server.validation import validate
from server.warnings import record
from server.warnings.aggressors import (
    breach_ends,
    breaches,
    identifiers,
    is_measure,
    serial_aggressor,
)
from server.warnings.config import Rules, load_rules
from server.warnings.engagement import SERVICES, drop_outs, lost_contact, lost_contact_due
from server.warnings.rules import (
    Finding,
    findings,
    is_incident,
    named_aggressors,
    next_due,
    overdue,
    reassessment_due,
    referral,
)
from server.worker import changed

if TYPE_CHECKING:
    from server.repository import Repository

ALERT_TYPES = "https://fhir.amparo.cl/CodeSystem/tipo-alerta"
ALERT_PROFILE = "https://fhir.amparo.cl/StructureDefinition/Alert"
EVIDENCE_PROFILE = "https://fhir.amparo.cl/StructureDefinition/AlertEvidence"
ALERT_IDS = "https://fhir.amparo.cl/sid/alerta"
DEVICE = "Device/alerta-temprana"
#: the kinds of alert these rules raise and clear (others are left alone)
KINDS = ("riesgo-alto", "escalamiento", "reincidencia", "agresor-serial",
         "incumplimiento-medida-proteccion", "derivacion-vencida", "perdida-contacto",
         "reevaluacion-pendiente")
#: the records whose changes may change a survivor's alerts
TRIGGERS = ("RiskAssessment", "Observation", "Task", "RelatedPerson", "ServiceRequest",
            "CarePlan", "Encounter")
#: her timer's kind (``server/timers.py``): ``early-warning:Patient/<id>``
TIMER = "early-warning"
_NAMESPACE = uuid.UUID("6f0c2a7e-3b1d-4e6a-9d2f-5a8b7c1e0f42")


class EarlyWarning:
    """The outbox consumer (``server/wsgi.py`` starts it as ``early-warning``) and the
    handler of its timers (``on_timer``). ``now`` is the clock the time-based rules read
    (a test moves it)."""

    def __init__(self, repo: Repository, rules: Rules | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.repo = repo
        self.rules = rules or load_rules()
        self.now = now
        #: the unit of work of the batch being handled, and the survivors it reconciled
        #: with the other women who share an aggressor with each (``Facts.peers``)
        self._batch: tuple[UnitOfWork | None, dict[str, frozenset[str]]] = (None, {})

    def __call__(self, uow: UnitOfWork, event: OutboxEvent) -> None:
        if event.type not in TRIGGERS:
            return
        after, before = changed(uow, event)
        if not _matters(event.type, after, before):
            return
        if self._batch[0] is not uow:
            self._batch = (uow, {})
        versions = [r for r in (after, before) if r is not None]
        survivors = [s for s in dict.fromkeys(map(survivor_of, versions)) if s]
        if event.type == "RelatedPerson":  # the women his incidents are against
            old = identifiers(before) if before is not None else ()
            survivors = self._involved(uow, [f"RelatedPerson/{event.id}"], old)
        elif event.type == "Observation":
            gone = set(named_aggressors(before or {})) - set(named_aggressors(after or {}))
            survivors += self._involved(uow, gone) if gone else []
        for patient in dict.fromkeys(survivors):
            self._reconcile(uow, patient, peers=event.type == "Observation")

    def on_timer(self, uow: UnitOfWork, patient: str) -> None:
        """Her alerts reconciled now (a timer ``early-warning:Patient/<id>`` fired, or
        one of her records changed)."""
        reconcile(self.repo, Write(uow, ANONYMOUS, clock.now()), patient, self.rules,
                  self.now())

    def _reconcile(self, uow: UnitOfWork, patient: str, peers: bool) -> None:
        """Her alerts reconciled once in this batch, and with ``peers`` those of the
        women who share an aggressor with her."""
        done = self._batch[1]
        if patient not in done:
            done[patient] = reconcile(self.repo, Write(uow, ANONYMOUS, clock.now()), patient,
                                      self.rules, self.now())
        for peer in sorted(done[patient]) if peers else ():
            if peer not in done:
                done[peer] = reconcile(self.repo, Write(uow, ANONYMOUS, clock.now()), peer,
                                       self.rules, self.now())

    def _involved(self, uow: UnitOfWork, refs: Iterable[str],
                  extra: Iterable[tuple[str, str]] = ()) -> list[str]:
        """The women whose incidents name the same men as ``refs`` or ``extra``."""
        _, incidents = record.group(Write(uow, ANONYMOUS, clock.now()), refs, extra)
        return sorted({s for r in incidents if (s := survivor_of(r))})


def _matters(type: str, after: dict | None, before: dict | None) -> bool:
    """Whether a rule reads the changed record, in either version."""
    versions = [r for r in (after, before) if r is not None]
    if type == "Observation":
        return any(map(is_incident, versions))
    if type == "Task":
        return any(referral(r) is not None for r in versions)
    if type == "ServiceRequest":
        return any(map(is_measure, versions))
    return bool(versions)


def reconcile(repo: Repository, w: Write, patient: str, rules: Rules,
              now: datetime) -> frozenset[str]:
    """Make her alerts of ``KINDS`` agree with the rules' findings at ``now``, and set her
    timer to the next instant a time-based rule may change its mind. Returns the other
    women whose incidents name the same men as hers (``Facts.peers``)."""
    facts = record.read(w, patient, rules)
    assessments, referrals = facts.assessments, facts.referrals
    hers = [i for i in facts.incidents if i.survivor == patient]
    due = reassessment_due(rules, assessments, now)
    lost = lost_contact(rules, assessments, facts.contacts, now)
    found = [*findings(rules, assessments, hers), *overdue(referrals, now),
             *([due] if due else []), *([lost] if lost else []),
             *serial_aggressor(rules, patient, facts.incidents, facts.aggressors),
             *breaches(patient, facts.measures, facts.incidents, facts.aggressors, now),
             *drop_outs(rules, referrals, facts.services, facts.plans)]
    wanted = {(f.code, f.about): f for f in found}
    active = {}
    for flag in record.records(w, "Flag", [("subject", patient), ("status", "active"),
                                           ("identifier", f"{ALERT_IDS}|")]):
        kind = _kind(flag)
        if kind in KINDS:
            issue = _evidence_of(w, flag)
            active[kind, _about(kind, issue)] = (flag, issue)
    for key in sorted(wanted.keys() | active.keys()):
        finding, current = wanted.get(key), active.get(key)
        if current is None:
            _raise(repo, w, patient, finding)
        elif finding is not None:
            _update_evidence(repo, w, current[1], finding)
        else:
            _clear(repo, w, current[0])
    silence = lost_contact_due(rules, assessments, facts.contacts)
    next_at = min((t for t in (next_due(rules, assessments, referrals, now),
                               breach_ends(found, facts.measures, now),
                               silence if silence is not None and silence > now else None)
                   if t is not None), default=None)
    timer = f"{TIMER}:{patient}"
    at = clock.to_us(next_at) + 1 if next_at is not None else None
    if w.uow.timer(timer) != at:
        w.uow.set_timer(timer, at)
    return facts.peers


def _kind(flag: dict) -> str | None:
    return next((c.get("code") for c in (flag.get("code") or {}).get("coding") or []
                 if c.get("system") == ALERT_TYPES), None)


def _evidence_of(w: Write, flag: dict) -> dict | None:
    """The AlertEvidence (DetectedIssue) the Alert points at."""
    for ext in flag.get("extension") or []:
        ref = (ext.get("valueReference") or {}).get("reference", "")
        if ext.get("url", "").endswith("/flag-detail") and ref.startswith("DetectedIssue/"):
            found = w.uow.read("DetectedIssue", ref.split("/", 1)[1])
            if found is not None and not found.deleted:
                return orjson.loads(found.body)
    return None


#: the kinds with one alert per record, and the type of the record it is about (the
#: first of that type its evidence implicates)
_ABOUT = {"derivacion-vencida": "Task/", "agresor-serial": "RelatedPerson/",
          "incumplimiento-medida-proteccion": "ServiceRequest/", "perdida-contacto": "Task/"}


def _about(kind: str, issue: dict | None) -> str:
    """Which record an alert of a kind with one alert per record is about
    (``Finding.about``, read back from its evidence): a drop-out from a plan's service is
    ``CarePlan/<id>#<service>`` (``DetectedIssue.evidence``), lost contact is ``""``."""
    if kind not in _ABOUT or issue is None:
        return ""
    basis = _basis(issue)
    if basis:
        return f"{basis[0][0]}#{basis[0][1]}"
    return next((i["reference"] for i in issue.get("implicated") or []
                 if i.get("reference", "").startswith(_ABOUT[kind])), "")


def _basis(issue: dict) -> list[tuple[str, str]]:
    """(record, service code) of ``DetectedIssue.evidence`` (``Finding.basis``)."""
    return [(d.get("reference", ""), c.get("code", ""))
            for e in issue.get("evidence") or []
            for d in e.get("detail") or [] for concept in e.get("code") or []
            for c in concept.get("coding") or [] if c.get("system") == SERVICES]


def _evidence(finding: Finding) -> list[dict]:
    """``DetectedIssue.evidence`` of a finding's ``basis``."""
    return [{"code": [{"coding": [{"system": SERVICES, "code": code}]}],
             "detail": [{"reference": ref}]} for ref, code in finding.basis]


def _raise(repo: Repository, w: Write, patient: str, finding: Finding) -> None:
    key = uuid.uuid5(_NAMESPACE, "|".join((finding.code, patient, *finding.evidence,
                                           *(f"{r}#{c}" for r, c in finding.basis))))
    evidence_id, flag_id = f"evidencia-{key}", f"alerta-{key}"
    concept = terminology.concepts("tipo-alerta")[finding.code]
    properties = {p["code"]: p.get("valueCoding") for p in concept.get("property") or []}
    coding = {"system": ALERT_TYPES, "code": finding.code, "display": concept["display"]}
    priority = properties.get("prioridad") or {}
    _put(repo, w, {
        "resourceType": "DetectedIssue", "id": evidence_id,
        "meta": {"profile": [EVIDENCE_PROFILE]},
        "identifier": [{"system": "https://fhir.amparo.cl/sid/evidencia-alerta",
                        "value": str(key)}],
        "status": "final", "code": {"coding": [coding]},
        "severity": "high" if priority.get("code") == "PH" else "moderate",
        "patient": {"reference": patient}, "identifiedDateTime": w.at[0],
        "author": {"reference": DEVICE},
        "implicated": [{"reference": ref} for ref in finding.evidence],
        **({"evidence": _evidence(finding)} if finding.basis else {}),
        "detail": finding.detail})
    _put(repo, w, {
        "resourceType": "Flag", "id": flag_id, "meta": {"profile": [ALERT_PROFILE]},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/flag-detail",
             "valueReference": {"reference": f"DetectedIssue/{evidence_id}"}},
            {"url": "http://hl7.org/fhir/StructureDefinition/flag-priority",
             "valueCodeableConcept": {"coding": [priority]}}],
        "identifier": [{"system": ALERT_IDS, "value": str(key)}],
        "status": "active",
        "category": [{"coding": [properties["categoria"]]}] if properties.get("categoria")
        else [],
        "code": {"coding": [coding]}, "subject": {"reference": patient},
        "period": {"start": w.at[0]}, "author": {"reference": DEVICE}})


def _update_evidence(repo: Repository, w: Write, issue: dict | None, finding: Finding
                     ) -> None:
    implicated = [{"reference": r} for r in finding.evidence]
    if issue is not None and (issue.get("implicated") != implicated
                              or issue.get("detail") != finding.detail
                              or issue.get("evidence", []) != _evidence(finding)):
        changed = {k: v for k, v in issue.items() if k != "evidence"}
        _put(repo, w, {**changed, "implicated": implicated, "detail": finding.detail,
                       **({"evidence": _evidence(finding)} if finding.basis else {})})


def _clear(repo: Repository, w: Write, flag: dict) -> None:
    _put(repo, w, {**flag, "status": "inactive",
                   "period": {**(flag.get("period") or {}), "end": w.at[0]}})


def _put(repo: Repository, w: Write, resource: dict) -> None:
    """Write as the platform, by id (an alert's id is its identity)."""
    resource = {k: v for k, v in resource.items() if k != "category" or v}
    repo.update(w, resource["resourceType"], resource["id"],
                validate(resource, resource["resourceType"], profiles=repo.profiles))
