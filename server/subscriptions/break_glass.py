"""The break-glass topic's events: every request made with the break-the-glass purpose
(``BTG``) is numbered for the auditors' subscriptions to ``acceso-emergencia``.

Those requests leave AuditEvents in the audit trail, not resource versions in the outbox,
so this is a second reader beside ``matching.Matcher``: a leased loop that reads the trail
in position order after the position it acknowledged (kept like an outbox consumer's, as
``subscriptions:break-glass``), and numbers each BTG entry for the subscriptions whose
filters it passes, acknowledging in the same unit of work (exactly once, in order, as
the matcher does). The trail is read whole (every request is one entry) but lean: one
indexed range per batch, and nothing is done for entries of other purposes.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server.search.parse import parse_criteria
from server.store import Store, UnitOfWork
from server.store.port import AuditEntry
from server.subscriptions.matching import COLLECTING
from server.subscriptions.subscription import Spec, spec
from server.subscriptions.topics import BREAK_GLASS, topics
from server.worker import LeasedLoop

CONSUMER = "subscriptions:break-glass"
PURPOSE = "BTG"


class BreakGlassWatch(LeasedLoop):
    def __init__(self, store: Store, consumer: str = CONSUMER, owner: str | None = None,
                 ttl_seconds: float = 10, batch: int = 500, idle_seconds: float = 0.2):
        super().__init__(store, f"audit:{consumer}", owner, ttl_seconds, batch, idle_seconds)
        self.consumer = consumer

    def run_once(self) -> int:
        lease = self._hold()
        if lease is None:
            return 0
        entries = self.store.audit_entries(self.store.outbox_position(self.consumer),
                                           self.batch)
        if not entries:
            return 0
        with self.store.unit_of_work() as uow:
            uow.ack(self.consumer, entries[0].position - 1, lease)  # fencing first
            subscriptions: list[Spec] | None = None
            for entry in entries:
                if entry.purpose != PURPOSE:
                    continue
                if subscriptions is None:
                    subscriptions = _subscriptions(uow)
                for sub in subscriptions:
                    if _passes(sub, entry):
                        uow.add_notification(sub.id, BREAK_GLASS, f"AuditEvent/{entry.id}",
                                             entry.recorded_us)
            uow.ack(self.consumer, entries[-1].position)
            uow.commit()
        return len(entries)


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
