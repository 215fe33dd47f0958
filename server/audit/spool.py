"""The audit spool: where the event of a request that wrote nothing is stored before its
response leaves, and from where it moves into the store's trail moments later.

Why: a read must not answer before its event is stored, and committing a store
transaction for every read (the write lock, shared by every process, and a WAL flush)
cut read throughput to a third. So each process appends the events of its reads to a
file of its own (one ``write`` of one line: no lock shared with other processes, no
flush), and a background thread moves what has gathered into the trail in one unit of
work at a time (``trail.append``: sealed, chained, searchable), then removes the file.
Writes are not spooled: their event commits in their own unit of work.

What it guarantees: an event is in the spool, a file on disk, before the response; a
crash of the process loses nothing (the next process to start moves a dead process's
files; ``recover``); the store flushes what the mover commits, so the events of the
last moments are exposed only to a power loss of the machine, as a SQLite WAL commit
before its flush is. The trail's order is the order events are moved in, which is
request order within a process and close to it across processes.

Files: ``<directory>/<pid>-<n>.spool``, JSON lines ``{"id", "at", "event"}``. A live
process holds an exclusive ``flock`` on each of its files; a file nobody holds belongs to
a dead process. An event carries its id from the spool on, so moving a file again after
a crash between the commit and the removal adds nothing twice.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import os
import threading
import time
import uuid
from pathlib import Path

import orjson

from server.audit import trail
from server.store import Store

log = logging.getLogger("amparo.audit")

#: How long the mover waits for more events before moving what it has (seconds).
GATHER = 0.05
#: How long it waits after the store refused a move before trying again (seconds).
RETRY = 1.0


class Spool:
    """One process's spool (see the module docstring)."""

    def __init__(self, store: Store, directory: Path):
        self.store = store
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # the current file and the counter
        self._moving = threading.Lock()  # one move at a time
        self._wake = threading.Event()
        self._serial = 0
        self._pending: list[dict] = []
        self._prefix, self._count = str(uuid.uuid4()), 0  # event ids: unique, cheap
        self._fd, self._path = self._open()
        self._thread = threading.Thread(target=self._run, name="amparo-audit-spool",
                                        daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        """A process stopping moves what it spooled (else the next one to start does)."""
        try:
            self.flush()
        except Exception:  # the store is already away: the file stays for ``recover``
            log.warning("the audit spool is left for the next process to move")
            return
        with self._lock:
            if not self._pending:  # the fresh file ``flush`` opened holds nothing
                self._path.unlink(missing_ok=True)

    def add(self, event: dict, at: tuple[str, int]) -> None:
        """Store ``event`` in this process's spool file (raises if the file cannot take
        it: the request must then fail)."""
        with self._lock:
            self._count += 1
            item = {"id": f"{self._prefix}-{self._count}", "at": at, "event": event}
            line = orjson.dumps(item) + b"\n"
            written = os.write(self._fd, line)
            if written != len(line):  # a short write: the disk is full
                raise OSError("the audit spool could not take the whole event")
            self._pending.append(item)  # what the mover appends (the file: for a crash)
        self._wake.set()

    def flush(self) -> None:
        """Move everything spooled so far into the store's trail, now."""
        with self._moving:
            with self._lock:
                if not self._pending:
                    return
                fd, path, spooled = self._fd, self._path, self._pending
                self._fd, self._path = self._open()
                self._pending = []
            try:
                _append(self.store, spooled, again=False)
                path.unlink()
            finally:
                os.close(fd)  # lets go of the file's lock (removed, or left to ``recover``)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(GATHER)  # let more events gather: one unit of work for them all
            try:
                self.flush()
            except Exception:  # the store is away: the file stays, try again later
                log.exception("could not move the audit spool into the store")
                time.sleep(RETRY)
                self._wake.set()
                recover(self.store, self.directory)

    def _open(self) -> tuple[int, Path]:
        self._serial += 1
        path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}-{self._serial}.spool"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd, path


def move(store: Store, path: Path, again: bool = True) -> int:
    """Append the events of one spool file to the trail in one unit of work, then remove
    the file; returns how many were appended. ``again``: the file may have been moved
    before (a dead process's, which may have died between the commit and the removal),
    so events already in the trail are skipped. A torn last line (the process died in
    the middle of writing it) was never acknowledged: skipped too."""
    spooled = []
    for line in path.read_bytes().splitlines():
        try:
            spooled.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    appended = _append(store, spooled, again)
    path.unlink()
    return appended


def _append(store: Store, spooled: list[dict], again: bool) -> int:
    appended = 0
    with store.unit_of_work() as uow:
        for item in spooled:
            if not again or store.audit_entry(item["id"]) is None:
                trail.append(uow, item["event"], tuple(item["at"]), id=item["id"])
                appended += 1
        uow.commit()
    return appended


def recover(store: Store, directory: Path) -> int:
    """Move the spool files of processes that are gone (no one holds their lock)."""
    moved = 0
    for path in sorted(directory.glob("*.spool")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live process's file
            os.close(fd)
            continue
        try:
            if path.exists():
                moved += move(store, path)
        finally:
            os.close(fd)
    return moved
