"""The referral workflow (HL7 Gravity TaskForReferralManagement, adapted as Gravity-CL): the
state machine of a referral's task, as a write rule the repository runs before each
version of a Task is stamped, inside the write's unit of work (``server/repository.py``).

A referral is a ServiceRequest (Referral) plus a Task (ReferralTask) owned by the
receiving institution: ``focus`` the ServiceRequest, ``for`` the survivor, ``requester``
the referring institution, ``owner`` the receiving one. The rule governs a Task that
claims ReferralTask or whose ``businessStatus`` is an ``estado-derivacion`` code (under
``strict`` profiles every Task the guide recognises as a referral's must have one, so
none escapes); other Tasks are generic FHIR. The platform's own loads (an internal
principal: migrated records, the synthetic journeys) carry their history and pass as
they are.

- Sides: the requester institution (the caller's token must be ``Task.requester``)
  creates the task, in the status ``transitions.json`` names (``requested``); from then
  on ``transitions.json`` says which status follows which (FHIR's task state machine,
  https://hl7.org/fhir/R4B/task.html#statemachine) and who sets each: the owner
  receives, accepts, rejects (with a ``statusReason``), starts, holds, fails and
  completes it, either side cancels it. An illegal transition is 422
  (``business-rule``); a legal one by the wrong side is 403 (``forbidden``); either
  changes nothing. The consent gate already lets only those two sides update the task
  (the author, and the owner by the ``referral-recipient`` grant).
- ``businessStatus``: an ``estado-derivacion`` code that ``transitions.json`` allows for
  the status (each code's ``estadoTarea``), else 422. Within one status only the side
  that sets it changes the code (aceptada -> en-espera is the owner's).
- ``requester``, ``owner``, ``focus`` and ``for`` never change: to send the referral to
  another institution, cancel it and send a new one.
- Times, set by the server (a client's values are replaced): ``lastModified`` is the
  instant of each write; ``executionPeriod.start`` when the service starts
  (``in-progress``), ``executionPeriod.end`` when the task reaches a final status
  (completed, rejected, failed, cancelled).
- Due date, ``restriction.period``: ``start`` is when the current deadline began to
  run, ``end`` the deadline, from ``service-levels.json`` and the priority
  (``Task.priority``, else the ServiceRequest's, else the default). While the task waits
  for acceptance (requested, received) ``start`` is when it was sent and ``end`` the due
  date to accept it; on acceptance both move: ``start`` becomes the acceptance instant
  and ``end`` the due date to complete it. A change of priority moves ``end``; a final
  status keeps the last deadline, so whether it was met stays readable.

Every version stays in the history with its ``meta.lastUpdated``: time to acceptance and
time to service are measured from it (``server/referrals/timing.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from server.errors import FhirError

from .config import ServiceLevels, Status, Transitions, load_service_levels, load_transitions

if TYPE_CHECKING:
    from server.repository import Repository, Write

__all__ = ["ESTADO_DERIVACION", "REFERRAL_TASK", "ReferralWorkflow", "is_referral_task"]

REFERRAL_TASK = "https://fhir.amparo.cl/StructureDefinition/ReferralTask"
ESTADO_DERIVACION = "https://fhir.amparo.cl/CodeSystem/estado-derivacion"
WORK_STARTS = "in-progress"
#: the statuses in which the deadline is the one to accept the referral
AWAITING_ACCEPTANCE = frozenset({"requested", "received"})
FROZEN = ("requester", "owner", "focus", "for")
SIDES = {"requester": "la institución que deriva (Task.requester)",
         "owner": "la institución que recibe (Task.owner)"}
Resource = dict[str, Any]


def is_referral_task(task: Resource | None) -> bool:
    """True for a Task the workflow governs (see the module's docstring)."""
    if not isinstance(task, dict):
        return False
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    profiles = meta.get("profile") if isinstance(meta.get("profile"), list) else []
    return REFERRAL_TASK in profiles or bool(_codes(task))


class ReferralWorkflow:
    """The write rule (``Repository`` calls ``before_write`` before stamping a Task)."""

    types = frozenset({"Task"})

    def __init__(self, transitions: Transitions | None = None,
                 levels: ServiceLevels | None = None) -> None:
        self.transitions = transitions or load_transitions()
        self.levels = levels or load_service_levels()

    def before_write(self, repo: Repository, w: Write, task: Resource,
                     previous: Resource | None) -> None:
        if w.principal.internal or not (is_referral_task(task) or is_referral_task(previous)):
            return
        if previous is None:
            self._check_creation(w, task)
        else:
            self._check_change(w, task, previous)
        status = self.transitions.statuses.get(task.get("status"))
        if status is None:  # kept by an update of a task the platform loaded
            raise _refused(f"'{task.get('status')}' no es un estado del flujo de una "
                           "derivación", ["Task.status"])
        self._check_business_status(task, status)
        self._stamp_times(w, task, previous, status)
        self._set_due_date(w, task, previous, status)

    def after_write(self, repo: Repository, w: Write, written: Resource,
                    previous: Resource | None) -> None:
        """Nothing follows a task's write: the checks ran before it."""

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        """Deleting a task is the gate's decision (its author's)."""

    # -- the state machine -----------------------------------------------------------

    def _check_creation(self, w: Write, task: Resource) -> None:
        requester, owner = _reference(task, "requester"), _reference(task, "owner")
        if not (requester or "").startswith("Organization/") \
                or not (owner or "").startswith("Organization/"):
            raise _refused("la tarea de una derivación nombra a la institución que deriva "
                           "(Task.requester) y a la que recibe (Task.owner), ambas "
                           "Organization", ["Task.requester", "Task.owner"])
        if requester == owner:
            raise _refused("la institución que recibe la derivación no es la que deriva",
                           ["Task.owner"])
        created = self.transitions.created
        if task.get("status") != created:
            raise _refused(f"una derivación se crea con status '{created}', no "
                           f"'{task.get('status')}'", ["Task.status"])
        if w.principal.institution != requester:
            raise FhirError(403, "forbidden", "solo la institución que deriva "
                            "(Task.requester) crea la tarea de una derivación")

    def _check_change(self, w: Write, task: Resource, previous: Resource) -> None:
        for element in FROZEN:
            if _reference(task, element) != _reference(previous, element):
                raise _refused(f"Task.{element} de una derivación no cambia: para derivar "
                               "a otra institución, anule esta y envíe una nueva",
                               [f"Task.{element}"])
        old, new = previous.get("status"), task.get("status")
        side = next((s for s in SIDES if w.principal.institution is not None
                     and w.principal.institution == _reference(previous, s)), None)
        if old == new:
            status = self.transitions.statuses.get(new)
            if status is not None and _codes(task) != _codes(previous) \
                    and side not in status.set_by:
                raise _forbidden(status, "cambia el estado de la derivación en")
            return
        allowed = self.transitions.statuses[old].next if old in self.transitions.statuses \
            else ()
        if new not in allowed:
            then = ", ".join(allowed) or "ninguno: es un estado final"
            raise _refused(f"una derivación en estado '{old}' no pasa a '{new}' (pasa a: "
                           f"{then})", ["Task.status"])
        status = self.transitions.statuses[new]
        if side not in status.set_by:
            raise _forbidden(status, "pone la derivación en")
        if status.needs_reason and not _given(task.get("statusReason")):
            raise _refused(f"poner la derivación en estado '{new}' requiere el motivo "
                           "(Task.statusReason)", ["Task.statusReason"])

    def _check_business_status(self, task: Resource, status: Status) -> None:
        codes = _codes(task)
        unknown = sorted(c for c in codes if c not in self.transitions.known)
        if unknown:
            raise _refused(f"'{unknown[0]}' no es un código de estado-derivacion",
                           ["Task.businessStatus"])
        if not status.business:
            raise _refused(f"ningún estado de derivación (estado-derivacion) corresponde "
                           f"al estado '{status.code}': la derivación no puede ponerse en él",
                           ["Task.status"])
        if not codes or not codes <= set(status.business):
            raise _refused(f"en estado '{status.code}', el estado de la derivación "
                           "(Task.businessStatus, estado-derivacion) es uno de: "
                           f"{', '.join(status.business)}", ["Task.businessStatus"])

    # -- what the server sets ----------------------------------------------------------

    @staticmethod
    def _stamp_times(w: Write, task: Resource, previous: Resource | None,
                     status: Status) -> None:
        at = w.at[0]
        task["lastModified"] = at
        period = dict((previous or {}).get("executionPeriod") or {})
        if status.code == WORK_STARTS:
            period.setdefault("start", at)
        if status.final and (previous or {}).get("status") != status.code:
            period["end"] = at
        if period:
            task["executionPeriod"] = period
        else:
            task.pop("executionPeriod", None)

    def _set_due_date(self, w: Write, task: Resource, previous: Resource | None,
                      status: Status) -> None:
        kept = ((previous or {}).get("restriction") or {}).get("period") or {}
        if status.final:
            period = kept
        else:
            level = self.levels.of(self._priority(w, task))
            awaiting = status.code in AWAITING_ACCEPTANCE
            same_phase = previous is not None \
                and (previous.get("status") in AWAITING_ACCEPTANCE) == awaiting
            start = kept.get("start") if same_phase and kept.get("start") else w.at[0]
            within = level.accept_within if awaiting else level.complete_within
            end = datetime.fromisoformat(start.replace("Z", "+00:00")) + within
            period = {"start": start, "end": end.isoformat(timespec="microseconds")}
        restriction = {k: v for k, v in (task.get("restriction") or {}).items()
                       if k != "period"}
        if period:
            restriction["period"] = period
        if restriction:
            task["restriction"] = restriction
        else:
            task.pop("restriction", None)

    @staticmethod
    def _priority(w: Write, task: Resource) -> str | None:
        """The task's priority, else its referral's (the ServiceRequest it focuses on)."""
        if task.get("priority"):
            return task["priority"]
        type, _, id = (_reference(task, "focus") or "").partition("/")
        found = w.uow.read(type, id) if type == "ServiceRequest" and id else None
        if found is None or found.deleted:
            return None
        return orjson.loads(found.body).get("priority")


# -- helpers ---------------------------------------------------------------------------------

def _reference(resource: Resource, element: str) -> str | None:
    value = resource.get(element)
    return value.get("reference") if isinstance(value, dict) else None


def _codes(task: Resource) -> set[str]:
    """The estado-derivacion codes of ``task.businessStatus``."""
    concept = task.get("businessStatus")
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return {c.get("code") for c in codings or []
            if isinstance(c, dict) and c.get("system") == ESTADO_DERIVACION}


def _given(concept: object) -> bool:
    return isinstance(concept, dict) and bool(concept.get("text") or concept.get("coding"))


def _forbidden(status: Status, action: str) -> FhirError:
    who = " o ".join(SIDES[s] for s in sorted(status.set_by, reverse=True))
    return FhirError(403, "forbidden", f"solo {who} {action} estado '{status.code}'")


def _refused(diagnostics: str, expression: list[str]) -> FhirError:
    return FhirError(422, "business-rule", diagnostics, expression)
