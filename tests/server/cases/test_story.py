"""The story issue 7 asks for, over real HTTP with each institution's own client: a 1455
call, a police complaint with a risk assessment, an emergency-room visit, a women's centre
intake. Each institution after the first learns who she is from the referral it
receives (its inbox task names her), as the network passes her on. The four contacts land
in one case; the centre reads the earlier account (her consent) and risk assessment (the
mandate); a referral to the shelter is accepted and completed; the timeline and the
summary show it all in order; an institution her case does not know sees nothing, and one
on it sees only what the mandate gives it."""

from __future__ import annotations

import base64

from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
    consent_permit,
)
from tests.server.linkage.test_compare import patient
from tests.server.referrals.referrals import business
from tests.server.timeline.story import SHELTER, assessment, contact, parts

HEALTH = "salud-urgencia-13101"
RUN = "41382204-1"


def statement(her: dict, institution: str, text: str) -> dict:
    return {"resourceType": "DocumentReference", "status": "current",
            "type": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/tipo-documento",
                                 "code": "relato-sobreviviente"}]},
            "subject": {"reference": f"Patient/{her['id']}"},
            "author": [{"reference": f"Organization/{institution}"}],
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                        "data": base64.b64encode(text.encode()).decode()}}]}


def refer(sender: Institution, sender_id: str, her: dict, to: str, what: str) -> dict:
    """A referral from ``sender_id`` to ``to``: its request and the task in ``to``'s inbox."""
    request = sender.create({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "priority": "urgent", "code": {"text": what},
        "subject": {"reference": f"Patient/{her['id']}"},
        "requester": {"reference": f"Organization/{sender_id}"},
        "performer": [{"reference": f"Organization/{to}"}]})
    return sender.create({
        "resourceType": "Task", "status": "requested", "businessStatus": business("enviada"),
        "intent": "order", "code": {"coding": [{
            "system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{request['id']}"},
        "for": {"reference": f"Patient/{her['id']}"},
        "authoredOn": "2025-03-01T23:00:00-03:00",
        "requester": {"reference": f"Organization/{sender_id}"},
        "owner": {"reference": f"Organization/{to}"}})


def received(institution: Institution, org: str) -> tuple[dict, dict]:
    """The referral waiting in ``org``'s inbox, and the survivor it names (her id only:
    the receiving institution does not read her record until it meets her)."""
    [task] = [e["resource"] for e in institution.get(
        "Task", owner=f"Organization/{org}", status="requested").json()["entry"]]
    accepted = institution.put(f"Task/{task['id']}", {
        **task, "status": "accepted", "businessStatus": business("aceptada")})
    assert accepted.status_code == 200, accepted.text
    return accepted.json(), {"id": task["for"]["reference"].split("/")[1]}


def test_four_institutions_one_case_told_once_referred_and_summed_up(live):
    # 1. the 1455 hotline: the call, her account, her consent for the women's centre
    hotline = Institution(live, HOTLINE, "TREAT")
    her = hotline.create(patient("Camila", "Rojas", "Fuentes", run=RUN, born="1992-02-11"))
    call = hotline.create(contact(her, HOTLINE, "2025-03-01T22:10:00-03:00"))
    account = hotline.create(statement(her, HOTLINE, "Relata golpes y amenazas."))
    hotline.create(consent_permit(f"Patient/{her['id']}", WOMENS_CENTRE, "DocumentReference"))
    refer(hotline, HOTLINE, her, POLICE, "denuncia")
    refer(hotline, HOTLINE, her, WOMENS_CENTRE, "ingreso a Centro de la Mujer")
    # 2. Carabineros, referred by the hotline: the complaint and a risk assessment (alto)
    police = Institution(live, POLICE, "THREAT")
    _, known = received(police, POLICE)
    assert known["id"] == her["id"]
    assert police.get(f"Patient/{her['id']}").status_code == 404  # not met yet
    complaint = police.create(contact(known, POLICE, "2025-03-02T01:30:00-03:00"))
    risk = police.create(assessment(known, complaint, "alto", "2025-03-02T02:00:00-03:00"))
    assert police.get(f"Patient/{her['id']}").status_code == 200  # met: on her case
    # 3. the emergency room, where the police take her for the injury report
    refer(police, POLICE, known, HEALTH, "constatación de lesiones")
    health = Institution(live, HEALTH, "TREAT")
    _, known = received(health, HEALTH)
    visit = health.create(contact(known, HEALTH, "2025-03-02T03:15:00-03:00"))
    # 4. the women's centre, referred by the hotline: the intake; it reads what she
    # told and how she was assessed
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    _, known = received(centre, WOMENS_CENTRE)
    intake = centre.create(contact(known, WOMENS_CENTRE, "2025-03-12T10:00:00-03:00"))
    subject = f"Patient/{her['id']}"
    assert centre.ids("DocumentReference", subject=subject) == {account["id"]}
    assert centre.get(f"RiskAssessment/{risk['id']}").status_code == 200

    # the four contacts are one case, and the four institutions its team
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    [case] = [e["resource"] for e in coordinator.get("EpisodeOfCare",
                                                     patient=subject).json()["entry"]]
    for met in (call, complaint, visit, intake):
        assert met["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{case['id']}"}]
    team = coordinator.get(case["team"][0]["reference"]).json()
    assert {p["member"]["reference"] for p in team["participant"]} == {
        f"Organization/{i}" for i in (HOTLINE, POLICE, HEALTH, WOMENS_CENTRE)}

    # a referral to the shelter: sent by the centre, accepted and completed by the shelter
    request = centre.create({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "priority": "urgent", "code": {"text": "casa de acogida"}, "subject": {
            "reference": subject},
        "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
        "performer": [{"reference": f"Organization/{SHELTER}"}]})
    task = centre.create({
        "resourceType": "Task", "status": "requested", "businessStatus": business("enviada"),
        "intent": "order", "code": {"coding": [{
            "system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{request['id']}"}, "for": {"reference": subject},
        "authoredOn": "2025-03-12T10:30:00-03:00",
        "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
        "owner": {"reference": f"Organization/{SHELTER}"}})
    shelter = Institution(live, SHELTER, "TREAT")
    assert shelter.ids("Task", owner=f"Organization/{SHELTER}", status="requested") == {
        task["id"]}  # its inbox
    for status, code in (("accepted", "aceptada"), ("in-progress", "en-atencion"),
                         ("completed", "completada")):
        task = shelter.put(f"Task/{task['id']}", {**task, "status": status,
                                                  "businessStatus": business(code)}).json()
        assert task["status"] == status
    assert task["executionPeriod"]["end"] == task["lastModified"]

    # the case's timeline: the four contacts in the order they happened
    timeline = coordinator.get(f"EpisodeOfCare/{case['id']}/$everything",
                               _count="100").json()
    contacts = [e["resource"]["id"] for e in timeline["entry"]
                if e["resource"]["resourceType"] == "Encounter"]
    assert contacts == [call["id"], complaint["id"], visit["id"], intake["id"]]
    summary = parts(coordinator.get(f"EpisodeOfCare/{case['id']}/$summary").json())
    assert summary["risk"][0]["level"]["code"] == "alto"
    open_referrals = {r["task"]["reference"] for r in summary.get("referral", [])}
    assert f"Task/{task['id']}" not in open_referrals  # completed: no longer open
    assert len(summary["institution"]) == 4
    assert summary["lastContact"][0]["encounter"]["reference"] == f"Encounter/{intake['id']}"

    # the police, on her case, see what the mandate gives them, not her account
    assert police.get(f"RiskAssessment/{risk['id']}").status_code == 200
    assert police.ids("DocumentReference", subject=subject) == set()
    # an institution her case does not know sees nothing of her
    prosecutor = Institution(live, PROSECUTOR, "HLEGAL")
    assert prosecutor.get(f"Patient/{her['id']}").status_code == 404
    assert prosecutor.get(f"EpisodeOfCare/{case['id']}/$everything").status_code == 404
