"""Rules 4 and 5 over HTTP with a real outbox worker: one woman's record raises and
clears another's serial-aggressor alert (the same RUN on the aggressor records two
institutions keep), and a new incident of the aggressor a protection measure is against
is a breach until the measure ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from server import clock
from server.warnings.engine import TIMER, EarlyWarning
from tests.server.access.institutions import HOTLINE, POLICE, WOMENS_CENTRE, Institution
from tests.server.warnings.test_engine import alerts, incident, survivor

RUN = "http://regcivil.cl/Validacion/RUN"
MEASURE = "https://fhir.amparo.cl/CodeSystem/tipo-solicitud"


def aggressor(institution: Institution, her: str, *runs: str) -> str:
    body = {"resourceType": "RelatedPerson", "patient": {"reference": her}}
    if runs:
        body["identifier"] = [{"system": RUN, "value": run} for run in runs]
    person = institution.create(body)
    return f"RelatedPerson/{person['id']}"


def by(institution: Institution, her: str, him: str, when: str) -> dict:
    """An incident against her by him."""
    return institution.create({**incident(her, when), "focus": [{"reference": him}]})


def test_the_same_man_against_two_women_is_an_alert_on_each_until_one_record_is_void(
        live, drain):
    police, hotline = Institution(live, POLICE, "THREAT"), Institution(live, HOTLINE, "TREAT")
    ana, berta = survivor(police), survivor(hotline)
    first = by(police, ana, aggressor(police, ana, "9876543-3"), "2025-03-02T22:00:00-03:00")
    drain()
    assert "agresor-serial" not in alerts(live, ana)
    his = aggressor(hotline, berta, "9.876.543-3")  # the same RUN, written otherwise
    second = by(hotline, berta, his, "2025-05-10T08:00:00-04:00")
    drain()  # berta's record changed: ana's alert is raised too
    drain()
    [for_ana], [for_berta] = alerts(live, ana)["agresor-serial"], \
        alerts(live, berta)["agresor-serial"]
    assert for_ana["status"] == for_berta["status"] == "active"
    assert f"Observation/{first['id']}" in for_ana["evidence"]
    assert f"Observation/{second['id']}" in for_ana["evidence"] and his in for_ana["evidence"]
    assert "contra 2 mujeres" in for_ana["detail"]
    assert berta.split("/")[1] not in for_ana["detail"]
    # berta's incident entered in error: neither woman's alert holds any longer
    changed = {**second, "status": "entered-in-error"}
    assert hotline.put(f"Observation/{second['id']}", changed).status_code == 200
    drain()
    assert [a["status"] for a in alerts(live, ana)["agresor-serial"]
            + alerts(live, berta)["agresor-serial"]] == ["inactive", "inactive"]


def test_a_corrected_identifier_clears_the_alert_of_the_woman_it_linked(live, drain):
    centre, police = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, POLICE, "THREAT")
    ana, berta = survivor(centre), survivor(police)
    by(centre, ana, aggressor(centre, ana, "9876543-3"), "2025-03-02")
    his = aggressor(police, berta, "9876543-3")
    by(police, berta, his, "2025-04-02")
    drain()
    assert alerts(live, ana)["agresor-serial"][0]["status"] == "active"
    person = police.get(his).json()
    person["identifier"] = [{"system": RUN, "value": "11111111-1"}]  # another man after all
    assert police.put(his, person).status_code == 200
    drain()  # the RelatedPerson's event reaches ana, whose incidents name none of berta's
    assert alerts(live, ana)["agresor-serial"][0]["status"] == "inactive"
    assert alerts(live, berta)["agresor-serial"][0]["status"] == "inactive"


def test_a_deleted_incident_clears_the_alert_of_the_other_woman(live, drain):
    """The deleted incident is no longer found by any search: the engine follows the
    aggressor its last version named to the women he is linked to."""
    centre, police = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, POLICE, "THREAT")
    ana, berta = survivor(centre), survivor(police)
    by(centre, ana, aggressor(centre, ana, "9876543-3"), "2025-03-02")
    hers = by(police, berta, aggressor(police, berta, "9876543-3"), "2025-04-02")
    drain()
    assert alerts(live, ana)["agresor-serial"][0]["status"] == "active"
    assert police.delete(f"Observation/{hers['id']}").status_code in (200, 204)
    drain()
    assert alerts(live, ana)["agresor-serial"][0]["status"] == "inactive"
    assert alerts(live, berta)["agresor-serial"][0]["status"] == "inactive"


def measure(her: str, ground: dict, start: date, end: date) -> dict:
    return {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "category": [{"coding": [{"system": MEASURE, "code": "medida-proteccion"}]}],
            "subject": {"reference": her},
            "occurrencePeriod": {"start": start.isoformat(), "end": end.isoformat()},
            "reasonReference": [{"reference": f"Observation/{ground['id']}"}]}


def test_an_incident_while_a_measure_against_him_is_in_force_is_a_breach_until_revoked(
        live, drain):
    centre, police = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, POLICE, "THREAT")
    her = survivor(centre)
    today = datetime.now(UTC).date()
    him = aggressor(centre, her, "9876543-3")
    ground = by(centre, her, him, (today - timedelta(days=30)).isoformat())
    order = centre.create(measure(her, ground, today - timedelta(days=20),
                                  today + timedelta(days=160)))
    drain()
    assert "incumplimiento-medida-proteccion" not in alerts(live, her)
    # the police record him again, as another aggressor record with his RUN
    again = by(police, her, aggressor(police, her, "9876543-3"),
               (today - timedelta(days=2)).isoformat())
    drain()
    drain()
    [alert] = alerts(live, her)["incumplimiento-medida-proteccion"]
    assert alert["status"] == "active"
    assert alert["evidence"] == [f"ServiceRequest/{order['id']}", f"Observation/{again['id']}"]
    end = datetime.combine(today + timedelta(days=161), datetime.min.time(), UTC)
    with live.app.extensions["amparo"].store.unit_of_work() as uow:  # the measure's end
        assert uow.timer(f"{TIMER}:{her}") == clock.to_us(end) + 1
    # revoked: the alert clears
    assert centre.put(f"ServiceRequest/{order['id']}",
                      {**order, "status": "revoked"}).status_code == 200
    drain()
    [alert] = alerts(live, her)["incumplimiento-medida-proteccion"]
    assert alert["status"] == "inactive"


def test_a_breach_clears_by_itself_when_the_measure_ends(live, drain):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = survivor(centre)
    him = aggressor(centre, her)
    ground = by(centre, her, him, "2025-03-01")
    centre.create(measure(her, ground, date(2025, 3, 20), date(2099, 9, 20)))
    by(centre, her, him, "2025-05-02T23:00:00-04:00")
    drain()
    assert alerts(live, her)["incumplimiento-medida-proteccion"][0]["status"] == "active"
    amparo = live.app.extensions["amparo"]
    later = EarlyWarning(amparo.repo, now=lambda: datetime(2099, 9, 21, 0, 1, tzinfo=UTC))
    with amparo.store.unit_of_work() as uow:  # her timer fires when it ends
        later.on_timer(uow, her)
        uow.commit()
    assert alerts(live, her)["incumplimiento-medida-proteccion"][0]["status"] == "inactive"
