"""The audit of one request: filled while the request runs, stored before it answers.

Every FHIR request but the public ones gets one ``AuditRecord`` (``server/api/
flask_app.py``). The router names the interaction (``entering``/``leaving``, nested for
the entries of a batch) and notes what a response returns (``returned``); the
repository's writes note what they wrote (``Write.written``).

Where the event is stored:

- a write: in the same unit of work as the write, just before it commits
  (``seal_into``), so a committed write is never without its event and a rolled-back
  one leaves none for what did not happen;
- everything else (reads, searches, refusals, failed writes, the batch itself): in the
  process's audit spool when the request ends (``Auditor.finish``, ``spool.py``), before
  the response goes out, and from there into the trail moments later. If that fails
  the request fails: no response without its event.

An entry of a batch is its own interaction: a write entry carries its own event; the
batch gets one more for itself. A transaction is one interaction: one event, in its unit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from server import clock
from server.access import Principal, survivor_of
from server.audit import trail
from server.audit.events import ACTIONS, Interaction, audit_event
from server.audit.spool import Spool
from server.store import StoredVersion, UnitOfWork

#: What an error status says in ``outcomeDesc`` (Spanish: the trail is read by auditors).
_REFUSALS = {401: "no autenticado", 403: "denegado", 404: "no encontrado",
             410: "eliminado"}


@dataclass
class AuditRecord:
    """What one request did, as far as the audit trail is concerned."""

    principal: Principal
    query: str | None = None
    #: the interaction codes being run, outermost first (a batch, then its entry)
    codes: list[str] = field(default_factory=list)
    #: the first interaction the router recognised (the request's own)
    code: str | None = None
    resources: list[str] = field(default_factory=list)
    patient: str | None = None
    #: the rules that let the request through (``consent.Decision.basis``: ``author``,
    #: ``policy:<file>#<grant>``, ``Consent/<id>``, ``break-glass``...): behind the access
    #: keys a read met, or a write's decision
    basis: tuple[str, ...] = ()
    #: True once the request's own event is stored (a write stored it in its unit)
    stored: bool = False
    _sealed_own: bool = False

    def entering(self, code: str | None) -> None:
        """A route starts: ``code`` is its interaction (a code the route table shares
        between two interactions reads as ``operation`` until ``entered`` names it)."""
        code = code if code in ACTIONS else "operation"
        if self.code is None:
            self.code = code
        self.codes.append(code)

    def entered(self, code: str) -> None:
        """Name the interaction running now, once its handler knows it (a bundle is
        a transaction or a batch)."""
        if self.codes:
            self.codes[-1] = code
        if len(self.codes) <= 1:
            self.code = code

    def leaving(self) -> None:
        if self.codes:
            self.codes.pop()

    def returned(self, version: StoredVersion | None) -> None:
        """Note the resource a read (or vread, or a write) answered with."""
        if version is None or len(self.codes) > 1:  # a batch entry's read: the batch's
            return
        self.resources.append(f"{version.type}/{version.id}")
        self.based_on(version.basis)
        if self.patient is None and version.body is not None:
            self.patient = _patient(version)

    def based_on(self, rules: Iterable[str]) -> None:
        """Note rules that let the request through (a search's answer: ``Repository.basis``)."""
        self.basis += tuple(rule for rule in dict.fromkeys(rules) if rule not in self.basis)

    def seal_into(self, uow: UnitOfWork, at: tuple[str, int],
                  written: Iterable[tuple[str, str | None]], basis: Iterable[str] = ()) -> None:
        """Append the event of the write a unit of work is about to commit: the
        interaction running now, what the unit wrote (``(Type/id, survivor)``) and the
        rules that let it (``Write.basis``)."""
        written = list(written)
        refs = tuple(dict.fromkeys(ref for ref, _ in written))
        patient = next((p for _, p in written if p), None)
        code = self.codes[-1] if self.codes else (self.code or "operation")
        event = self._event(Interaction(code, refs, patient), at[0], 200, tuple(basis))
        trail.append(uow, event, at)
        self._sealed_own = len(self.codes) <= 1  # the request's own (not a batch entry's)

    def committed(self) -> None:
        """The unit ``seal_into`` wrote to has committed: if its event was the request's
        own, the request needs no other (a unit that fails leaves it to ``finish``)."""
        if self._sealed_own:
            self.stored = True
        self._sealed_own = False

    def event(self, status: int) -> dict:
        """The request's own event, answered with ``status``."""
        interaction = Interaction(self.code or "operation", tuple(self.resources),
                                  self.patient, self.query)
        return self._event(interaction, clock.now()[0], status, self.basis)

    def _event(self, interaction: Interaction, recorded: str, status: int,
               basis: tuple[str, ...] = ()) -> dict:
        p = self.principal
        event = audit_event(interaction, recorded=recorded, permitted=status < 400,
                            client_id=p.client_id, institution=p.institution, user=p.user,
                            purpose=p.purpose, justification=p.justification, basis=basis)
        if status >= 400:
            event["outcome"] = "4" if status < 500 else "8"
            event["outcomeDesc"] = _REFUSALS.get(status, "rechazado" if status < 500
                                                 else "error del servidor")
        return event


class Auditor:
    """Stores, in the process's spool (``spool.py``), the events of requests that no
    write stored. Without a spool it keeps none: the benchmark's permit-all baseline."""

    def __init__(self, spool: Spool | None = None):
        self.spool = spool

    def finish(self, record: AuditRecord, status: int) -> None:
        """Store ``record``'s event unless a write already did; raises if it cannot be
        stored (the caller must then not answer as if all went well)."""
        if self.spool is None or record.stored:
            return
        self.spool.add(record.event(status), clock.now())
        record.stored = True

    def flush(self) -> None:
        """Move this process's spooled events into the trail (before an auditor's
        search, so that it sees everything this process has answered)."""
        if self.spool is not None:
            self.spool.flush()


def _patient(version: StoredVersion) -> str | None:
    if version.type == "Patient":
        return f"Patient/{version.id}"
    return survivor_of(orjson.loads(version.body))
