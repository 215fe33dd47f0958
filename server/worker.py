"""Background work over the outbox, safe with several processes on several machines.

Every server process runs one ``OutboxWorker`` per registered consumer; a lease in the
store (``outbox:<consumer>``) decides which of them handles that consumer's events. The
others wait and take over when the holder's lease expires (its process died) or is
released (it stopped).

A batch of events is handled in one unit of work that also acknowledges them (one at a
time when the batch fails, to isolate the failing event), after checking that the lease
is still this worker's with the same token (fencing, ``UnitOfWork.ack``). The
handler's store writes and the acknowledgement commit together or not at all, so
store effects happen exactly once even when processes are killed mid-event, and a
worker whose lease was taken over cannot commit anything. Effects outside the store (an
HTTP call) are at least once: a process that dies after the call and before the commit
leaves the event to be handled again by the next holder.

The thread is not a daemon: it notices when its process's main thread has finished
(Granian's worker processes end through ``multiprocessing``, which runs no ``atexit``
hooks) and then finishes the event in flight and releases its lease before the process
exits, so another process takes over at once rather than after the ttl.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable

import orjson

from server.store import Lease, LeaseLost, OutboxEvent, Reader, Store, UnitOfWork

Handler = Callable[[UnitOfWork, OutboxEvent], None]

log = logging.getLogger("amparo.worker")

#: The consumers every server process runs: name -> handler. Later issues register theirs.
CONSUMERS: dict[str, Handler] = {}

_SLICE = 0.2  # longest sleep between two checks for stop()
_MAX_BACKOFF = 30.0  # seconds between retries of an event whose handler keeps failing


def register(name: str, handler: Handler) -> None:
    """Add a consumer that ``start_workers`` runs in every server process."""
    if CONSUMERS.get(name, handler) is not handler:
        raise ValueError(f"outbox consumer {name!r} is already registered")
    CONSUMERS[name] = handler


def start_workers(store: Store, consumers: dict[str, Handler] | None = None
                  ) -> list[OutboxWorker]:
    """Start a worker thread for each registered consumer and each of ``consumers``
    (those built around this process's app, such as early warning's)."""
    workers = [OutboxWorker(store, name, handler)
               for name, handler in {**CONSUMERS, **(consumers or {})}.items()]
    for worker in workers:
        worker.start()
    return workers


def changed(reader: Reader, event: OutboxEvent) -> tuple[dict | None, dict | None]:
    """What an event changed: its record as the event left it (None: deleted) and as it
    was before (None: it was new, or deleted), which consumers compare."""
    def at(version: int) -> dict | None:
        found = reader.vread(event.type, event.id, version) if version > 0 else None
        return orjson.loads(found.body) if found is not None and not found.deleted else None
    return at(event.version), at(event.version - 1)


def default_owner() -> str:
    """host:pid:random, unique per worker even across machines and pid reuse."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class LeasedLoop(ABC):
    """A thread that runs rounds (``run_once``) while its process holds lease
    ``lease_name``: one holder at a time across processes and machines, another taking
    over when the holder's lease expires or is released."""

    def __init__(self, store: Store, lease_name: str, owner: str | None = None,
                 ttl_seconds: float = 10, batch: int = 100, idle_seconds: float = 0.2):
        self.store = store
        self.lease_name = lease_name
        self.owner = owner or default_owner()
        self.ttl_seconds = ttl_seconds
        self.batch = batch
        self.idle_seconds = idle_seconds
        self.failures = 0  # consecutive rounds stopped by a failure
        self._lease: Lease | None = None
        self._renewed = 0.0  # monotonic time the held lease was last taken or renewed
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @abstractmethod
    def run_once(self) -> int:
        """One round; return how much it handled (``batch`` or more: go on at once)."""

    def _hold(self) -> Lease | None:
        """The lease, taken or renewed once a third of its ttl has passed since the last
        time (fencing makes a held lease that expired meanwhile harmless). Called between
        units of work, never inside one: on SQLite taking a lease needs the write lock
        that an open unit holds."""
        if self._lease is not None and time.monotonic() - self._renewed < self.ttl_seconds / 3:
            return self._lease
        started = time.monotonic()
        lease = self.store.acquire_lease(self.lease_name, self.owner, self.ttl_seconds)
        if lease is not None and (self._lease is None or self._lease.token != lease.token):
            log.info("%s: lease taken by %s (token %d)", self.lease_name, self.owner,
                     lease.token)
        self._lease, self._renewed = lease, started
        return lease

    # -- the thread -----------------------------------------------------------------

    def start(self) -> None:
        """Run rounds on a thread until ``stop()`` or the end of the main thread."""
        if self._thread is not None:
            raise RuntimeError("this worker is already running")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=f"amparo-{self.lease_name}")
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the work in flight, release the lease and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._done():
                try:
                    handled = self.run_once()
                except Exception as exc:  # the store is unreachable or busy: try again
                    log.error("%s: round failed with %s", self.lease_name,
                              type(exc).__name__)
                    self._lease, handled = None, 0
                if handled < self.batch:
                    self._sleep(self._pause())
        finally:
            self._release()

    def _pause(self) -> float:
        if self._lease is None:  # another process holds it: check for its expiry
            return self.ttl_seconds / 4
        if self.failures:
            return min(self.idle_seconds * 2 ** min(self.failures, 16), _MAX_BACKOFF)
        return self.idle_seconds

    def _done(self) -> bool:
        return self._stopping.is_set() or not threading.main_thread().is_alive()

    def _sleep(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while not self._done() and (left := until - time.monotonic()) > 0:
            self._stopping.wait(min(left, _SLICE))

    def _release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is None:
            return
        try:
            self.store.release_lease(lease)
        except Exception as exc:  # it expires on its own
            log.warning("%s: could not release the lease (%s)", self.lease_name,
                        type(exc).__name__)


class OutboxWorker(LeasedLoop):
    """Handles ``consumer``'s outbox events in order while it holds the consumer's lease.
    An idle worker looks for new events every 50 ms (an indexed read of the outbox's
    tail): alerts and notifications pass through two consumers in a row (early warning,
    then subscription matching), and their wait is most of a notification's latency."""

    def __init__(self, store: Store, consumer: str, handle: Handler, owner: str | None = None,
                 ttl_seconds: float = 10, batch: int = 100, idle_seconds: float = 0.05):
        super().__init__(store, f"outbox:{consumer}", owner, ttl_seconds, batch, idle_seconds)
        self.consumer = consumer
        self.handle = handle

    # -- one round ------------------------------------------------------------------

    def run_once(self) -> int:
        """Handle the next batch of unacknowledged events if this worker holds (or can
        take) the lease; return how many were handled.

        The batch is handled in one unit of work, acknowledged up to its last event (or
        the event in flight when the worker is asked to stop): one commit for the batch
        rather than one per event (a standard 7-resource bundle is 7 events). When that
        fails, the events are handled again one unit each, so the failing event is
        isolated: the round stops there (it is retried next round), and stops when the
        lease is lost."""
        lease = self._hold()
        if lease is None:
            return 0
        events = self.store.outbox(self.store.outbox_position(self.consumer), self.batch)
        if not events or self._stopping.is_set():
            return 0
        if len(events) > 1 and (done := self._handle_all(events, lease)) is not None:
            return done
        handled = 0
        for event in events:
            if self._stopping.is_set():
                break
            renewed = self._hold()
            if renewed is None or renewed.token != lease.token:
                break  # lost meanwhile: the events read may have been handled by another
            lease = renewed
            if not self._handle(event, lease):
                break
            handled += 1
        return handled

    def _handle_all(self, events: list[OutboxEvent], lease: Lease) -> int | None:
        """Handle ``events`` in one unit of work, up to the first once asked to stop,
        and acknowledge those handled; how many, or None (nothing kept) if any failed
        or the lease was lost."""
        try:
            with self.store.unit_of_work() as uow:
                uow.ack(self.consumer, events[0].position, lease)  # fencing first
                done = 0
                for event in events:
                    if done and self._stopping.is_set():
                        break
                    self.handle(uow, event)
                    done += 1
                uow.ack(self.consumer, events[done - 1].position)
                uow.commit()
        except LeaseLost:
            self._lease = None
            return None
        except Exception:  # told apart event by event next (``_handle`` logs it)
            return None
        self.failures = 0
        return done

    def _handle(self, event: OutboxEvent, lease: Lease) -> bool:
        """Handle one event in a unit of work that also acknowledges it; False if not."""
        try:
            with self.store.unit_of_work() as uow:
                # Acknowledge first: the fencing check then runs before the handler, and
                # nothing of the unit is kept unless all of it commits.
                uow.ack(self.consumer, event.position, lease)
                self.handle(uow, event)
                uow.commit()
        except LeaseLost:
            log.info("outbox consumer %r: lease lost at event %d; another process goes on",
                     self.consumer, event.position)
            self._lease = None
            return False
        except Exception as exc:  # the handler's or the store's: retried next round
            # Only the exception's class: its message may carry resource contents.
            self.failures += 1
            log.error("outbox consumer %r: event %d (%s) failed with %s; retrying",
                      self.consumer, event.position, event.type, type(exc).__name__)
            return False
        self.failures = 0
        return True
