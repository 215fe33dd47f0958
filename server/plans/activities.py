"""The state of each service offered in a survivor's plan, as a write rule the repository
runs before each version of a CasePlan is stamped, inside the write's unit of work
(``server/repository.py``), like the referral workflow (``server/referrals/workflow.py``).

The issue's words are FHIR's own activity statuses (``CarePlan.activity.detail.status``,
https://hl7.org/fhir/R4B/valueset-care-plan-activity-status.html); the guide's CasePlan
has no element or extension of ours for them:

- offered: ``not-started``, as ``$apply`` makes every activity; offered by the plan's
  ``author``;
- accepted: ``scheduled`` (she accepts it; who delivers it is arranged);
- declined: ``cancelled`` from ``not-started``, with the reason (``statusReason``: that
  she declines it is what tells this from a service withdrawn);
- delivered: ``completed``; ``in-progress`` while it is being delivered.
  ``scheduled`` may also end ``cancelled`` (she withdraws before it starts) and
  ``in-progress`` ``stopped`` (it ends before it is completed), both with a reason.
- by whom: ``detail.performer``, the institution that delivers the service. A status that
  has one (accepted, in progress, delivered) gets the caller's institution when the
  client names none; a named one is kept (the centre records that a service it referred
  was delivered elsewhere). Which institution recorded each step is the version's own:
  its author in the history, and its AuditEvent.

The rule governs a CarePlan that claims CasePlan or instantiates the minimum package, and
within it each activity that names a ``servicio-paquete-minimo`` service (a referral or a
protection measure in ``activity.reference`` is governed by its own resource). On
creation each service is offered (``not-started``); on update a status moves only as
``NEXT`` says, a service stays in the plan once offered (to decline it, cancel it), and
each service appears once. Anything else is 422 (``business-rule``) and changes nothing.
The platform's own loads (an internal principal) carry their history and pass as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.errors import FhirError

from .package import CASE_PLAN_PROFILE, PACKAGE_URL, service_of

if TYPE_CHECKING:
    from server.repository import Repository, Write

__all__ = ["NEXT", "OFFERED", "PlanActivities", "is_case_plan"]

OFFERED = "not-started"
#: which status may follow which (none: a final status)
NEXT: dict[str, tuple[str, ...]] = {
    "not-started": ("scheduled", "cancelled"),  # she accepts it, or declines it
    "scheduled": ("in-progress", "completed", "cancelled"),
    "in-progress": ("completed", "stopped"),
    "completed": (), "cancelled": (), "stopped": (),
}
#: the statuses that need a reason (``detail.statusReason``)
NEEDS_REASON = frozenset({"cancelled", "stopped"})
#: the statuses in which someone delivers the service (``detail.performer``)
PERFORMED = frozenset({"scheduled", "in-progress", "completed"})
Resource = dict[str, Any]


def is_case_plan(plan: Resource | None) -> bool:
    """True for a CarePlan the rule governs (see the module's docstring)."""
    if not isinstance(plan, dict):
        return False
    meta = plan.get("meta") if isinstance(plan.get("meta"), dict) else {}
    profiles = meta.get("profile") if isinstance(meta.get("profile"), list) else []
    canonicals = plan.get("instantiatesCanonical")
    return CASE_PLAN_PROFILE in profiles or any(
        isinstance(c, str) and c.split("|", 1)[0] == PACKAGE_URL
        for c in (canonicals if isinstance(canonicals, list) else []))


class PlanActivities:
    """The write rule (``Repository`` calls ``before_write`` before stamping a CarePlan)."""

    types = frozenset({"CarePlan"})

    def before_write(self, repo: Repository, w: Write, plan: Resource,
                     previous: Resource | None) -> None:
        if w.principal.internal or not (is_case_plan(plan) or is_case_plan(previous)):
            return
        before = _services(previous) if previous is not None else {}
        after = _services(plan)
        gone = sorted(before.keys() - after.keys())
        if gone:
            raise _refused(f"el servicio '{gone[0]}' ya se ofreció y queda en el plan: si "
                           "ella no lo quiere, póngalo en 'cancelled' con el motivo",
                           ["CarePlan.activity"])
        for code, (i, detail) in after.items():
            where = f"CarePlan.activity[{i}].detail"
            old = before[code][1].get("status") if code in before else None
            new = detail.get("status")
            if old is None and new != OFFERED:
                raise _refused(f"el servicio '{code}' entra al plan ofrecido "
                               f"('{OFFERED}'), no en '{new}'", [f"{where}.status"])
            if old is not None and new != old:
                allowed = NEXT.get(old)
                if allowed is None or new not in allowed:
                    then = ", ".join(allowed or ()) or "ninguno: es un estado final"
                    raise _refused(f"el servicio '{code}' en estado '{old}' no pasa a "
                                   f"'{new}' (pasa a: {then})", [f"{where}.status"])
                if new in NEEDS_REASON and not _given(detail.get("statusReason")):
                    raise _refused(f"poner el servicio '{code}' en '{new}' requiere el "
                                   "motivo (statusReason)", [f"{where}.statusReason"])
            if new in PERFORMED and not detail.get("performer") \
                    and w.principal.institution is not None:
                detail["performer"] = [{"reference": w.principal.institution}]

    def after_write(self, repo: Repository, w: Write, written: Resource,
                    previous: Resource | None) -> None:
        """Nothing follows a plan's write: the checks ran before it."""

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        """Deleting a plan is the gate's decision (its author's)."""


def _services(plan: Resource) -> dict[str, tuple[int, Resource]]:
    """Each service of the plan, by code: (its activity's index, its ``detail``)."""
    found: dict[str, tuple[int, Resource]] = {}
    activities = plan.get("activity")
    for i, activity in enumerate(activities if isinstance(activities, list) else []):
        detail = activity.get("detail") if isinstance(activity, dict) else None
        coding = service_of(detail.get("code")) if isinstance(detail, dict) else None
        if coding is None:
            continue
        if coding["code"] in found:
            raise _refused(f"el servicio '{coding['code']}' figura dos veces en el plan",
                           [f"CarePlan.activity[{i}].detail.code"])
        found[coding["code"]] = (i, detail)
    return found


def _given(concept: object) -> bool:
    return isinstance(concept, dict) and bool(concept.get("text") or concept.get("coding"))


def _refused(diagnostics: str, expression: list[str]) -> FhirError:
    return FhirError(422, "business-rule", diagnostics, expression)
