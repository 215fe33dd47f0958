"""The break-glass topic's events: every request made with the break-the-glass purpose
(``BTG``) is numbered for the auditors' subscriptions to ``acceso-emergencia``.

Those requests leave AuditEvents in the audit trail, not resource versions in the outbox,
so this is a second reader beside ``matching.Matcher``: a leased loop that reads the trail
in position order after the position it acknowledged (kept like an outbox consumer's, as
``subscriptions:break-glass``), and numbers each BTG entry for the subscriptions whose
filters it passes, acknowledging in the same unit of work (exactly once, in order, as
the matcher does). The trail is read whole (every request is one entry) but lean: one
indexed range per batch, and nothing is written for entries of other purposes but, now
and then, how far it has read.
"""

from __future__ import annotations

import time
from dataclasses import replace

import orjson

from server.search.parse import parse_criteria
from server.store import Lease, LeaseLost, Store, UnitOfWork
from server.store.port import AuditEntry
from server.subscriptions.matching import COLLECTING
from server.subscriptions.subscription import Spec, spec
from server.subscriptions.topics import BREAK_GLASS, topics
from server.worker import LeasedLoop

CONSUMER = "subscriptions:break-glass"
PURPOSE = "BTG"


class BreakGlassWatch(LeasedLoop):
    """The loop (``server/wsgi.py`` starts one per process; one holds its lease)."""

    def __init__(self, store: Store, consumer: str = CONSUMER, owner: str | None = None,
                 ttl_seconds: float = 10, batch: int = 500, idle_seconds: float = 0.2,
                 ack_every: float = 5.0):
        super().__init__(store, f"audit:{consumer}", owner, ttl_seconds, batch, idle_seconds)
        self.consumer = consumer
        self.ack_every = ack_every
        self._after: int | None = None  # read up to here; acknowledged lazily
        self._token: int | None = None  # of the lease ``_after`` was read under
        self._acked_at = 0.0

    def run_once(self) -> int:
        """Number the BTG entries after the last one read. Entries of other purposes are
        only read past: their position is acknowledged with the next BTG entry or every
        ``ack_every`` seconds (a write unit for each batch of requests would compete with
        them for the write lock; reading them again after a crash numbers nothing)."""
        lease = self._hold()
        if lease is None or lease.token != self._token:  # (re)taken: another process may
            self._after, self._token = None, None        # have moved on meanwhile
        if lease is None:
            return 0
        if self._after is None:
            self._after, self._token = self.store.outbox_position(self.consumer), lease.token
        entries = self.store.audit_entries(self._after, self.batch)
        found = [e for e in entries if e.purpose == PURPOSE]
        last = entries[-1].position if entries else self._after
        due = time.monotonic() - self._acked_at >= self.ack_every
        if found or (due and last > self.store.outbox_position(self.consumer)):
            try:
                self._number(lease, found, last)
            except LeaseLost:
                self._after = self._token = self._lease = None
                return 0
            self._acked_at = time.monotonic()
        self._after = last
        return len(entries)

    def _number(self, lease: Lease, found: list[AuditEntry], last: int) -> None:
        """In one unit: the entries up to ``last`` acknowledged (fenced: nothing is kept
        if the lease was lost) and ``found`` numbered for the subscriptions they pass."""
        with self.store.unit_of_work() as uow:
            uow.ack(self.consumer, last, lease)
            subscriptions = _subscriptions(uow) if found else []
            for entry in found:
                for sub in subscriptions:
                    if _passes(sub, entry):
                        uow.add_notification(sub.id, BREAK_GLASS, f"AuditEvent/{entry.id}",
                                             entry.recorded_us)
            uow.commit()


def _subscriptions(uow: UnitOfWork) -> list[Spec]:
    query = replace(parse_criteria("Subscription", [
        ("criteria", BREAK_GLASS), ("status", ",".join(COLLECTING))]), count=1000,
        total=False)
    return [s for s in (spec(orjson.loads(v.body)) for v in uow.search(query).matches)
            if s.topic == BREAK_GLASS]


def _passes(sub: Spec, entry: AuditEntry) -> bool:
    """The topic filters by survivor only (``patient``), as the trail records her."""
    known = topics()[BREAK_GLASS].filters
    return all(name in known and name == "patient" and entry.patient == value
               for name, value in sub.filters)
