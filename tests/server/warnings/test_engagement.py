"""Rule 7 over HTTP with a real outbox worker and the real referral workflow and plan
rules: a referral or a plan's service she leaves is an alert until she is back in that
service; a high-risk woman no institution has seen for 30 days is an alert until a new
contact, her timer set for the day the silence reaches 30 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from server import clock
from server.access import ANONYMOUS
from server.warnings.engine import TIMER
from tests.server.access.institutions import Institution
from tests.server.plans.conftest import applied, met
from tests.server.plans.test_activities import changed, put
from tests.server.referrals.referrals import SHELTER, WOMENS_CENTRE, Referral
from tests.server.warnings.test_engine import alerts, assessment, survivor

SERVICES = "https://fhir.amparo.cl/CodeSystem/servicio-paquete-minimo"


def request(her: str, service: str) -> dict:
    """A referral from the women's centre to the shelter, for ``service``."""
    return {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "priority": "urgent", "subject": {"reference": her},
            "code": {"coding": [{"system": SERVICES, "code": service}]},
            "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
            "performer": [{"reference": f"Organization/{SHELTER}"}]}


def now_text(days: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def evidence_of(live, flag: dict) -> dict:
    """The AlertEvidence (DetectedIssue) of an alert, as the platform reads it."""
    issue = flag["extension"][0]["valueReference"]["reference"].split("/")[1]
    repo = live.app.extensions["amparo"].repo
    return orjson.loads(repo.read(ANONYMOUS, "DetectedIssue", issue).body)


def test_a_referral_she_leaves_is_an_alert_until_she_is_back_in_the_service(live, drain):
    centre, shelter = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, SHELTER, "COC")
    her = survivor(centre)
    first = Referral(centre, shelter, her, centre.create(request(her, "casa-acogida")))
    task = first.advance(first.send(authoredOn=now_text(-20)), "accepted", "in-progress",
                         "failed")  # no-se-presenta
    drain()
    drain()
    [alert] = alerts(live, her)["perdida-contacto"]
    assert alert["status"] == "active"
    assert alert["evidence"] == [f"ServiceRequest/{first.request['id']}", f"Task/{task['id']}"]
    assert alert["detail"].startswith("Abandono: la derivación a «Casa de acogida»")
    # referred to the same service again: back once the shelter accepts her
    again = Referral(centre, shelter, her, centre.create(request(her, "casa-acogida")))
    sent = again.send(authoredOn=now_text(-1))
    drain()
    assert alerts(live, her)["perdida-contacto"][0]["status"] == "active"
    again.advance(sent, "accepted")
    drain()
    [alert] = alerts(live, her)["perdida-contacto"]
    assert alert["status"] == "inactive" and alert["period"]["end"]


def test_a_service_of_her_plan_she_stops_is_an_alert_until_a_referral_takes_her_back(
        live, drain):
    centre, shelter = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, SHELTER, "COC")
    patient = met(centre, WOMENS_CENTRE, "Abandono")
    her = f"Patient/{patient['id']}"
    plan = centre.create(applied(centre, patient))
    for status in ("scheduled", "in-progress", "stopped"):
        fields = {"status": status}
        if status == "stopped":
            fields["statusReason"] = {"text": "Dejó de asistir"}
        answer = put(centre, changed(plan, apoyo_psicosocial=fields))
        assert answer.status_code == 200, answer.text
        plan = answer.json()
    drain()
    drain()
    [alert] = alerts(live, her)["perdida-contacto"]
    issue = evidence_of(live, alert)
    case = next(e["valueReference"]["reference"] for e in plan["extension"])
    assert alert["status"] == "active" and alert["evidence"] == [case]
    assert issue["evidence"] == [{"code": [{"coding": [{"system": SERVICES,
                                                         "code": "apoyo-psicosocial"}]}],
                                  "detail": [{"reference": f"CarePlan/{plan['id']}"}]}]
    assert "«Apoyo psicosocial»" in alert["detail"]
    # another service of the plan declined: a second alert, the first one unchanged
    declined = put(centre, changed(plan, casa_acogida={
        "status": "cancelled", "statusReason": {"text": "No lo desea"}}))
    assert declined.status_code == 200, declined.text
    drain()
    assert len(alerts(live, her)["perdida-contacto"]) == 2
    # referred to the service she stopped, and taken in: that alert clears
    back = Referral(centre, shelter, her, centre.create(request(her, "apoyo-psicosocial")))
    back.advance(back.send(authoredOn=now_text()), "accepted")
    drain()
    found = {evidence_of(live, a)["evidence"][0]["code"][0]["coding"][0]["code"]: a["status"]
             for a in alerts(live, her)["perdida-contacto"]}
    assert found == {"apoyo-psicosocial": "inactive", "casa-acogida": "active"}


def contact(institution: Institution, her: str, days: float) -> dict:
    at = now_text(days)
    return institution.create({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": her}, "period": {"start": at, "end": at},
        "serviceProvider": {"reference": f"Organization/{WOMENS_CENTRE}"}})


def test_a_high_risk_woman_no_one_has_seen_for_30_days_is_lost_until_a_new_contact(
        live, drain):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = survivor(centre)
    seen = contact(centre, her, -40)
    assessed = centre.create(assessment(her, "alto", now_text(-35)[:10]))
    drain()
    [alert] = alerts(live, her)["perdida-contacto"]
    assert alert["status"] == "active"
    assert alert["evidence"] == [f"Encounter/{seen['id']}", f"RiskAssessment/{assessed['id']}"]
    assert alert["detail"].startswith("Pérdida de contacto") and "30 días" in alert["detail"]
    # the police see her today: the alert clears, and her timer waits 30 days from today
    today = contact(centre, her, 0)
    drain()
    drain()
    [alert] = alerts(live, her)["perdida-contacto"]
    assert alert["status"] == "inactive"
    due = datetime.fromisoformat(today["period"]["end"]) + timedelta(days=30)
    with live.app.extensions["amparo"].store.unit_of_work() as uow:
        assert uow.timer(f"{TIMER}:{her}") == clock.to_us(due) + 1


def test_a_woman_not_at_high_risk_is_never_lost_to_contact(live, drain):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = survivor(centre)
    contact(centre, her, -90)
    assessed = centre.create(assessment(her, "medio", now_text(-80)[:10]))
    drain()
    assert alerts(live, her) == {}
    # her timer waits for her reassessment (medio: 90 days), not for a silence
    due = datetime.fromisoformat(assessed["occurrenceDateTime"]) + timedelta(days=90)
    with live.app.extensions["amparo"].store.unit_of_work() as uow:
        assert uow.timer(f"{TIMER}:{her}") == clock.to_us(due) + 1
