"""DELETE on the status URL (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#bulk-
data-delete-request): it cancels a running export or discards a finished one, its files
are removed, and the status URL answers 404 from then on."""

from __future__ import annotations

import time

from server.bulk.worker import ExportWorker
from tests.conftest import assert_outcome
from tests.server.access.institutions import WOMENS_CENTRE
from tests.server.bulk.conftest import finished, started


def job_files(bulk, status: str):
    return bulk.config.job_directory(status.rsplit("/", 1)[1])


def test_delete_cancels_a_running_export_and_the_worker_writes_no_more(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "gender": "female"})
    for n in range(30):
        centre.create({"resourceType": "Observation", "status": "final",
                       "code": {"text": str(n)}, "subject": {"reference": f"Patient/{her['id']}"}})
    bulk.worker.stop()  # this test drives a worker of its own, round by round
    amparo = bulk.live.app.extensions["amparo"]
    driven = ExportWorker(amparo.store, amparo.repo, bulk.config)
    status = started(bulk, centre, _type="Observation")
    for _ in range(2):  # two pages of 7 are written and committed, the rest is not
        assert driven.run_once() == 1
    assert job_files(bulk, status).is_dir()
    answer = centre.delete(status)
    assert answer.status_code == 202, answer.text
    assert not job_files(bulk, status).exists()
    assert_outcome(centre.get(status), 404, "not-found")
    driven.run_once()  # the worker notices and leaves no file behind
    assert not job_files(bulk, status).exists()
    assert bulk.live.app.extensions["amparo"].store.export_jobs() == []


def test_delete_of_a_finished_export_removes_its_files(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    centre.create({"resourceType": "Patient", "gender": "female"})
    status = started(bulk, centre, _type="Patient")
    result = finished(centre, status).json()
    (item,) = result["output"]
    assert centre.get(bulk.path(item["url"])).status_code == 200
    assert centre.delete(status).status_code == 202
    assert not job_files(bulk, status).exists()
    assert_outcome(centre.get(status), 404)
    assert_outcome(centre.get(bulk.path(item["url"])), 404)
    assert_outcome(centre.delete(status), 404)


def test_an_expired_export_is_removed_by_the_worker(bulk):
    from dataclasses import replace

    from server.bulk import worker

    bulk.worker.config = replace(bulk.config, ttl_seconds=1)
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    centre.create({"resourceType": "Patient", "gender": "female"})
    status = started(bulk, centre, _type="Patient")
    assert finished(centre, status).status_code == 200
    assert job_files(bulk, status).is_dir()
    time.sleep(1.1)
    bulk.worker._purged = float("-inf")  # due now rather than in PURGE_SECONDS
    deadline = time.monotonic() + 10
    while job_files(bulk, status).exists():
        assert time.monotonic() < deadline, f"not purged within {worker.PURGE_SECONDS}"
        time.sleep(0.05)
    assert_outcome(centre.get(status), 404)
