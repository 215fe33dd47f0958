"""Group commit for the SQLite adapter: units of work that queue up share one commit.

Committing costs far more than the writes themselves (SQLite appends every page the
transaction touched to the WAL, and the WAL must reach the disk), so while one unit of
work holds the write lock and others of the same process wait for it, the holder does
not commit: it releases its savepoint into the open transaction and hands the lock to
the next one. The last unit of the group (nobody waiting, or the group is full) commits
for all and, with ``flush_after_commit``, flushes the WAL after letting go of the
locks; only then is any member of the group told that its write is done. A unit that
fails rolls back to its own savepoint and leaves the others' writes in the group.

Across processes, a group holds an exclusive lock on ``<database>.lock`` from its
``BEGIN IMMEDIATE`` to its commit; waiting on that lock wakes the next writer the
moment the previous one lets go (SQLite's own busy handler sleeps in steps of up to
100 ms).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MAX_GROUP = 8


class _Group:
    """One open SQLite transaction and the units of work committed into it."""

    def __init__(self) -> None:
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommitter:
    def __init__(self, connect: Callable[[], sqlite3.Connection], lock_path: str,
                 flush: Callable[[], None] | None):
        self._connect = connect
        self._lock_path = lock_path
        self._flush = flush
        self._lock = threading.Lock()
        self._counter = threading.Lock()
        self._waiting = 0
        self._conn: sqlite3.Connection | None = None
        self._fd: int | None = None
        self._group: _Group | None = None

    def close(self) -> None:
        """Forget the writer connection (the store that made it closes it)."""
        with self._lock:
            self._conn = None
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    @contextmanager
    def unit(self, committed: Callable[[], bool]) -> Iterator[sqlite3.Connection]:
        """The writer connection inside a savepoint; ``committed()`` tells, when the block
        ends, whether the unit's writes stay. Returns once they are durable."""
        with self._counter:
            self._waiting += 1
        self._lock.acquire()
        with self._counter:
            self._waiting -= 1
        try:
            group = self._enter()
        except BaseException:
            self._lock.release()
            raise
        conn = self._conn
        kept = False
        try:
            yield conn
            kept = committed()
        finally:
            try:
                conn.execute("RELEASE uow" if kept else "ROLLBACK TO uow")
                if not kept:
                    conn.execute("RELEASE uow")
            except sqlite3.Error as exc:  # the transaction is unusable: fail the group
                group.error = exc
                kept = False
            if kept:
                group.members += 1
            self._leave(group)
        if kept:
            group.done.wait()
            if group.error is not None:
                raise group.error

    def _enter(self) -> _Group:
        if self._conn is None:
            self._conn = self._connect()
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        if self._group is None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                raise
            self._group = _Group()
        self._conn.execute("SAVEPOINT uow")
        return self._group

    def _leave(self, group: _Group) -> None:
        """Hand the open group to a waiting writer, or commit it for all its members."""
        if self._waiting and group.members < MAX_GROUP and group.error is None:
            self._lock.release()
            return
        try:
            if group.error is None:
                self._conn.execute("COMMIT" if group.members else "ROLLBACK")
            else:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            group.error = group.error or exc
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        finally:
            self._group = None
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._lock.release()
        try:
            if group.members and group.error is None and self._flush is not None:
                self._flush()
        except OSError as exc:
            group.error = exc
        finally:
            group.done.set()
