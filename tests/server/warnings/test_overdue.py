"""Rule 6 over HTTP with the real referral workflow: a referral not accepted, or not
completed, by its due date is an alert on her, one per referral; the timer brings the
engine back at the due date with no change to trigger it; the alert clears once the
referral is answered."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from server import clock
from server.timers import HANDLERS, TimerWorker
from server.warnings.config import load_rules
from server.warnings.engine import TIMER, EarlyWarning
from server.warnings.rules import Referral as Facts
from server.warnings.rules import next_due, overdue
from tests.server.access.institutions import Institution
from tests.server.referrals.referrals import SHELTER, WOMENS_CENTRE, Referral
from tests.server.warnings.test_engine import alerts

NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
RULES = load_rules()


def facts(n: int, status: str, hours: float) -> Facts:
    return Facts(f"Task/t{n}", status, NOW + timedelta(hours=hours), f"ServiceRequest/s{n}")


def test_a_referral_past_its_due_date_is_overdue_until_answered():
    found = overdue([facts(1, "requested", -1), facts(2, "accepted", -5),
                     facts(3, "requested", +1), facts(4, "completed", -9),
                     facts(5, "cancelled", -9)], NOW)
    assert [(f.about, f.evidence) for f in found] == [
        ("Task/t1", ("ServiceRequest/s1", "Task/t1")),
        ("Task/t2", ("ServiceRequest/s2", "Task/t2"))]
    assert "no fue aceptada" in found[0].detail and "no fue completada" in found[1].detail
    assert next_due(RULES, [], [facts(1, "requested", 5), facts(2, "accepted", 2),
                                facts(3, "completed", 1)], NOW) == NOW + timedelta(hours=2)


@pytest.fixture
def sides(live) -> tuple[Institution, Institution]:
    return Institution(live, WOMENS_CENTRE, "TREAT"), Institution(live, SHELTER, "COC")


def run(live, engine: EarlyWarning, patient: str) -> None:
    """The engine's timer for her, fired now, as the timer worker would."""
    with live.app.extensions["amparo"].store.unit_of_work() as uow:
        engine.on_timer(uow, patient)
        uow.commit()


def test_the_timer_raises_an_overdue_referral_and_an_answer_clears_it(live, sides):
    centre, shelter = sides
    referral = Referral.new(centre, shelter, "urgent")
    task = referral.send()
    due = datetime.fromisoformat(task["restriction"]["period"]["end"])
    amparo = live.app.extensions["amparo"]
    today = EarlyWarning(amparo.repo)
    run(live, today, referral.survivor)
    assert "derivacion-vencida" not in alerts(live, referral.survivor)
    with amparo.store.unit_of_work() as uow:  # she is looked at again when it falls due
        assert uow.timer(f"{TIMER}:{referral.survivor}") == clock.to_us(due) + 1

    later = EarlyWarning(amparo.repo, now=lambda: due + timedelta(minutes=1))
    run(live, later, referral.survivor)
    run(live, later, referral.survivor)  # fired twice: still one alert
    [alert] = alerts(live, referral.survivor)["derivacion-vencida"]
    assert alert["status"] == "active"
    assert alert["evidence"] == [f"ServiceRequest/{referral.request['id']}",
                                 f"Task/{task['id']}"]
    assert "no fue aceptada" in alert["detail"]

    referral.advance(task, "accepted")  # now due to be completed, days later
    run(live, later, referral.survivor)
    [alert] = alerts(live, referral.survivor)["derivacion-vencida"]
    assert alert["status"] == "inactive" and alert["period"]["end"]


def test_each_overdue_referral_is_its_own_alert(live, sides):
    centre, shelter = sides
    first = Referral.new(centre, shelter, "stat")
    first_task = first.send()
    another = {k: v for k, v in first.request.items() if k not in ("id", "meta")}
    second = Referral(centre, shelter, first.survivor, centre.create(another))
    second.send()
    due = datetime.fromisoformat(first_task["restriction"]["period"]["end"])
    engine = EarlyWarning(live.app.extensions["amparo"].repo,
                          now=lambda: due + timedelta(hours=1))
    run(live, engine, first.survivor)
    found = alerts(live, first.survivor)["derivacion-vencida"]
    assert len(found) == 2 and {a["status"] for a in found} == {"active"}


def test_the_timer_worker_fires_her_timer(live, sides):
    """Through the real timer worker: her timer, once due, reconciles her alerts."""
    centre, shelter = sides
    referral = Referral.new(centre, shelter, "stat")
    task = referral.send()
    due = datetime.fromisoformat(task["restriction"]["period"]["end"])
    amparo = live.app.extensions["amparo"]
    later = EarlyWarning(amparo.repo, now=lambda: due + timedelta(minutes=1))
    name = f"{TIMER}:{referral.survivor}"
    with amparo.store.unit_of_work() as uow:  # as if its instant had come
        uow.set_timer(name, clock.now()[1] - 1)
        uow.commit()
    worker = TimerWorker(amparo.store, {**HANDLERS, TIMER: later.on_timer},
                         owner=f"test-{task['id']}")
    try:
        deadline = time.monotonic() + 20
        while not worker.run_once() and time.monotonic() < deadline:
            time.sleep(0.1)  # another test's worker may hold the lease a moment
        assert worker.failures == 0
    finally:
        worker.stop()
    assert alerts(live, referral.survivor)["derivacion-vencida"][0]["status"] == "active"
