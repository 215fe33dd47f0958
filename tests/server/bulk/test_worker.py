"""The export worker (``server/bulk/worker.py``) driven round by round, in this process,
on the test store: one page per round committed under its lease (fencing), a run that
dies resumed by the next holder from its last committed page, never from a dead run's
uncommitted bytes, and an export that cannot finish failing rather than looping.
The killed-process case is ``test_crash.py``."""

from __future__ import annotations

import time
from dataclasses import replace

import orjson
import pytest

from server.bulk.job import FAILED, IN_PROGRESS, state_of
from server.bulk.worker import LEASE, MAX_RUNS, ExportWorker
from tests.conftest import assert_outcome
from tests.server.access.institutions import WOMENS_CENTRE
from tests.server.bulk.conftest import exported, finished, ids, started


@pytest.fixture
def driven(bulk):
    """The fixture's worker thread stopped: the test drives workers of its own."""
    bulk.worker.stop()
    amparo = bulk.live.app.extensions["amparo"]
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "gender": "female"})
    made = [centre.create({"resourceType": "Observation", "status": "final",
                           "code": {"text": str(n)},
                           "subject": {"reference": f"Patient/{her['id']}"}})["id"]
            for n in range(30)]  # five pages of 7
    return amparo, centre, made


def worker(bulk, amparo, owner: str, ttl: float = 60, page_size: int = 7) -> ExportWorker:
    return ExportWorker(amparo.store, amparo.repo, replace(bulk.config, page_size=page_size),
                        owner=owner, ttl_seconds=ttl)


def job(amparo, status: str):
    return state_of(amparo.store.export_job(status.rsplit("/", 1)[1]))


def test_a_dead_run_is_resumed_from_its_last_commit_and_its_tail_never_served(bulk, driven):
    amparo, centre, made = driven
    status = started(bulk, centre, _type="Observation")
    a = worker(bulk, amparo, "a", ttl=0.3)
    for _ in range(2):
        assert a.run_once() == 1
    state = job(amparo, status)
    assert state.status == IN_PROGRESS and state.progress.written == 14
    # a dies mid-page: what it wrote after its last commit is on disk, uncommitted,
    # and so is a file it had started
    directory = bulk.config.job_directory(state.id)
    (last,) = state.progress.files
    with open(directory / last.name, "ab") as dead:
        dead.write(b'{"resourceType":"Observation","id":"half-writ')
    (directory / "Observation-1-9.ndjson").write_bytes(b"{}\n")
    time.sleep(0.35)  # it renews no more: its lease expires
    b = worker(bulk, amparo, "b", ttl=0.3)
    while b.run_once():
        pass
    result = finished(centre, status).json()
    found = exported(bulk, centre, result)
    assert ids(found, "Observation") == sorted(made)  # each exactly once
    names = [o["url"].rsplit("/", 1)[1] for o in result["output"]]
    assert names == ["Observation-1-1.ndjson", "Observation-2-2.ndjson"]
    assert not (directory / "Observation-1-9.ndjson").exists()
    assert job(amparo, status).progress.attempts == 2


def test_a_worker_whose_lease_changed_hands_commits_nothing(bulk, driven):
    amparo, centre, _ = driven
    status = started(bulk, centre, _type="Observation")
    a = worker(bulk, amparo, "a")
    assert a.run_once() == 1
    written = job(amparo, status).progress.written
    # behind a's back (as if it had paused past its ttl): its lease is freed and taken
    store = amparo.store
    store.release_lease(store.acquire_lease(LEASE, "a", 60))
    assert store.acquire_lease(LEASE, "b", 60) is not None
    assert a.run_once() in (0, 1)
    assert job(amparo, status).progress.written == written  # nothing committed


def test_a_job_removed_under_a_run_stops_it_and_its_files_go(bulk, driven):
    amparo, centre, _ = driven
    status = started(bulk, centre, _type="Observation")
    a = worker(bulk, amparo, "a")
    assert a.run_once() == 1
    listed = amparo.store.export_job(status.rsplit("/", 1)[1])
    with amparo.store.unit_of_work() as uow:  # what DELETE does, but for the files
        uow.delete_export_job(listed.id)
        uow.commit()
    a._step(listed, a._hold())  # the round had listed it before it went
    assert not bulk.config.job_directory(listed.id).exists()


def test_an_export_interrupted_too_often_fails_and_says_so(bulk, driven):
    amparo, centre, _ = driven
    status = started(bulk, centre, _type="Observation")
    for attempt in range(MAX_RUNS):  # each run dies after one page of 3 (of 30)
        w = worker(bulk, amparo, f"w{attempt}", ttl=0.2, page_size=3)
        assert w.run_once() == 1
        time.sleep(0.25)
    assert job(amparo, status).progress.attempts == MAX_RUNS
    worker(bulk, amparo, "last", ttl=0.2).run_once()
    state = job(amparo, status)
    assert state.status == FAILED and state.expires_us > 0
    body = assert_outcome(centre.get(status), 500, "exception")
    assert "interrupted" in body["issue"][0]["diagnostics"]
    assert not bulk.config.job_directory(state.id).exists()


def test_an_export_whose_rounds_keep_failing_fails_without_logging_contents(
        bulk, driven, monkeypatch, caplog):
    amparo, centre, _ = driven
    status = started(bulk, centre, _type="Observation")
    a = worker(bulk, amparo, "a")

    def broken(*args, **kwargs):
        raise RuntimeError("Reservada, RUN 12345678-5")  # what a message could carry

    monkeypatch.setattr(amparo.repo, "search", broken)
    for round in range(MAX_RUNS):
        assert a.run_once() == 0 and a.failures == round + 1  # the loop backs off
        assert job(amparo, status).status == IN_PROGRESS
    a.run_once()
    assert job(amparo, status).status == FAILED
    assert "RuntimeError" in caplog.text and "Reservada" not in caplog.text


def test_jobs_take_turns_a_page_at_a_time(bulk, driven):
    amparo, centre, _ = driven
    first = started(bulk, centre, _type="Observation")
    second = started(bulk, centre, _type="Observation")
    a = worker(bulk, amparo, "a")
    for _ in range(4):
        a.run_once()
    assert job(amparo, first).progress.written == job(amparo, second).progress.written == 14


def test_progress_is_committed_json_without_resource_contents(bulk, driven):
    amparo, centre, _ = driven
    status = started(bulk, centre, _type="Observation")
    worker(bulk, amparo, "a").run_once()
    body = orjson.loads(amparo.store.export_job(status.rsplit("/", 1)[1]).body)
    assert set(body) == {"request", "principal", "progress", "error"}
    assert "incidente" not in str(body) and "token" not in str(body["principal"])
