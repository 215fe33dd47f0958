"""Early warning over HTTP with a real outbox worker: institutions write assessments and
incidents, the worker raises alerts (Flag + DetectedIssue, valid against the guide's
profiles), never twice for one trigger, and clears them when the condition does."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta

import orjson

from server import clock
from server.access import ANONYMOUS
from server.search.parse import parse_criteria
from server.warnings.engine import TIMER, EarlyWarning
from server.worker import OutboxWorker
from tests.server.access.institutions import HOTLINE, POLICE, WOMENS_CENTRE, Institution

LEVELS = "https://fhir.amparo.cl/CodeSystem/nivel-riesgo"
INSTRUMENTS = "https://fhir.amparo.cl/CodeSystem/instrumento-riesgo"


def assessment(patient: str, level: str, day: str, instrument: str = "puir") -> dict:
    return {"resourceType": "RiskAssessment", "status": "final",
            "subject": {"reference": patient}, "occurrenceDateTime": f"{day}T10:00:00-03:00",
            "method": {"coding": [{"system": INSTRUMENTS, "code": instrument}]},
            "prediction": [{"qualitativeRisk": {"coding": [{"system": LEVELS,
                                                             "code": level}]}}]}


def incident(patient: str, when: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/observacion-vcm",
                                 "code": "incidente-violencia"}]},
            "subject": {"reference": patient}, "effectiveDateTime": when}


def alerts(live, patient: str) -> dict[str, list[dict]]:
    """Her alerts by kind, with their evidence's implicated records (read as the
    platform: what an institution sees of them is the consent model's to say)."""
    repo = live.app.extensions["amparo"].repo
    out: dict[str, list[dict]] = {}
    flags = repo.search(ANONYMOUS, parse_criteria("Flag", [("subject", patient)])).matches
    for version in flags:
        flag = orjson.loads(version.body)
        kind = flag["code"]["coding"][0]["code"]
        detail = flag["extension"][0]["valueReference"]["reference"].split("/")[1]
        issue = orjson.loads(repo.read(ANONYMOUS, "DetectedIssue", detail).body)
        flag["evidence"] = [r["reference"] for r in issue["implicated"]]
        flag["detail"] = issue["detail"]
        out.setdefault(kind, []).append(flag)
    return out


def survivor(institution: Institution) -> str:
    return f"Patient/{institution.create({'resourceType': 'Patient'})['id']}"


def test_high_risk_from_any_institution_is_raised_once_and_clears(live, drain):
    centre, police = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, POLICE, "THREAT")
    her = survivor(centre)
    first = centre.create(assessment(her, "medio", "2025-03-01"))
    drain()
    assert not {"riesgo-alto", "escalamiento"} & alerts(live, her).keys()
    second = police.create(assessment(her, "vital-alto", "2025-04-01"))
    drain()
    drain()  # nothing new to handle: still one alert of each kind
    found = alerts(live, her)
    [high], [escalated] = found["riesgo-alto"], found["escalamiento"]
    assert high["status"] == "active" and high["evidence"] == [f"RiskAssessment/{second['id']}"]
    assert escalated["evidence"] == [f"RiskAssessment/{first['id']}",
                                     f"RiskAssessment/{second['id']}"]
    assert "medio" in escalated["detail"] and "vital-alto" in escalated["detail"]
    # a later, lower assessment: both conditions clear, and so do the alerts
    centre.create(assessment(her, "bajo", "2025-06-01"))
    drain()
    found = alerts(live, her)
    assert [f["status"] for f in found["riesgo-alto"] + found["escalamiento"]] == \
        ["inactive", "inactive"]
    assert all(f["period"]["end"] for f in found["riesgo-alto"] + found["escalamiento"])


def test_a_redelivered_event_raises_nothing_twice(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = survivor(centre)
    centre.create(assessment(her, "alto", "2025-03-01"))
    amparo = live.app.extensions["amparo"]
    engine = EarlyWarning(amparo.repo)
    last = amparo.store.outbox(0, 100_000)[-1]
    for _ in range(2):  # the same event handled twice, as after a crash before the ack
        with amparo.store.unit_of_work() as uow:
            engine(uow, last)
            uow.commit()
    assert len(alerts(live, her)["riesgo-alto"]) == 1


def test_recurrence_counts_the_same_night_once_and_grows_as_one_alert(live, drain):
    police, hotline = Institution(live, POLICE, "THREAT"), Institution(live, HOTLINE, "TREAT")
    her = survivor(police)
    night = police.create(incident(her, "2025-03-02T22:15:00-03:00"))
    police.create(incident(her, "2025-03-03T02:40:00-03:00"))  # the ER, the same night
    drain()
    assert "reincidencia" not in alerts(live, her)
    later = hotline.create(incident(her, "2025-08-24T03:10:00-04:00"))
    drain()
    [alert] = alerts(live, her)["reincidencia"]
    assert alert["status"] == "active" and len(alert["evidence"]) == 3
    assert "175 días" in alert["detail"]
    third = police.create(incident(her, str(date(2025, 12, 1))))
    drain()
    [alert] = alerts(live, her)["reincidencia"]  # the same alert, its evidence grown
    assert alert["evidence"][-1] == f"Observation/{third['id']}"
    # entered in error, the later incidents no longer make a recurrence: it clears
    for wrong in (later, third):
        changed = {**wrong, "status": "entered-in-error"}
        owner = hotline if wrong is later else police
        assert owner.put(f"Observation/{wrong['id']}", changed).status_code == 200
    drain()
    [alert] = alerts(live, her)["reincidencia"]
    assert alert["status"] == "inactive"
    assert night["id"]  # her first incident stays what it was


def test_the_background_worker_raises_the_alert_by_itself(live):
    """As ``server/wsgi.py`` runs it: a worker thread, nobody driving it."""
    amparo = live.app.extensions["amparo"]
    worker = OutboxWorker(amparo.store, f"early-warning-{uuid.uuid4()}",
                          EarlyWarning(amparo.repo), idle_seconds=0.05)
    worker.start()
    try:
        centre = Institution(live, WOMENS_CENTRE, "TREAT")
        her = survivor(centre)
        centre.create(assessment(her, "vital", "2025-05-05"))
        deadline = time.monotonic() + 20
        while "riesgo-alto" not in alerts(live, her) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert alerts(live, her)["riesgo-alto"][0]["status"] == "active"
    finally:
        worker.stop()


def test_an_old_assessment_is_due_again_and_a_new_one_clears_it(live, drain):
    """Rule 8: a vital risk assessed more than 14 days ago is due to be assessed again;
    her timer is set for the day it falls due."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = survivor(centre)
    today = datetime.now(UTC)
    recent = (today - timedelta(days=3)).date().isoformat()
    fresh = centre.create(assessment(her, "vital", recent))
    drain()
    assert "reevaluacion-pendiente" not in alerts(live, her)
    with live.app.extensions["amparo"].store.unit_of_work() as uow:
        due = datetime.fromisoformat(fresh["occurrenceDateTime"]) + timedelta(days=14)
        assert uow.timer(f"{TIMER}:{her}") == clock.to_us(due) + 1
    old = (today - timedelta(days=20)).date().isoformat()
    her_too = survivor(centre)
    stale = centre.create(assessment(her_too, "vital", old))
    drain()
    [alert] = alerts(live, her_too)["reevaluacion-pendiente"]
    assert alert["status"] == "active" and alert["evidence"] == [f"RiskAssessment/{stale['id']}"]
    assert "14 días" in alert["detail"]
    centre.create(assessment(her_too, "alto", today.date().isoformat()))
    drain()
    [alert] = alerts(live, her_too)["reevaluacion-pendiente"]
    assert alert["status"] == "inactive"
