"""The state of each offered service (server/plans/activities.py) over HTTP: a plan is
created with every service offered; she accepts or declines each (declining with a
reason), an accepted one is delivered, and who delivers it is recorded; any other
change is 422 and changes nothing."""

from __future__ import annotations

import copy

from tests.conftest import assert_outcome
from tests.server.access.institutions import HOTLINE, WOMENS_CENTRE, Institution
from tests.server.plans.conftest import applied, met

CENTRE = f"Organization/{WOMENS_CENTRE}"


def stored_plan(live) -> tuple[Institution, dict]:
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Estados")
    return centre, centre.create(applied(centre, her))


def detail(plan: dict, service: str) -> dict:
    return next(a["detail"] for a in plan["activity"]
                if a["detail"]["code"]["coding"][0]["code"] == service)


def changed(plan: dict, **statuses: dict) -> dict:
    """``plan`` with each service's detail updated (``casa_acogida={"status": ...}``)."""
    plan = copy.deepcopy(plan)
    for service, fields in statuses.items():
        detail(plan, service.replace("_", "-")).update(fields)
    return plan


def put(institution: Institution, plan: dict):
    return institution.put(f"CarePlan/{plan['id']}", plan)


def test_she_accepts_declines_and_is_delivered_services_and_who_delivers_is_recorded(live):
    centre, plan = stored_plan(live)
    reason = {"text": "Ella no lo desea por ahora"}
    answer = put(centre, changed(plan, apoyo_psicosocial={"status": "scheduled"},
                                 casa_acogida={"status": "cancelled", "statusReason": reason},
                                 asesoria_juridica={"status": "scheduled", "performer": [
                                     {"reference": f"Organization/{HOTLINE}"}]}))
    assert answer.status_code == 200, answer.text
    plan = answer.json()
    assert detail(plan, "apoyo-psicosocial")["performer"] == [{"reference": CENTRE}]
    assert detail(plan, "asesoria-juridica")["performer"] == [
        {"reference": f"Organization/{HOTLINE}"}]  # a named performer is kept
    assert "performer" not in detail(plan, "casa-acogida")
    assert detail(plan, "plan-seguridad")["status"] == "not-started"
    answer = put(centre, changed(plan, apoyo_psicosocial={"status": "in-progress"}))
    answer = put(centre, changed(answer.json(), apoyo_psicosocial={"status": "completed"},
                                 asesoria_juridica={"status": "completed"}))
    assert answer.status_code == 200, answer.text
    assert detail(answer.json(), "apoyo-psicosocial") == {
        **detail(plan, "apoyo-psicosocial"), "status": "completed"}


def test_a_change_outside_offered_accepted_delivered_is_refused(live):
    centre, plan = stored_plan(live)
    for statuses in ({"apoyo_psicosocial": {"status": "completed"}},  # never accepted
                     {"apoyo_psicosocial": {"status": "in-progress"}},
                     {"casa_acogida": {"status": "cancelled"}}):  # declined without reason
        body = assert_outcome(put(centre, changed(plan, **statuses)), 422, "business-rule")
        assert body["issue"][0]["expression"][0].startswith("CarePlan.activity[")
    done = put(centre, changed(plan, plan_seguridad={"status": "scheduled"})).json()
    done = put(centre, changed(done, plan_seguridad={"status": "completed"})).json()
    assert_outcome(put(centre, changed(done, plan_seguridad={"status": "in-progress"})),
                   422, "business-rule")  # delivered is final
    assert centre.get(f"CarePlan/{plan['id']}").json()["meta"]["versionId"] == "3"


def test_an_offered_service_stays_in_the_plan_and_a_new_plan_starts_with_offers(live):
    centre, plan = stored_plan(live)
    fewer = copy.deepcopy(plan)
    fewer["activity"] = fewer["activity"][1:]
    assert_outcome(put(centre, fewer), 422, "business-rule")
    her = plan["subject"]["reference"].split("/")[1]
    fresh = applied(centre, {"id": her})
    detail(fresh, "plan-seguridad")["status"] = "completed"
    assert_outcome(centre.post("CarePlan", fresh), 422, "business-rule")


def test_a_care_plan_that_is_not_a_case_plan_is_not_governed(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Generico")
    other = centre.create({"resourceType": "CarePlan", "status": "active", "intent": "plan",
                           "subject": {"reference": f"Patient/{her['id']}"},
                           "activity": [{"detail": {"status": "completed",
                                                    "code": {"text": "control"}}}]})
    assert other["activity"][0]["detail"]["status"] == "completed"
