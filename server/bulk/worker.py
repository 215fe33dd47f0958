"""The export worker: writes the accepted exports in the background, a page at a time,
in whichever server process holds its lease (``bulk-export``; ``server/worker.py``).

Each round takes the next active job in turn (so one huge export does not hold the
others back), writes one page of it (``run.py``) and commits its progress in a unit of
work that first checks the lease is still this process's (fencing): a process that lost
the lease commits nothing, and the process that took over resumes from the last
committed page. A run ends when its process dies, and also when one of its rounds fails
(the store was unreachable, say): the page it was writing may be half in its files, so
the next round starts a new run from the last commit, into new files, after the loop's
backoff. After ``MAX_RUNS`` runs the export fails rather than retry for ever, and so
does one that cannot write its files.

When the last page is committed the files are cut to their committed length and flushed
to disk, and the job becomes ``completed`` with its expiry and its AuditEvent
(``audit.py``) in one unit of work. A job cancelled meanwhile (DELETE removes it) is
noticed at the next commit: its run stops and its files are removed. Every
``PURGE_SECONDS`` the worker removes the jobs, and files, past their expiry.

Nothing of an exported resource is logged: only job ids and exception classes.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from server import clock
from server.audit import trail
from server.bulk.audit import export_event
from server.bulk.config import ExportConfig
from server.bulk.files import finish, remove
from server.bulk.job import ACTIVE, COMPLETED, FAILED, Progress, State, state_of
from server.bulk.run import Run, begin, resumed
from server.repository import Repository
from server.store import ExportJob, Lease, LeaseLost, Store
from server.worker import LeasedLoop

__all__ = ["LEASE", "MAX_RUNS", "ExportWorker"]

log = logging.getLogger("amparo.bulk")

LEASE = "bulk-export"
MAX_RUNS = 5
PURGE_SECONDS = 30.0
_JOBS_IN_TURN = 16


class Gone(Exception):
    """The job was cancelled (removed) while it ran."""


class ExportWorker(LeasedLoop):
    """The leased loop (see the module docstring)."""

    def __init__(self, store: Store, repo: Repository, config: ExportConfig,
                 owner: str | None = None, ttl_seconds: float = 10,
                 idle_seconds: float = 0.5):
        super().__init__(store, LEASE, owner, ttl_seconds, batch=1, idle_seconds=idle_seconds)
        self.repo, self.config = repo, config
        self._runs: dict[str, Run] = {}
        self._turn = 0
        self._purged = float("-inf")

    def run_once(self) -> int:
        """One page of the next active job; 1 when one was written (go on at once)."""
        lease = self._hold()
        if lease is None:
            self._drop(set())
            return 0
        if time.monotonic() - self._purged >= PURGE_SECONDS:
            self._purge(lease)
        jobs = self.store.export_jobs(ACTIVE, limit=_JOBS_IN_TURN)
        self._drop({job.id for job in jobs})
        if not jobs or self._stopping.is_set():
            return 0
        job = jobs[self._turn % len(jobs)]
        self._turn += 1
        if not self._step(job, lease):
            self.failures += 1  # the loop backs off before the next round
            return 0
        self.failures = 0
        return 1

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        self._drop(set())

    # -- one job -----------------------------------------------------------------------

    def _step(self, job: ExportJob, lease: Lease) -> bool:
        """One page of ``job`` (or its completion); False when the round failed."""
        run = self._runs.get(job.id)
        try:
            if run is None or run.token != lease.token:
                run = self._begin(job, lease)
                if run is None:
                    return True
            if not run.done:
                self._commit(run, lease, run.advance())
            if run.done:
                self._complete(run, lease)
        except LeaseLost:
            self._lease = None
            self._drop(set())
        except Gone:
            self._forget(job.id)
            remove(self.config.job_directory(job.id))
        except OSError as exc:  # the files cannot be written: no retry will help
            log.error("export %s: files failed with %s", job.id, type(exc).__name__)
            self._fail(job.id, lease, "the export's files could not be written")
        except Exception as exc:  # the store is busy or unreachable: a new run, later
            # Only the exception's class: its message may carry resource contents.
            log.error("export %s: round failed with %s", job.id, type(exc).__name__)
            self._forget(job.id)
            return False
        return True

    def _begin(self, job: ExportJob, lease: Lease) -> Run | None:
        """A run of ``job`` from its committed state, recorded as begun; None when it
        has had ``MAX_RUNS`` already (then it fails)."""
        self._forget(job.id)
        state = state_of(job)
        if state.progress.attempts >= MAX_RUNS:
            self._fail(job.id, lease, "the export was interrupted too many times")
            return None
        state = resumed(state, self.config)
        self._save(lease, state)  # committed (fenced) before any file is touched
        run = self._runs[job.id] = begin(state, lease.token, self.repo, self.config)
        if state.progress.attempts > 1:
            log.info("export %s: run %d, from page %d of step %d", job.id,
                     state.progress.attempts, state.progress.written, state.progress.step)
        return run

    def _commit(self, run: Run, lease: Lease, progress: Progress) -> None:
        state = replace(run.state, progress=progress)
        self._save(lease, state)
        run.state = state

    def _complete(self, run: Run, lease: Lease) -> None:
        directory = self.config.job_directory(run.state.id)
        finish(directory, run.state.progress.files)
        at = clock.now()
        state = replace(run.state, status=COMPLETED,
                        expires_us=at[1] + self.config.ttl_seconds * 1_000_000)
        event = export_event(state, at[0]) if self.repo.gate.enabled else None
        self._save(lease, state, event, at)
        self._forget(run.state.id)
        log.info("export %s: completed", run.state.id)

    def _fail(self, id: str, lease: Lease, reason: str) -> None:
        """Record that the export failed (fenced), then remove its files."""
        self._forget(id)
        try:
            with self.store.unit_of_work() as uow:
                uow.ack(LEASE, 0, lease)
                found = uow.export_job(id)
                if found is not None:
                    at = clock.now()[1]
                    failed = replace(state_of(found), status=FAILED, error=reason,
                                     expires_us=at + self.config.ttl_seconds * 1_000_000)
                    uow.save_export_job(failed.job())
                uow.commit()
        except LeaseLost:
            self._lease = None
            return
        remove(self.config.job_directory(id))
        log.warning("export %s: failed", id)

    def _save(self, lease: Lease, state: State, event: dict | None = None,
              at: tuple[str, int] | None = None) -> None:
        """Commit ``state`` (and ``event``) if the lease still holds and the job still
        exists; ``LeaseLost`` or ``Gone`` otherwise, committing nothing."""
        with self.store.unit_of_work() as uow:
            uow.ack(LEASE, 0, lease)  # fencing first
            if uow.export_job(state.id) is None:
                raise Gone(state.id)
            uow.save_export_job(state.job())
            if event is not None:
                trail.append(uow, event, at)
            uow.commit()

    # -- housekeeping -----------------------------------------------------------------

    def _purge(self, lease: Lease) -> None:
        """Remove the jobs whose files have expired, and their files."""
        self._purged = time.monotonic()
        for job in self.store.export_jobs(expires_before=clock.now()[1]):
            with self.store.unit_of_work() as uow:
                uow.ack(LEASE, 0, lease)
                uow.delete_export_job(job.id)
                uow.commit()
            remove(self.config.job_directory(job.id))
            log.info("export %s: expired and removed", job.id)

    def _forget(self, id: str) -> None:
        run = self._runs.pop(id, None)
        if run is not None:
            run.close()

    def _drop(self, keep: set[str]) -> None:
        """Close the runs of jobs that are no longer active here (all but ``keep``)."""
        for id in [id for id in self._runs if id not in keep]:
            self._forget(id)
