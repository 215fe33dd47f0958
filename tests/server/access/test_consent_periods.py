"""A Consent period that starts or ends later changes who may read her record at that
instant, with no write in between: the write sets a timer and a real timer worker
recomputes the keys of her record when it fires (``server/timers.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from server.access import REKEY
from server.timers import TimerWorker
from tests.server.access.institutions import HOTLINE, Institution

CONSENT = {
    "resourceType": "Consent", "status": "active",
    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                          "code": "patient-privacy"}]},
    "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
}


def instant(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_becomes(institution: Institution, path: str, status: int,
                   timeout: float = 15) -> float:
    """Wait until reading ``path`` answers ``status``; return when (monotonic)."""
    deadline = time.monotonic() + timeout
    while (answer := institution.get(path).status_code) != status:
        assert time.monotonic() < deadline, f"{path} still answers {answer}"
        time.sleep(0.05)
    return time.monotonic()


def test_a_permit_for_a_later_period_opens_her_record_then_closes_it_on_time(live, record):
    centre, her, incident = record
    hotline = Institution(live, HOTLINE, "TREAT")
    path = f"Patient/{her['id']}"
    assert hotline.get(path).status_code == 404  # the case does not know the hotline
    start, end = instant(2), instant(5)
    centre.create({**CONSENT, "patient": {"reference": path}, "provision": {
        "type": "permit", "period": {"start": start, "end": end},
        "actor": [{"role": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP"}]}, "reference": {"reference": f"Organization/{HOTLINE}"}}]}})
    store = live.app.extensions["amparo"].store
    assert [name for name, _ in store.due_timers(2**62)] == [f"{REKEY}:{path}"]
    assert hotline.get(path).status_code == 404  # not yet
    worker = TimerWorker(store, idle_seconds=0.05)
    worker.start()
    try:
        opened = status_becomes(hotline, path, 200)
        assert hotline.total("Observation", subject=path) == 1  # her whole record
        closed = status_becomes(hotline, path, 404)
    finally:
        worker.stop()
    assert datetime.now(UTC) > datetime.fromisoformat(end)
    assert 2 < closed - opened < 5.5  # the period's three seconds, give or take a round
    assert hotline.total("Observation", subject=path) == 0
    assert store.due_timers(2**62) == []  # no period left to start or end
