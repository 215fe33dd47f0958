"""The state machine of a referral's task (server/referrals/workflow.py), over HTTP: the
centre (requester) creates it requested, the shelter (owner) moves it, either cancels it;
an illegal transition is 422, a legal one by the wrong side 403, and neither changes
anything; the server stamps the times and the due dates."""

from __future__ import annotations

import pytest

from server.referrals import load_service_levels, referral_times
from tests.conftest import assert_outcome
from tests.server.referrals.referrals import (
    ESTADO,
    REASON,
    REFERRAL_TASK,
    SHELTER,
    WOMENS_CENTRE,
    Referral,
    business,
    instant,
    moved,
    put,
)

LEVELS = load_service_levels()


def assert_unchanged(referral: Referral, task: dict) -> None:
    now = referral.centre.get(f"Task/{task['id']}").json()
    assert now["meta"]["versionId"] == task["meta"]["versionId"]
    assert now["status"] == task["status"]


def test_the_requester_creates_the_task_requested_with_its_due_date_to_accept(referral):
    task = referral.send(lastModified="2020-01-01T00:00:00Z",
                         executionPeriod={"start": "2020-01-01T00:00:00Z"})
    sent = task["meta"]["lastUpdated"]
    assert task["status"] == "requested"
    assert task["lastModified"] == sent  # the server's, not the client's
    assert "executionPeriod" not in task  # nothing started
    period = task["restriction"]["period"]
    assert period["start"] == sent
    assert instant(period["end"]) - instant(sent) == LEVELS.of("urgent").accept_within


def test_a_task_created_in_another_status_is_refused(referral):
    for status in ("accepted", "in-progress", "draft"):
        answer = referral.centre.post("Task", referral.task(status))
        assert_outcome(answer, 422, "business-rule")
    assert referral.centre.total("Task", focus=f"ServiceRequest/{referral.request['id']}") == 0


@pytest.mark.parametrize("creator", ["shelter", "health"])
def test_only_the_requester_may_create_the_task(referral, shelter, health, creator):
    institution = {"shelter": shelter, "health": health}[creator]
    answer = institution.post("Task", referral.task())
    assert_outcome(answer, 403, "forbidden")
    assert referral.centre.total("Task", owner=f"Organization/{SHELTER}") == 0


def test_a_task_must_name_two_distinct_institutions(referral):
    for fields in ({"owner": {"reference": f"Organization/{WOMENS_CENTRE}"}},
                   {"requester": None}):
        body = {k: v for k, v in referral.task(**fields).items() if v is not None}
        assert_outcome(referral.centre.post("Task", body), 422, "business-rule")


def test_the_owner_moves_the_referral_to_completion_and_the_times_are_kept(referral):
    task = referral.send()
    received = referral.advance(task, "received")
    assert received["restriction"] == task["restriction"]  # still due to be accepted
    accepted = referral.advance(received, "accepted")
    at = accepted["meta"]["lastUpdated"]
    assert accepted["lastModified"] == at
    assert accepted["restriction"]["period"]["start"] == at  # the clock to complete
    assert instant(accepted["restriction"]["period"]["end"]) - instant(at) \
        == LEVELS.of("urgent").complete_within
    started = referral.advance(accepted, "in-progress")
    assert started["executionPeriod"] == {"start": started["meta"]["lastUpdated"]}
    assert started["restriction"] == accepted["restriction"]
    done = referral.advance(started, "completed")
    assert done["executionPeriod"] == {"start": started["meta"]["lastUpdated"],
                                       "end": done["meta"]["lastUpdated"]}
    assert done["restriction"] == accepted["restriction"]  # the deadline it had

    history = referral.centre.get(f"Task/{task['id']}/_history").json()
    versions = [e["resource"] for e in history["entry"]]
    assert [v["status"] for v in versions] == \
        ["completed", "in-progress", "accepted", "received", "requested"]
    times = referral_times(versions)
    assert times.to_acceptance == instant(at) - instant(task["meta"]["lastUpdated"])
    assert times.to_service == instant(started["meta"]["lastUpdated"]) \
        - instant(task["meta"]["lastUpdated"])
    assert times.to_completion == instant(done["meta"]["lastUpdated"]) \
        - instant(task["meta"]["lastUpdated"])


@pytest.mark.parametrize(("path", "illegal"), [
    ((), "in-progress"),
    ((), "completed"),
    (("accepted",), "completed"),
    (("accepted",), "received"),
    (("accepted", "in-progress"), "accepted"),
    (("accepted", "in-progress", "completed"), "in-progress"),
    (("rejected",), "accepted"),
    (("accepted", "failed"), "in-progress"),
    ((), "entered-in-error"),
])
def test_an_illegal_transition_is_refused_and_changes_nothing(referral, path, illegal):
    task = referral.advance(referral.send(), *path)
    answer = put(referral.shelter, moved(task, illegal, "anulada")
                 if illegal == "entered-in-error" else moved(task, illegal))
    assert_outcome(answer, 422, "business-rule")
    assert_unchanged(referral, task)


@pytest.mark.parametrize(("path", "status"), [
    ((), "accepted"),
    ((), "rejected"),
    (("accepted",), "in-progress"),
    (("accepted", "in-progress"), "completed"),
    (("accepted", "in-progress"), "failed"),
])
def test_a_legal_transition_by_the_requester_is_forbidden(referral, path, status):
    task = referral.advance(referral.send(), *path)
    answer = put(referral.centre, moved(task, status, statusReason=REASON))
    assert_outcome(answer, 403, "forbidden")
    assert_unchanged(referral, task)


def test_an_institution_outside_the_referral_changes_nothing(referral, health):
    task = referral.send()
    assert put(health, moved(task, "accepted")).status_code in (403, 404)
    assert_unchanged(referral, task)


@pytest.mark.parametrize("side", ["centre", "shelter"])
@pytest.mark.parametrize("path", [(), ("accepted",), ("accepted", "in-progress")])
def test_either_side_may_cancel(referral, side, path):
    task = referral.advance(referral.send(), *path)
    institution = getattr(referral, side)
    answer = put(institution, moved(task, "cancelled", "anulada"))
    assert answer.status_code == 200, answer.text
    cancelled = answer.json()
    assert cancelled["executionPeriod"]["end"] == cancelled["meta"]["lastUpdated"]
    assert_outcome(put(referral.shelter, moved(cancelled, "accepted")), 422, "business-rule")


def test_rejecting_needs_a_reason(referral):
    task = referral.send()
    assert_outcome(put(referral.shelter, moved(task, "rejected", "sin-cupo")), 422,
                   "business-rule")
    assert_unchanged(referral, task)
    answer = put(referral.shelter, moved(task, "rejected", "sin-cupo", statusReason=REASON))
    assert answer.status_code == 200, answer.text
    rejected = answer.json()
    assert rejected["executionPeriod"] == {"end": rejected["meta"]["lastUpdated"]}
    assert rejected["restriction"] == task["restriction"]  # the deadline it missed or met


@pytest.mark.parametrize(("status", "code"), [
    ("accepted", "en-atencion"),  # another status's code
    ("accepted", "recibida"),
    ("accepted", "en-curso"),  # not a code of estado-derivacion
])
def test_the_business_status_must_fit_the_status(referral, status, code):
    task = referral.send()
    assert_outcome(put(referral.shelter, moved(task, status, code)), 422, "business-rule")
    assert_unchanged(referral, task)


def test_the_owner_puts_a_started_referral_on_hold_and_resumes_it(referral):
    """on-hold is ``suspendida`` (en-espera is an accepted task's waiting list)."""
    task = referral.advance(referral.send(), "accepted", "in-progress")
    assert_outcome(put(referral.shelter, moved(task, "on-hold", "en-espera")), 422,
                   "business-rule")
    assert_unchanged(referral, task)
    assert_outcome(put(referral.centre, moved(task, "on-hold", "suspendida")), 403,
                   "forbidden")
    held = referral.advance(task, "on-hold")
    assert held["businessStatus"]["coding"][0]["code"] == "suspendida"
    assert referral.advance(held, "in-progress")["status"] == "in-progress"


def test_within_a_status_only_the_side_that_sets_it_changes_its_business_status(referral):
    task = referral.advance(referral.send(), "accepted")
    waiting = moved(task, "accepted", "en-espera")
    assert_outcome(put(referral.centre, waiting), 403, "forbidden")
    answer = put(referral.shelter, waiting)
    assert answer.status_code == 200, answer.text
    assert answer.json()["businessStatus"] == business("en-espera")


@pytest.mark.parametrize(("element", "other"), [
    ("requester", "Organization/carabineros-13101"), ("owner", "Organization/aps-13101"),
    ("focus", "ServiceRequest/otra"), ("for", "Patient/otra")])
def test_the_sides_the_referral_and_the_survivor_never_change(referral, element, other):
    task = referral.send()
    changed = {**task, element: {"reference": other}}
    assert_outcome(put(referral.centre, changed), 422, "business-rule")
    assert_unchanged(referral, task)


def test_the_server_owns_the_times_and_the_due_date(referral):
    task = referral.send()
    forged = {**task, "lastModified": "2020-01-01T00:00:00Z",
              "executionPeriod": {"start": "2020-01-01T00:00:00Z"},
              "restriction": {"repetitions": 1,
                              "period": {"end": "2099-01-01T00:00:00Z"}},
              "note": [{"text": "llamar antes"}]}
    answer = put(referral.centre, forged)
    assert answer.status_code == 200, answer.text
    kept = answer.json()
    assert kept["lastModified"] == kept["meta"]["lastUpdated"]
    assert "executionPeriod" not in kept
    assert kept["restriction"] == {"repetitions": 1, **task["restriction"]}


def test_a_higher_priority_moves_the_due_date(referral):
    task = referral.send()
    answer = put(referral.centre, {**task, "priority": "stat"})
    assert answer.status_code == 200, answer.text
    period = answer.json()["restriction"]["period"]
    assert period["start"] == task["restriction"]["period"]["start"]
    assert instant(period["end"]) - instant(period["start"]) == LEVELS.of("stat").accept_within


def test_a_patch_is_held_to_the_same_rules(referral):
    task = referral.send()
    status = [{"op": "replace", "path": "/status", "value": "completed"},
              {"op": "replace", "path": "/businessStatus/coding/0/code", "value": "completada"}]
    assert_outcome(referral.shelter.patch(f"Task/{task['id']}", status), 422, "business-rule")
    status = [{"op": "replace", "path": "/status", "value": "accepted"},
              {"op": "replace", "path": "/businessStatus/coding/0/code", "value": "aceptada"}]
    answer = referral.shelter.patch(f"Task/{task['id']}", status)
    assert answer.status_code == 200, answer.text
    assert answer.json()["restriction"]["period"]["start"] == answer.json()["lastModified"]


def test_a_transaction_gets_the_due_date_of_its_referral(centre, shelter):
    referral = Referral.new(centre, shelter, priority="asap")
    request = {k: v for k, v in referral.request.items() if k not in ("id", "meta")}
    task = referral.task(focus={"reference": "urn:uuid:sr"})
    answer = centre.bundle("transaction",
                           {"fullUrl": "urn:uuid:sr", "resource": request,
                            "request": {"method": "POST", "url": "ServiceRequest"}},
                           {"fullUrl": "urn:uuid:t", "resource": task,
                            "request": {"method": "POST", "url": "Task"}})
    assert answer.status_code == 200, answer.text
    location = answer.json()["entry"][1]["response"]["location"]
    stored = centre.get(location.split("/_history")[0]).json()
    assert stored["focus"]["reference"].startswith("ServiceRequest/")
    period = stored["restriction"]["period"]
    assert period["start"] == stored["meta"]["lastUpdated"] == stored["lastModified"]
    assert instant(period["end"]) - instant(period["start"]) == LEVELS.of("asap").accept_within


def test_a_transaction_with_a_refused_task_writes_nothing(centre, shelter):
    referral = Referral.new(centre, shelter)
    request = {k: v for k, v in referral.request.items() if k not in ("id", "meta")}
    request["identifier"] = [{"system": "urn:test", "value": "rolled-back"}]
    answer = centre.bundle("transaction",
                           {"fullUrl": "urn:uuid:sr", "resource": request,
                            "request": {"method": "POST", "url": "ServiceRequest"}},
                           {"fullUrl": "urn:uuid:t",
                            "resource": referral.task("accepted", focus={"reference":
                                                                         "urn:uuid:sr"}),
                            "request": {"method": "POST", "url": "Task"}})
    assert_outcome(answer, 422, "business-rule")
    assert centre.total("ServiceRequest", identifier="urn:test|rolled-back") == 0


def test_a_task_that_is_not_a_referral_is_not_governed(referral):
    generic = {"resourceType": "Task", "status": "in-progress", "intent": "order",
               "for": {"reference": referral.survivor},
               "owner": {"reference": f"Organization/{SHELTER}"}}
    created = referral.centre.create(generic)
    assert "restriction" not in created and "lastModified" not in created


def test_a_task_claiming_referral_task_conforms_at_every_step(referral):
    task = referral.send(meta={"profile": [REFERRAL_TASK]}, priority="routine")
    for step in ("accepted", "in-progress", "completed"):
        task = referral.advance(task, step)
        outcome = referral.shelter.get(f"Task/{task['id']}/$validate").json()
        errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
        assert errors == [], errors
    assert {c["system"] for c in task["businessStatus"]["coding"]} == {ESTADO}
    assert instant(task["restriction"]["period"]["end"]) \
        - instant(task["restriction"]["period"]["start"]) \
        == LEVELS.of("routine").complete_within


def test_a_referral_task_breaking_its_profile_is_refused_before_the_workflow(referral):
    claimed = referral.task(meta={"profile": [REFERRAL_TASK]})
    claimed["businessStatus"] = business("completada")  # amp-tsk-1: not requested
    body = assert_outcome(referral.centre.post("Task", claimed), 422)
    assert body["issue"][0]["code"] == "invariant"
