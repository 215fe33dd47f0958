"""The storage port's bulk export jobs (``server/store/port.py``, "Bulk exports") on every
adapter (``tests/stores.py``): written only inside units of work, rolled back with
them, read back as written, listed oldest first and narrowed as asked."""

from __future__ import annotations

import pytest

from server.store import ExportJob, Lease, LeaseLost


def job(id: str, client: str = "c1", status: str = "accepted", created: int = 1,
        expires: int = 0, body: bytes = b'{"n":1}') -> ExportJob:
    return ExportJob(id, client, status, created, expires, body)


def save(store, *jobs: ExportJob) -> None:
    with store.unit_of_work() as uow:
        for j in jobs:
            uow.save_export_job(j)
        uow.commit()


def test_a_job_is_saved_replaced_and_deleted_in_units_of_work(store):
    save(store, job("a"))
    assert store.export_job("a") == job("a")
    save(store, job("a", status="in-progress", body=b'{"n":2}'))
    assert store.export_job("a") == job("a", status="in-progress", body=b'{"n":2}')
    with store.unit_of_work() as uow:
        uow.delete_export_job("a")
        uow.delete_export_job("never-was")
        assert uow.export_job("a") is None  # the unit sees its own writes
        uow.commit()
    assert store.export_job("a") is None and store.export_jobs() == []


def test_an_uncommitted_unit_leaves_no_job_and_no_change(store):
    save(store, job("a"))
    with store.unit_of_work() as uow:
        uow.save_export_job(job("b"))
        uow.save_export_job(job("a", status="failed"))
        uow.delete_export_job("a")
    assert store.export_job("b") is None and store.export_job("a") == job("a")


def test_jobs_are_listed_oldest_first_and_narrowed(store):
    save(store, job("x", created=3), job("y", created=1, client="c2", status="in-progress"),
         job("z", created=2, status="completed", expires=100),
         job("w", created=2, status="completed", expires=500))
    assert [j.id for j in store.export_jobs()] == ["y", "w", "z", "x"]
    assert [j.id for j in store.export_jobs(("accepted", "in-progress"))] == ["y", "x"]
    assert [j.id for j in store.export_jobs(client_id="c1")] == ["w", "z", "x"]
    assert [j.id for j in store.export_jobs(("accepted",), client_id="c2")] == []
    assert [j.id for j in store.export_jobs(expires_before=200)] == ["z"]
    assert [j.id for j in store.export_jobs(limit=2)] == ["y", "w"]


def test_progress_commits_only_while_the_lease_holds(store):
    save(store, job("a"))
    lease = store.acquire_lease("bulk-export", "me", 60)
    with store.unit_of_work() as uow:
        uow.ack("bulk-export", 0, lease)
        uow.save_export_job(job("a", status="in-progress"))
        uow.commit()
    store.release_lease(lease)
    assert store.acquire_lease("bulk-export", "other", 60) is not None
    with pytest.raises(LeaseLost), store.unit_of_work() as uow:
        uow.ack("bulk-export", 0, Lease(lease.name, lease.owner, lease.token, 0))
        uow.save_export_job(job("a", status="completed"))
        uow.commit()
    assert store.export_job("a").status == "in-progress"
