"""Early warning on the outbox: after each committed change to a survivor's risk
assessments, incidents or referral tasks, and when her timer fires, her alerts are made
to agree with the rules (``rules.py``).

``EarlyWarning`` is an outbox consumer (``server/worker.py``): for an event of a
RiskAssessment, an Observation or a Task about a survivor, it reads her facts as the platform
(every institution's records: no one institution sees the whole picture, which is the
point), evaluates the rules and reconciles her alerts in the event's unit of work, so an
alert commits with the acknowledgement of the event that raised it, exactly once:

- a finding without an active alert of its kind raises one: an AlertEvidence
  (DetectedIssue: the records that triggered it, why in plain words) and an Alert (Flag)
  on her that points at it, both written by the platform and seen under the consent
  model like any of her records. Their ids derive from her, the kind and the evidence,
  so a redelivered event finds what it raised and raises nothing twice;
- a finding with an active alert keeps that alert (its evidence updated if it grew: a
  third incident joins the same recurrence, it does not make a second alert);
- an active alert without its finding clears itself: the Flag becomes inactive, with
  the end of its period (a later, lower assessment; an incident entered in error; the
  referral accepted).

A time-based rule changes its mind with no change to her records (a referral falls
due, her latest assessment grows old), so each reconciliation also sets her timer
(``server/timers.py``, ``early-warning:Patient/<id>``) to the next such instant, and
``on_timer`` reconciles her again then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

import terminology
from server import clock
from server.access import ANONYMOUS, survivor_of
from server.repository import Write
from server.search.parse import parse_criteria
from server.store import OutboxEvent, UnitOfWork
from server.validation import validate
from server.warnings.config import Rules, load_rules
from server.warnings.rules import (
    INCIDENT,
    OBSERVATIONS,
    Finding,
    assessment,
    findings,
    incident,
    next_due,
    overdue,
    reassessment_due,
    referral,
)

if TYPE_CHECKING:
    from server.repository import Repository

ALERT_TYPES = "https://fhir.amparo.cl/CodeSystem/tipo-alerta"
ALERT_PROFILE = "https://fhir.amparo.cl/StructureDefinition/Alert"
EVIDENCE_PROFILE = "https://fhir.amparo.cl/StructureDefinition/AlertEvidence"
ALERT_IDS = "https://fhir.amparo.cl/sid/alerta"
DEVICE = "Device/alerta-temprana"
#: the kinds of alert these rules raise and clear (others are left alone)
KINDS = ("riesgo-alto", "escalamiento", "reincidencia", "derivacion-vencida",
         "reevaluacion-pendiente")
#: the records whose changes may change a survivor's alerts
TRIGGERS = ("RiskAssessment", "Observation", "Task")
#: her timer's kind (``server/timers.py``): ``early-warning:Patient/<id>``
TIMER = "early-warning"
_NAMESPACE = uuid.UUID("6f0c2a7e-3b1d-4e6a-9d2f-5a8b7c1e0f42")
_MAX = 1000  # records of one kind read per survivor


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
        self._batch: tuple[UnitOfWork | None, set[str]] = (None, set())

    def __call__(self, uow: UnitOfWork, event: OutboxEvent) -> None:
        if event.type not in TRIGGERS:
            return
        patient = _survivor(uow, event)
        if patient is None:
            return
        if self._batch[0] is not uow:
            self._batch = (uow, set())
        if patient not in self._batch[1]:  # the batch's events are all committed: her
            self._batch[1].add(patient)    # record as read now already holds them all
            self.on_timer(uow, patient)

    def on_timer(self, uow: UnitOfWork, patient: str) -> None:
        """Her alerts reconciled now (a timer ``early-warning:Patient/<id>`` fired, or
        one of her records changed)."""
        reconcile(self.repo, Write(uow, ANONYMOUS, clock.now()), patient, self.rules,
                  self.now())


def _survivor(uow: UnitOfWork, event: OutboxEvent) -> str | None:
    """The survivor the changed record is about (a deletion: as its last version said)."""
    for version in (event.version, event.version - 1):
        found = uow.vread(event.type, event.id, version) if version > 0 else None
        if found is not None and not found.deleted:
            return survivor_of(orjson.loads(found.body))
    return None


def reconcile(repo: Repository, w: Write, patient: str, rules: Rules,
              now: datetime) -> None:
    """Make her alerts of ``KINDS`` agree with the rules' findings at ``now``, and set her
    timer to the next instant a time-based rule may change its mind."""
    assessments = sorted((a for a in (assessment(r) for r in _records(
        w, "RiskAssessment", [("subject", patient)])) if a), key=lambda a: (a.at, a.ref))
    incidents = [i for i in (incident(r) for r in _records(
        w, "Observation", [("subject", patient), ("code", f"{OBSERVATIONS}|{INCIDENT}")])) if i]
    referrals = [r for r in (referral(t) for t in _records(
        w, "Task", [("patient", patient)])) if r]
    due = reassessment_due(rules, assessments, now)
    wanted = {(f.code, f.about): f for f in (*findings(rules, assessments, incidents),
                                              *overdue(referrals, now), *([due] if due else []))}
    active = {}
    for flag in _records(w, "Flag", [("subject", patient), ("status", "active"),
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
    next_at = next_due(rules, assessments, referrals, now)
    timer = f"{TIMER}:{patient}"
    at = clock.to_us(next_at) + 1 if next_at is not None else None
    if w.uow.timer(timer) != at:
        w.uow.set_timer(timer, at)


def _records(w: Write, type: str, criteria: list[tuple[str, str]]) -> list[dict]:
    query = replace(parse_criteria(type, criteria), count=_MAX, total=False)
    return [orjson.loads(v.body) for v in w.uow.search(query).matches]


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


def _about(kind: str, issue: dict | None) -> str:
    """Which record an alert of a kind with one alert per record is about."""
    if kind != "derivacion-vencida" or issue is None:
        return ""
    return next((i["reference"] for i in issue.get("implicated") or []
                 if i.get("reference", "").startswith("Task/")), "")


def _raise(repo: Repository, w: Write, patient: str, finding: Finding) -> None:
    key = uuid.uuid5(_NAMESPACE, "|".join((finding.code, patient, *finding.evidence)))
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
                              or issue.get("detail") != finding.detail):
        _put(repo, w, {**issue, "implicated": implicated, "detail": finding.detail})


def _clear(repo: Repository, w: Write, flag: dict) -> None:
    _put(repo, w, {**flag, "status": "inactive",
                   "period": {**(flag.get("period") or {}), "end": w.at[0]}})


def _put(repo: Repository, w: Write, resource: dict) -> None:
    """Write as the platform, by id (an alert's id is its identity)."""
    resource = {k: v for k, v in resource.items() if k != "category" or v}
    repo.update(w, resource["resourceType"], resource["id"],
                validate(resource, resource["resourceType"], profiles=repo.profiles))
