"""Timers: work due at an instant rather than on a change.

A timer is a named instant in the store (``UnitOfWork.set_timer``), set in the unit of
work of the write that makes the work due, so that it commits with it. Names are
``<kind>:<subject>``; ``HANDLERS`` says what each kind does with its subject:

- ``access-keys:Patient/<id>``: a period of one of her Consents starts or ends, so the
  access keys of her record are computed again (``server/access.py``);
- ``early-warning:Patient/<id>``: a time-based rule of hers may change its mind (a
  referral falls due, her assessment needs redoing, a protection measure ends, a
  high-risk woman's silence reaches its days), so her alerts are reconciled again
  (``server/warnings/engine.py``; started by ``server/wsgi.py``).

Every server process runs one ``TimerWorker``; a lease (``timers``) decides which of them
fires the timers. A timer fires once its instant has passed: in one unit of work the
worker clears it, if it is still set to that instant, and runs its handler, which may set
it again. Both commit together or not at all, so a process that dies mid-way leaves the
timer to fire again (handlers are idempotent: they compute, they do not count).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from server import access, clock
from server.store import Store, UnitOfWork
from server.worker import LeasedLoop

TimerHandler = Callable[[UnitOfWork, str], None]

log = logging.getLogger("amparo.timers")

HANDLERS: dict[str, TimerHandler] = {access.REKEY: access.rekey_due}


class TimerWorker(LeasedLoop):
    """Fires the timers that are due while its process holds the ``timers`` lease,
    looking for them every ``idle_seconds``."""

    def __init__(self, store: Store, handlers: dict[str, TimerHandler] | None = None,
                 owner: str | None = None, ttl_seconds: float = 10, batch: int = 100,
                 idle_seconds: float = 1.0):
        super().__init__(store, "timers", owner, ttl_seconds, batch, idle_seconds)
        self.handlers = HANDLERS if handlers is None else handlers

    def run_once(self) -> int:
        """Fire the timers due now (at most ``batch``); return how many were looked at.
        One that fails is retried on a later round and does not hold the others up."""
        if self._hold() is None:
            return 0
        due = self.store.due_timers(clock.now()[1], self.batch)
        failed = 0
        for name, due_us in due:
            if self._stopping.is_set():
                break
            failed += not self._fire(name, due_us)
        self.failures = self.failures + 1 if failed else 0
        return len(due) - failed

    def _fire(self, name: str, due_us: int) -> bool:
        kind, _, subject = name.partition(":")
        handler = self.handlers.get(kind)
        try:
            with self.store.unit_of_work() as uow:
                if uow.timer(name) != due_us:
                    return True  # moved or fired meanwhile: nothing to do now
                uow.set_timer(name, None)
                if handler is None:
                    log.error("timer of unknown kind %r dropped", kind)
                else:
                    handler(uow, subject)
                uow.commit()
        except Exception as exc:  # the handler's or the store's: fired again next round
            # Only the kind and the exception's class: the subject names a survivor.
            log.error("timer of kind %r failed with %s; retrying", kind, type(exc).__name__)
            return False
        return True


def start_timers(store: Store, handlers: dict[str, TimerHandler] | None = None
                 ) -> TimerWorker:
    """Start this process's timer worker (a thread that ends with the main thread), with
    ``handlers`` beside ``HANDLERS`` (those built around this process's app)."""
    worker = TimerWorker(store, {**HANDLERS, **(handlers or {})})
    worker.start()
    return worker
