"""Rule 7, drop-out and lost contact (both ``perdida-contacto``): pure functions over the
facts ``engine.py`` reads, like ``rules.py``.

**Drop-out**: she leaves a service of the minimum package. One alert per service left
(``Finding.about``), which clears when she is back in that service:

- a referral whose task ends ``failed``, ``rejected`` or ``cancelled`` with one of the
  business statuses ``rules.json`` lists (``abandono.estadosDerivacion``: she does not
  show up, leaves, withdraws, or the service turned her away or had no place; not one
  the referrer annulled; a task without a business status counts by its status alone).
  ``about`` is the task; the evidence the referral and its task.
  She is back when another referral of hers to the same service (its ServiceRequest's
  ``servicio-paquete-minimo`` code), made no earlier (``authoredOn``), has its task
  accepted, in progress, on hold or completed;
- a service of her case's plan (a CasePlan activity with a ``servicio-paquete-minimo``
  ``detail.code``) whose status is one ``rules.json`` lists (``estadosActividad``:
  ``stopped``, ``cancelled``: she declined or left it), in a plan that is active or on
  hold (a completed or revoked plan is a closed case: nothing left to follow). ``about``
  is ``CarePlan/<id>#<service>``. The guide's AlertEvidence does not list CasePlan among
  ``implicated``'s targets, so the plan and the service go in ``DetectedIssue.evidence``
  (``Finding.basis``) and her case (the plan's ``workflow-episodeOfCare``) is implicated;
  a plan that names no case raises no alert (nothing the guide allows to implicate).
  She is back when a referral to the same service made no earlier than the plan
  (``created``, else ``period.start``) is accepted, in progress, on hold or completed,
  or a later plan has the service scheduled, in progress or completed.

**Lost contact**: her latest assessment is high risk (rule 1) and no institution has
had contact with her for ``rules.json``'s ``perdidaContacto.dias`` (30): the latest of
her InstitutionalContacts (Encounter, not planned, cancelled or entered in error; its
period's end, else start) and of her risk assessments is older than that. One alert
(``about`` empty), its evidence the high-risk assessment and her latest contact; it
clears with a new contact or assessment, or when she is no longer high risk. Time-based:
her timer fires when the silence reaches the days (``lost_contact_due``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import terminology
from server.warnings.config import Rules
from server.warnings.rules import Assessment, Finding, Referral, day, high_risk, instant

SERVICES = "https://fhir.amparo.cl/CodeSystem/servicio-paquete-minimo"
WORKFLOW_EPISODE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
#: a referral's task ending unserved; one in which she takes (or took) the service
LEFT, ENGAGED = ("failed", "rejected", "cancelled"), ("accepted", "in-progress", "on-hold",
                                                      "completed")
#: the plans whose services are followed; a plan's service she takes (or took)
OPEN_PLANS, TAKEN = ("active", "on-hold"), ("scheduled", "in-progress", "completed")
_NO_CONTACT = ("planned", "cancelled", "entered-in-error")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_ACTIVITY_WORDS = {"stopped": "se interrumpió", "cancelled": "fue rechazado o cancelado"}


@dataclass(frozen=True)
class Activity:
    plan: str  # CarePlan/<id>
    service: str  # servicio-paquete-minimo code
    status: str  # CarePlan.activity.detail.status
    since: datetime | None  # the plan's created, else its period.start
    case: str | None  # EpisodeOfCare/<id> the plan names
    open: bool  # the plan is active or on hold


@dataclass(frozen=True)
class Contact:
    ref: str  # Encounter/<id>
    at: datetime  # its period's end, else its start


# -- facts from resources ------------------------------------------------------------------

def activities(resource: dict) -> list[Activity]:
    """The services of a CarePlan (none when it is entered in error)."""
    if resource.get("status") == "entered-in-error":
        return []
    case = next((ext["valueReference"]["reference"] for ext in resource.get("extension") or []
                 if ext.get("url") == WORKFLOW_EPISODE
                 and isinstance((ext.get("valueReference") or {}).get("reference"), str)),
                None)
    since = instant(resource.get("created")) or instant((resource.get("period") or {})
                                                        .get("start"))
    out = []
    for item in resource.get("activity") or []:
        detail = (item or {}).get("detail") or {}
        code = service_code(detail.get("code"))
        if code and isinstance(detail.get("status"), str):
            out.append(Activity(f"CarePlan/{resource['id']}", code, detail["status"], since,
                                case, resource.get("status") in OPEN_PLANS))
    return out


def service_code(concept: object) -> str | None:
    """The ``servicio-paquete-minimo`` code of a CodeableConcept (a referral's or a
    plan service's ``code``)."""
    if not isinstance(concept, dict):
        return None
    return next((c.get("code") for c in concept.get("coding") or []
                 if isinstance(c, dict) and c.get("system") == SERVICES), None)


def contact(resource: dict) -> Contact | None:
    """An Encounter as a contact with her (None when it did not happen)."""
    if resource.get("status") in _NO_CONTACT:
        return None
    period = resource.get("period") or {}
    at = instant(period.get("end")) or instant(period.get("start"))
    return Contact(f"Encounter/{resource['id']}", at) if at else None


# -- the rules -----------------------------------------------------------------------------

def drop_outs(rules: Rules, referrals: list[Referral], services: dict[str, str],
              plans: list[Activity]) -> list[Finding]:
    """Drop-outs: ``services`` gives the service of each of her referrals
    (``ServiceRequest/<id>`` -> ``servicio-paquete-minimo`` code)."""
    def back(service: str | None, since: datetime | None, but: str = "") -> bool:
        if service is None:
            return False
        after = since or _EARLIEST
        return any(r.ref != but and r.status in ENGAGED and services.get(r.request or "") ==
                   service and (r.authored or _EARLIEST) >= after for r in referrals) or any(
            a.service == service and a.status in TAKEN and (a.since or _EARLIEST) > after
            for a in plans)

    out = []
    for r in sorted(referrals, key=lambda r: r.ref):
        left = r.status in LEFT and (r.business in rules.dropped_referral or r.business is None)
        service = services.get(r.request or "")
        if not left or back(service, r.authored, r.ref):
            continue
        why = _display("estado-derivacion", r.business) or r.status
        out.append(Finding("perdida-contacto", tuple(x for x in (r.request, r.ref) if x),
                           f"Abandono: la derivación{_to(service)} terminó sin que reciba el "
                           f"servicio ({why}).", about=r.ref))
    for a in sorted(plans, key=lambda a: (a.plan, a.service)):
        if not a.open or a.case is None or a.status not in rules.dropped_activity \
                or back(a.service, a.since):
            continue
        name = _display("servicio-paquete-minimo", a.service) or a.service
        out.append(Finding("perdida-contacto", (a.case,),
                           f"Abandono: el servicio «{name}» del plan de su caso "
                           f"{_ACTIVITY_WORDS.get(a.status, a.status)}.",
                           about=f"{a.plan}#{a.service}", basis=((a.plan, a.service),)))
    return out


def lost_contact(rules: Rules, assessments: list[Assessment], contacts: list[Contact],
                 now: datetime) -> Finding | None:
    """Lost contact (``assessments`` oldest first)."""
    due = lost_contact_due(rules, assessments, contacts)
    if due is None or due > now:
        return None
    latest = assessments[-1]
    last = max(contacts, key=lambda c: (c.at, c.ref), default=None)
    since = max(latest.at, last.at) if last else latest.at
    evidence = sorted(((latest.at, latest.ref), *([(last.at, last.ref)] if last else [])))
    return Finding("perdida-contacto", tuple(ref for _, ref in evidence),
                   f"Pérdida de contacto: riesgo alto y ningún contacto con una institución "
                   f"desde el {day(since)} (más de {rules.lost_contact.days} días).")


def lost_contact_due(rules: Rules, assessments: list[Assessment], contacts: list[Contact]
                     ) -> datetime | None:
    """When she counts as lost to contact if nothing changes (None: she is not high
    risk); for her timer."""
    if high_risk(rules, assessments) is None:
        return None
    last = max([assessments[-1].at, *(c.at for c in contacts)])
    return last + rules.lost_contact


def _to(service: str | None) -> str:
    name = _display("servicio-paquete-minimo", service)
    return f" a «{name}»" if name else ""


def _display(system: str, code: str | None) -> str | None:
    concept = terminology.concepts(system).get(code or "")
    return concept.get("display") if concept else None
