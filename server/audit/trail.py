"""The stored audit trail: every AuditEvent appended in the unit of work of the
interaction it records, chained to the one before it (``chain.py``), and checked
against the store (``amparo audit verify``).

Each event carries its 1-based position in the trail (extension ``POSITION``), added
before sealing so that the seal covers it: the trail's order is the sealed positions,
not the store's insertion order, so moving an event to another place means changing a
position, which breaks that event's seal. The store keeps the trail's head (how many
events, the last one's hash) apart from the events and moves it in the same unit of
work (``UnitOfWork.audit_head``/``append_audit``): units are serialised, so two
appends never chain to the same event, and a unit that rolls back takes its events and
its move of the head back together. Removing events at the tail shows because the head
still counts them; what no stored check can catch is someone rewriting the head as
well, which is why the head should also be copied outside the store now and then.

Events are lean records (``AuditEntry``), not resource versions: every request writes
one, and a version's search index, history, access keys and outbox event would cost
more than the read it records. The values auditors search on are copied beside the
JSON, and the check compares them with the sealed event. The trail is served, to
auditors alone, by ``server/api/audit.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import orjson

from server import clock
from server.audit import chain
from server.audit.chain import ChainBreak
from server.store.port import AuditEntry, Store, UnitOfWork

__all__ = ["POSITION", "TrailReport", "append", "check", "entry_of", "verify"]

#: The event's 1-based position in the trail (valueInteger), covered by its seal.
POSITION = "https://fhir.amparo.cl/StructureDefinition/ext-posicion-auditoria"
#: Events read per search page when verifying.
PAGE = 1000
_OURS = frozenset({POSITION, chain.SEAL})

NO_POSITION = "the event carries no position in the trail"
UNREADABLE = "the stored event is not a readable AuditEvent"
MISSING = "no event holds this position (it was removed)"
DUPLICATE = "another event already holds this position (a copy or a forgery)"
TRUNCATED = "the trail ends before this position while its head counts {count} events " \
            "(events at the tail were removed)"
NOT_LAST = "the last event is not the one the trail's head recorded (it was replaced)"
BEYOND = "the event lies beyond the trail's head (it was not appended through the trail)"
MOVED = "the event stored as AuditEvent/{stored} was sealed as AuditEvent/{sealed} " \
        "(events were swapped or moved between records)"
MISPLACED = "the event sealed at position {sealed} is stored at position {stored} (a copy " \
            "or a move)"
UNSEARCHABLE = "the values auditors search on no longer match the sealed event (an edit " \
               "to hide it from searches)"
#: agent role code -> AuditEntry field holding its identifier (events.audit_event)
_AGENT_FIELDS = {"110153": "client", "IRCP": "user"}


def append(uow: UnitOfWork, event: dict, at: tuple[str, int], id: str | None = None) -> str:
    """Store ``event`` (an AuditEvent, e.g. from ``events.audit_event``) as the next
    event of the trail, inside ``uow``; returns its id (``id``, or a new one). ``at`` is
    the time it was recorded (``lastUpdated`` text, microseconds), as ``server/clock.py``
    gives it.

    Several appends in one unit chain one after the other; they all stay or all go
    with the unit. Runs on every request, so it does only what it must: one read of the
    head per unit, one hash, one lean record."""
    if event.get("resourceType") != "AuditEvent":
        raise ValueError("only an AuditEvent can be appended to the audit trail")
    count, previous = uow.audit_head()
    position = count + 1
    extensions = [e for e in event.get("extension") or ()
                  if not (isinstance(e, dict) and e.get("url") in _OURS)]
    extensions.append({"url": POSITION, "valueInteger": position})
    sealed = chain.seal({**event, "extension": extensions}, previous)
    id = id or str(uuid.uuid4())
    body = {"resourceType": "AuditEvent", "id": id,
            "meta": {"versionId": "1", "lastUpdated": at[0]}}
    body.update((k, v) for k, v in sealed.items() if k not in body)
    uow.append_audit(entry_of(body, position), chain.sealed_hash(sealed))
    return id


def entry_of(event: dict, position: int) -> AuditEntry:
    """The record the store keeps of ``event``: its JSON and what auditors search on,
    read from the sealed event itself (``events.audit_event``'s shape; ``recorded`` for
    the time a date search finds it by)."""
    recorded_us = clock.parse_instant(str(event.get("recorded", ""))) or 0
    found: dict[str, str | None] = {}
    for agent in event.get("agent") or ():
        role = _code(agent.get("type"))
        who = agent.get("who") or {}
        if role == "PRF" and "reference" in who:
            found.setdefault("institution", who["reference"])
        elif role in _AGENT_FIELDS:
            found.setdefault(_AGENT_FIELDS[role], (who.get("identifier") or {}).get("value"))
    for entity in event.get("entity") or ():
        if _code(entity.get("role")) == "1" and "what" in entity:
            found.setdefault("patient", entity["what"].get("reference"))
    purposes = event.get("purposeOfEvent") or ()
    if purposes:
        found["purpose"] = _code(purposes[0])
    return AuditEntry(position, event["id"], recorded_us, orjson.dumps(event),
                      outcome=str(event.get("outcome", "0")), **found)


def _code(concept: object) -> str | None:
    """The code of a Coding or of a CodeableConcept's first coding."""
    if not isinstance(concept, dict):
        return None
    if "coding" in concept:
        codings = concept.get("coding") or [{}]
        return codings[0].get("code") if isinstance(codings[0], dict) else None
    return concept.get("code")


@dataclass(frozen=True, slots=True)
class TrailReport:
    """What ``check`` found: events checked, the head checked against, the first break
    (None: intact)."""

    checked: int
    head: tuple[int, str]
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def verify(store: Store) -> ChainBreak | None:
    """None when the stored trail is intact, else its first break (``check``)."""
    return check(store).broken


def check(store: Store, page: int = PAGE) -> TrailReport:
    """Read every stored AuditEvent and check the trail, in the order of the sealed
    positions, against the store's head: the first break (lowest position) is a
    missing position, an event that does not follow the one before it, one whose
    content no longer matches its seal, one without seal or position, a duplicate
    position, an event stored under another record's id, or a tail shorter than the
    head. Events appended while the check runs (beyond the head read first) are left
    for the next check.

    Memory: per event only its position, id and two hashes, and only while it waits
    for an earlier position still unread: events come in insertion order, which is the
    trail's order unless the trail was tampered with, so an intact trail is checked
    with the memory of one page.
    """
    head = store.audit_head()
    walk = _Walk(head[0])
    for link in _links(store, page):
        walk.add(link)
    return TrailReport(walk.checked, head, walk.finish(head, store.audit_head()[0]))


class _Link(NamedTuple):
    """What the check keeps of one stored event. ``problem`` is what the event shows on
    its own (None: sound so far); ``linked``/``digest`` its seal (None without one)."""

    position: int | None
    id: str
    linked: str | None
    digest: str | None
    problem: str | None


def _links(store: Store, page: int) -> Iterator[_Link]:
    """Every stored entry, in the store's order of positions, a page at a time (the
    bodies of one page only are held)."""
    after = 0
    while True:
        entries = store.audit_entries(after, page)
        for entry in entries:
            yield _link(entry)
        if len(entries) < page:
            return
        after = entries[-1].position


def _link(entry: AuditEntry) -> _Link:
    try:
        event = orjson.loads(entry.body)
        sealed = chain.seal_of(event)
        position = _position(event)
    except (orjson.JSONDecodeError, TypeError, AttributeError):
        return _Link(None, entry.id, None, None, UNREADABLE)
    if sealed is None:
        return _Link(position, entry.id, None, None, chain.NO_SEAL)
    problem = None
    try:
        if position is None:
            problem = NO_POSITION
        elif not chain.matches_seal(event, sealed):
            problem = chain.ALTERED
        elif event.get("id") != entry.id:
            problem = MOVED.format(stored=entry.id, sealed=event.get("id"))
        elif position != entry.position:
            problem = MISPLACED.format(stored=entry.position, sealed=position)
        elif entry_of(event, position) != entry:
            problem = UNSEARCHABLE
    except (TypeError, AttributeError, KeyError):
        problem = UNREADABLE
    return _Link(position, entry.id, sealed[0], sealed[1], problem)


def _position(event: dict) -> int | None:
    for extension in event.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == POSITION:
            value = extension.get("valueInteger")
            if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
                return value
    return None


class _Walk:
    """The chain check, fed events in store order: an event waits in ``pending`` until
    every position before it has been checked."""

    def __init__(self, count: int):
        self.count = count  # the head's: positions past it are not checked
        self.expected, self.previous = 1, chain.GENESIS
        self.last: _Link | None = None
        self.pending: dict[int, _Link] = {}
        self.beyond: list[_Link] = []
        self.broken: ChainBreak | None = None
        self.checked = 0
        self._stream_position = 0

    def add(self, link: _Link) -> None:
        position = link.position
        if position is None:  # unplaceable: where the store holds it, after its neighbour
            position = self._stream_position + 1
            link = link._replace(position=position)
        self._stream_position = position
        if position > self.count:
            self.beyond.append(link)
            return
        self.checked += 1
        if position < self.expected or position in self.pending:
            self._break(ChainBreak(position, link.problem or DUPLICATE, link.id))
            return
        if self._past_break(position):
            return  # nothing there can come before the break found
        self.pending[position] = link
        while self.expected in self.pending and not self._past_break(self.expected):
            self._follow(self.pending.pop(self.expected))

    def _past_break(self, position: int) -> bool:
        return self.broken is not None and position >= self.broken.position

    def _follow(self, link: _Link) -> None:
        position = self.expected
        if link.problem in (UNREADABLE, chain.NO_SEAL, NO_POSITION):
            self._break(ChainBreak(position, link.problem, link.id))
        elif link.linked != self.previous:
            self._break(ChainBreak(position, chain.NOT_FOLLOWING, link.id))
        elif link.problem is not None:
            self._break(ChainBreak(position, link.problem, link.id))
        else:
            self.expected, self.previous, self.last = position + 1, link.digest, link

    def _break(self, found: ChainBreak) -> None:
        if self.broken is None or found.position < self.broken.position:
            self.broken = found
            self.pending = {p: k for p, k in self.pending.items() if p < found.position}

    def finish(self, head: tuple[int, str], count_now: int) -> ChainBreak | None:
        """The first break, once every event has been added; ``count_now`` is the head's
        count read after the walk (events up to it were appended meanwhile)."""
        if self.broken is not None:  # unless a position before it never came
            return ChainBreak(self.expected, MISSING) \
                if self.expected < self.broken.position else self.broken
        checked_up_to = self.expected - 1
        if self.pending:
            return ChainBreak(self.expected, MISSING)
        if checked_up_to < head[0]:
            return ChainBreak(self.expected, TRUNCATED.format(count=head[0]))
        if head[0] and self.previous != head[1]:
            return ChainBreak(head[0], NOT_LAST, self.last.id if self.last else None)
        for link in sorted(self.beyond):
            if link.position > count_now or link.problem is not None:
                return ChainBreak(link.position, link.problem or BEYOND, link.id)
        return None
