"""Returns a survivor's CasePlan made from the minimum service package: what
``PlanDefinition/$apply`` answers (``server/api/plan_apply.py``). Pure: the caller has
read the package, her case and who applies it.

Each action of the package becomes one activity of the plan, with the action's service
(``detail.code``) in status ``not-started``: offered, and nothing more yet. The plan
instantiates the package (``instantiatesCanonical``), names her case with the core
``workflow-episodeOfCare`` extension (the guide's link to the case) and the case's care
team, and its author is the institution that applied it: the one that made the offer.
See: https://hl7.org/fhir/R4B/plandefinition-operation-apply.html
"""

from __future__ import annotations

from typing import Any

from server.cases import WORKFLOW_EPISODE

from .activities import OFFERED
from .package import CASE_PLAN_PROFILE, service_of

__all__ = ["case_plan"]

TITLE = "Plan de intervención"

Resource = dict[str, Any]


def case_plan(package: Resource, patient: str, case: Resource, at: str, *,
              author: str | None = None, encounter: str | None = None,
              practitioner: str | None = None) -> Resource:
    """The CasePlan of ``patient`` (``Patient/<id>``) in ``case`` (her EpisodeOfCare)
    from ``package`` (a MinimumServicePackage), created at ``at`` (an instant) by
    ``author`` (``Organization/<id>``), at ``encounter`` and with ``practitioner`` (who
    applied it, a contributor) when given. Not stored: it has no id."""
    plan: Resource = {
        "resourceType": "CarePlan",
        "meta": {"profile": [CASE_PLAN_PROFILE]},
        "extension": [{"url": WORKFLOW_EPISODE,
                       "valueReference": {"reference": f"EpisodeOfCare/{case['id']}"}}],
        "instantiatesCanonical": [package["url"]],
        "status": "active",
        "intent": "plan",
        "title": TITLE,
        "subject": {"reference": patient},
    }
    if encounter:
        plan["encounter"] = {"reference": encounter}
    plan["period"] = {"start": at}
    plan["created"] = at
    if author:
        plan["author"] = {"reference": author}
    if practitioner:
        plan["contributor"] = [{"reference": practitioner}]
    teams = [t for t in case.get("team") or [] if isinstance(t, dict) and t.get("reference")]
    if teams:
        plan["careTeam"] = [{"reference": t["reference"]} for t in teams]
    plan["activity"] = [_offered(action) for action in package.get("action") or []]
    return plan


def _offered(action: Resource) -> Resource:
    """One action's service, offered."""
    detail: Resource = {"code": {"coding": [service_of(action.get("code"))]},
                        "status": OFFERED}
    if action.get("description"):
        detail["description"] = action["description"]
    return {"detail": detail}
