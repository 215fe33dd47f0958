"""rest-hook subscriptions end to end: institutions subscribe over HTTP, the real workers
(early warning, topic matching, delivery) run on the live server's store, and a real
webhook receiver on 127.0.0.1 gets the handshake and the notifications, in order,
with what the subscriber's institution may see and nothing more."""

from __future__ import annotations

import pytest

from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
)
from tests.server.subscriptions.conftest import SUBSCRIPTION_TOPIC, subscription
from tests.server.timeline.story import contact
from tests.server.warnings.test_engine import assessment, incident

ALERT_TYPES = "https://fhir.amparo.cl/CodeSystem/tipo-alerta"


def on_case(institution: Institution, org: str) -> str:
    """A survivor of ``institution``'s, met once, so that it is on her case."""
    her = institution.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
    institution.create(contact(her, org, "2026-11-01T10:00:00-03:00"))
    return f"Patient/{her['id']}"


def subscribe(institution: Institution, body: dict) -> dict:
    answer = institution.post("Subscription", body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def active(institution: Institution, receiver, sub: dict) -> None:
    receiver.wait(lambda got: any(r.kind == "handshake" and r.status["subscription"][
        "reference"].endswith(sub["id"]) for r in got))
    wait_status(institution, sub, "active")


def wait_status(institution: Institution, sub: dict, status: str, timeout: float = 15):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if institution.get(f"Subscription/{sub['id']}").json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"status never became {status}")


def wait_for(condition, timeout: float = 15) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.05)


def assess(institution: Institution, her: str, level: str, day: str) -> None:
    """Her assessment at ``level``, once early warning has made her high-risk alert agree
    (one at a time: a batch of several is reconciled once, on the last)."""
    institution.create(assessment(her, level, day))
    high = level != "bajo"
    wait_for(lambda: bool(institution.ids("Flag", patient=her, status="active",
                                          code=f"{ALERT_TYPES}|riesgo-alto")) == high)


def wait_events(institution: Institution, sub: dict, count: int, timeout: float = 15):
    """Until ``count`` events are numbered for ``sub`` (its ``$status``)."""
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = institution.get(f"Subscription/{sub['id']}/$status").json()
        if int(status["entry"][0]["resource"]["eventsSinceSubscriptionStart"]) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} events never numbered")


@pytest.fixture
def centre(live) -> Institution:
    return Institution(live, WOMENS_CENTRE, "COC")


# -- the handshake and one event, in each payload content ---------------------------------

@pytest.mark.parametrize("content", ["id-only", "full-resource", "empty"])
def test_a_high_risk_assessment_reaches_the_subscriber(live, receiver, workers, centre,
                                                         content):
    her = on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/hook",
                                         f"patient={her}", content=content,
                                         headers=("X-Amparo-Secreto: s3cr3t",)))
    assert sub["status"] == "requested"
    active(centre, receiver, sub)
    centre.create(assessment(her, "vital", "2026-11-20"))
    [note] = receiver.wait(lambda got: any(r.kind == "event-notification" for r in got)
                           ) and receiver.events()
    assert note.path == "/hook"
    assert note.headers["X-Amparo-Secreto"] == "s3cr3t"
    assert note.headers["Content-Type"] == "application/fhir+json"
    assert note.body["type"] == "history"
    status = note.status
    assert status["resourceType"] == "SubscriptionStatus"
    assert status["topic"] == SUBSCRIPTION_TOPIC + "riesgo-alto"
    assert status["eventsSinceSubscriptionStart"] == "1"
    assert note.numbers == [1]
    event = status["notificationEvent"][0]
    entries = note.body["entry"][1:]
    if content == "empty":
        assert "focus" not in event and entries == []
        return
    flag_ref = event["focus"]["reference"]
    assert flag_ref.startswith("Flag/")
    [entry] = entries
    assert entry["fullUrl"] == f"{live.base}/{flag_ref}"
    if content == "id-only":
        assert "resource" not in entry
        # the disclosure is audited like a read by the subscriber's institution
        from tests.server.audit.test_recording import auditor
        events = auditor(live).events(patient=her, agent=f"Organization/{WOMENS_CENTRE}")
        told = [e for e in events if any(
            a["who"].get("identifier", {}).get("value") == f"Subscription/{sub['id']}"
            for a in e["agent"])]
        assert len(told) == 1
        assert {x["what"]["reference"] for x in told[0]["entity"]} >= {flag_ref, her}
    else:
        flag = entry["resource"]
        assert flag["code"]["coding"][0]["code"] == "riesgo-alto"
        assert flag["subject"]["reference"] == her


def test_an_institution_that_may_not_read_the_alert_learns_only_that_something_happened(
        live, receiver, workers, centre):
    """The prosecutor is on no case of hers: its subscription to every high-risk alert
    gets the event, numbered, with no focus and no record, even asking for full
    resources."""
    prosecutor = Institution(live, PROSECUTOR, "HLEGAL")
    sub = subscribe(prosecutor, subscription("riesgo-alto", receiver.url + "/fiscalia",
                                             content="full-resource"))
    active(prosecutor, receiver, sub)
    her = on_case(centre, WOMENS_CENTRE)
    centre.create(assessment(her, "alto", "2026-11-20"))
    note = receiver.wait(lambda got: bool(receiver.events("/fiscalia")))
    [note] = receiver.events("/fiscalia")
    assert note.numbers == [1]
    assert "focus" not in note.status["notificationEvent"][0]
    assert note.body["entry"][1:] == []
    assert her.split("/")[1] not in str(note.body)


def test_a_filter_on_her_leaves_out_other_survivors(live, receiver, workers, centre):
    her, other = on_case(centre, WOMENS_CENTRE), on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/ella",
                                         f"Flag?patient={her}"))
    active(centre, receiver, sub)
    centre.create(assessment(other, "vital", "2026-11-20"))
    centre.create(assessment(her, "vital", "2026-11-21"))
    receiver.wait(lambda got: bool(receiver.events("/ella")))
    notes = receiver.events("/ella")
    assert [n.numbers for n in notes] == [[1]]
    focus = notes[0].status["notificationEvent"][0]["focus"]["reference"]
    assert centre.get(focus).json()["subject"]["reference"] == her


# -- every topic --------------------------------------------------------------------------

def flag(her: str, code: str) -> dict:
    """An alert as an institution may record one itself (the rules raise the same)."""
    return {"resourceType": "Flag", "status": "active",
            "code": {"coding": [{"system": ALERT_TYPES, "code": code}]},
            "subject": {"reference": her}}


@pytest.mark.parametrize("code", ["agresor-serial", "incumplimiento-medida-proteccion",
                                  "derivacion-vencida", "reincidencia", "escalamiento",
                                  "riesgo-alto"])
def test_each_alert_topic_fires_on_its_own_kind_only(live, receiver, workers, centre, code):
    her = on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription(code, receiver.url + "/t", f"patient={her}"))
    active(centre, receiver, sub)
    other = "reevaluacion-pendiente"
    centre.create(flag(her, other))
    written = centre.create(flag(her, code))
    receiver.wait(lambda got: bool(receiver.events("/t")))
    [note] = receiver.events("/t")
    assert note.status["notificationEvent"][0]["focus"]["reference"] == f"Flag/{written['id']}"
    # the same alert updated while active is no new event; inactive then active again is
    written["status"] = "inactive"
    assert centre.put(f"Flag/{written['id']}", written).status_code == 200
    written = centre.get(f"Flag/{written['id']}").json()
    written["status"] = "active"
    assert centre.put(f"Flag/{written['id']}", written).status_code == 200
    receiver.wait(lambda got: len(receiver.events("/t")) == 2)
    assert [n.numbers for n in receiver.events("/t")] == [[1], [2]]


def test_the_rules_raise_recurrence_and_escalation_to_their_topics(live, receiver, workers,
                                                                   centre):
    her = on_case(centre, WOMENS_CENTRE)
    subs = {code: subscribe(centre, subscription(code, receiver.url + f"/{code}",
                                                 f"patient={her}"))
            for code in ("reincidencia", "escalamiento")}
    for sub in subs.values():
        active(centre, receiver, sub)
    centre.create(assessment(her, "bajo", "2026-10-01"))
    centre.create(assessment(her, "medio", "2026-11-01"))
    centre.create(incident(her, "2026-06-01T22:00:00-04:00"))
    centre.create(incident(her, "2026-11-01T22:00:00-03:00"))
    receiver.wait(lambda got: receiver.events("/reincidencia") and receiver.events("/escalamiento"))


def test_a_referral_assigned_to_the_subscribers_institution(live, receiver, workers):
    from tests.server.referrals.referrals import SHELTER, Referral

    centre, shelter = Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, SHELTER, "COC")
    sub = subscribe(shelter, subscription("derivacion-asignada", receiver.url + "/casa"))
    # the owner filter is the subscriber's own institution, written back
    filters = [e["valueString"] for e in sub["_criteria"]["extension"]]
    assert filters == [f"owner=Organization/{SHELTER}"]
    active(shelter, receiver, sub)
    referral = Referral.new(centre, shelter)
    task = referral.send()
    receiver.wait(lambda got: bool(receiver.events("/casa")))
    [note] = receiver.events("/casa")
    assert note.status["notificationEvent"][0]["focus"]["reference"] == f"Task/{task['id']}"
    # another institution's filter is refused
    refused = centre.post("Subscription", subscription(
        "derivacion-asignada", receiver.url + "/x", f"owner=Organization/{SHELTER}"))
    assert refused.status_code == 422, refused.text


def test_a_case_opened_and_changed(live, receiver, workers, centre):
    sub = subscribe(centre, subscription("caso-actualizado", receiver.url + "/casos",
                                         f"organization=Organization/{WOMENS_CENTRE}"))
    active(centre, receiver, sub)
    her = on_case(centre, WOMENS_CENTRE)
    receiver.wait(lambda got: bool(receiver.events("/casos")))
    focus = receiver.events("/casos")[0].status["notificationEvent"][0]["focus"]["reference"]
    case = centre.get(focus).json()
    assert case["patient"]["reference"] == her


def test_break_glass_accesses_reach_the_auditors_only(live, receiver, workers, centre):
    from tests.server.audit.test_recording import AUDITORS

    her = on_case(centre, WOMENS_CENTRE)
    refused = centre.post("Subscription", subscription("acceso-emergencia",
                                                       receiver.url + "/no"))
    assert refused.status_code == 403, refused.text
    auditor = Institution(live, AUDITORS, "HLEGAL",
                          scope="system/AuditEvent.rs system/Subscription.crus")
    sub = subscribe(auditor, subscription("acceso-emergencia", receiver.url + "/auditoria",
                                          content="full-resource"))
    active(auditor, receiver, sub)
    hotline = Institution(live, HOTLINE, "BTG", justification="Riesgo vital inminente")
    assert hotline.get(her).status_code == 200
    receiver.wait(lambda got: bool(receiver.events("/auditoria")))
    note = receiver.events("/auditoria")[0]
    event = note.body["entry"][1]["resource"]
    assert event["resourceType"] == "AuditEvent"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"


# -- order, failures, status --------------------------------------------------------------

def test_a_receiver_down_for_a_while_gets_every_event_in_order_when_back(
        live, receiver, workers, centre):
    her = on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/caida",
                                         f"patient={her}"))
    active(centre, receiver, sub)
    receiver.status = 503
    # three alerts while it is down: raised, cleared by a lower level, raised again...
    for n, level in enumerate(("vital", "bajo", "vital", "bajo", "alto")):
        assess(centre, her, level, f"2026-11-{10 + n:02d}")
        wait_events(centre, sub, (n + 2) // 2)
    wait_status(centre, sub, "error")
    status = centre.get(f"Subscription/{sub['id']}/$status").json()["entry"][0]["resource"]
    assert status["status"] == "error"
    assert receiver.events("/caida") == []
    receiver.status = 200
    wait_status(centre, sub, "active")
    receiver.wait(lambda got: sum(len(n.numbers) for n in receiver.events("/caida")) >= 3)
    numbers = [x for n in receiver.events("/caida") for x in n.numbers]
    assert numbers == [1, 2, 3]


def test_a_subscription_failing_past_the_limit_is_turned_off(live, receiver, centre):
    from tests.server.subscriptions.conftest import start_workers

    running = start_workers(live, off_after=0.5)
    try:
        receiver.status = 500
        sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/muerta"))
        wait_status(centre, sub, "off")
        assert centre.get(f"Subscription/{sub['id']}").json()["error"]
    finally:
        running.stop()


def test_status_and_events_replay_by_number(live, receiver, workers, centre):
    her = on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/replay",
                                         f"patient={her}", content="full-resource"))
    active(centre, receiver, sub)
    for n, level in enumerate(("alto", "bajo", "vital")):
        assess(centre, her, level, f"2026-11-{10 + n:02d}")
    receiver.wait(lambda got: sum(len(n.numbers) for n in receiver.events("/replay")) == 2)
    status = centre.get(f"Subscription/{sub['id']}/$status").json()
    assert status["type"] == "searchset"
    assert status["entry"][0]["resource"]["eventsSinceSubscriptionStart"] == "2"
    events = centre.get(f"Subscription/{sub['id']}/$events", eventsSinceNumber="2").json()
    assert events["type"] == "history"
    first = events["entry"][0]["resource"]
    assert first["type"] == "query-event"
    assert [e["eventNumber"] for e in first["notificationEvent"]] == ["2"]
    assert events["entry"][1]["resource"]["resourceType"] == "Flag"
    empty = centre.get(f"Subscription/{sub['id']}/$events", content="empty").json()
    assert len(empty["entry"]) == 1
    assert centre.get(f"Subscription/{sub['id']}/$events",
                      eventsSinceNumber="x").status_code == 400
    # another institution cannot see the subscription: 404 like a missing one
    police = Institution(live, POLICE, "THREAT")
    assert police.get(f"Subscription/{sub['id']}/$status").status_code == 404


def test_r4_subscribers_get_the_backport_r4_shapes(live, receiver, workers, centre):
    her = on_case(centre, WOMENS_CENTRE)
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/r4",
                                         f"patient={her}",
                                         payload="application/fhir+json; fhirVersion=4.0"))
    receiver.wait(lambda got: any(r.path == "/r4" for r in got))
    handshake = [r for r in receiver.received if r.path == "/r4"][0]
    assert handshake.status["resourceType"] == "Parameters"
    assert handshake.kind == "handshake"
    assert handshake.headers["Content-Type"] == "application/fhir+json; fhirVersion=4.0"
    wait_status(centre, sub, "active")
    centre.create(assessment(her, "vital", "2026-11-20"))
    receiver.wait(lambda got: bool(receiver.events("/r4")))
    [note] = receiver.events("/r4")
    assert note.numbers == [1]
    assert note.status["meta"]["profile"] == [
        "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
        "backport-subscription-status-r4"]
    r4 = centre.get(f"Subscription/{sub['id']}/$status",
                    headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert r4.status_code == 200, r4.text
    assert r4.json()["entry"][0]["resource"]["resourceType"] == "Parameters"


def test_heartbeats_arrive_while_nothing_happens(live, receiver, workers, centre):
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/latido",
                                         heartbeat=1))
    active(centre, receiver, sub)
    receiver.wait(lambda got: sum(r.kind == "heartbeat" for r in got) >= 2, timeout=10)


def test_the_subscriber_stops_and_asks_again(live, receiver, workers, centre):
    sub = subscribe(centre, subscription("riesgo-alto", receiver.url + "/otra"))
    active(centre, receiver, sub)
    current = centre.get(f"Subscription/{sub['id']}").json()
    assert centre.put(f"Subscription/{sub['id']}", {**current, "status": "off"}
                      ).json()["status"] == "off"
    current = centre.get(f"Subscription/{sub['id']}").json()
    again = centre.put(f"Subscription/{sub['id']}", {**current, "status": "requested"})
    assert again.json()["status"] == "requested"
    receiver.wait(lambda got: sum(r.kind == "handshake" and r.path == "/otra"
                                  for r in got) == 2)
    wait_status(centre, sub, "active")
