"""The storage port: the one interface every store adapter implements.

Contract (checked by ``tests/server/store/test_contract.py`` for every adapter):

- A resource is identified by (type, id). Every write appends a version (1, 2, ...) that
  is kept forever; the current version is the highest. A delete appends a version with
  ``deleted=True`` and no body; a later write to the same id resurrects it.
- Writes happen only inside ``unit_of_work()``. Everything written in one unit (versions,
  their search index rows, access keys and one outbox event per version) becomes
  visible together on ``commit()``; leaving the block without ``commit()`` (or with an
  exception) rolls all of it back. Reads made through the unit see its own writes.
  Units of work are serialised: while one is open no other unit can commit a write, so
  a read-then-write inside a unit (conditional create, version checks) cannot race.
- ``search`` and ``history`` take an ``AccessFilter`` and apply it inside the query, so
  paging and totals count only what the caller may see (never a page trimmed
  afterwards). ``AccessFilter(None)`` means unrestricted.
- Search pages are keyset-paged on the query's sort keys, then the store's insertion
  order: a resource created or deleted between two pages neither shifts nor duplicates
  entries of later pages. Included resources come on the same snapshot, under the same
  access filter.
- The outbox lists committed changes in commit order with a strictly increasing
  position; a consumer acknowledges a position to say it has handled everything up to
  and including it, and resumes after its acknowledged position (Blaze ``poll!``).
- Leases decide which process does a piece of background work (``server/worker.py``).
  ``acquire_lease`` atomically, across processes and machines, takes a named lease that
  is free, expired or already its owner's (renewing it), and returns None while another
  owner holds it unexpired. Every change of hands increases the lease's ``token``.
  ``UnitOfWork.ack`` acknowledges an outbox position inside the unit, so a handler's
  store writes and its acknowledgement commit together; given a lease, it first checks
  the lease is still held with that token and raises ``LeaseLost`` otherwise, so a
  process whose lease expired and was taken over cannot commit (fencing).
- Timers (``server/timers.py``): work due at an instant rather than on a change.
  ``UnitOfWork.set_timer`` sets (or, with None, clears) a named timer with the unit's
  writes; ``UnitOfWork.timer`` reads it as the unit sees it; ``due_timers`` lists the
  timers due before an instant, earliest first. A name has at most one timer.
- Copying (``amparo migrate``, ``server/store/migrate.py``): every version has a global
  change order ``seq`` (strictly increasing in commit order). ``export_versions`` lists
  versions by ``seq`` as ``CopiedVersion`` values, each with its outbox position and,
  for a resource's current version, its index rows and access keys. ``import_versions``
  writes such a batch atomically, keeping seq, version numbers, timestamps and outbox
  positions; a version already present is skipped (so a batch can be re-run), and the
  store's own counters continue after the highest seq and position imported.
- Reindexing (``amparo reindex``, ``server/store/reindex.py``): ``reindex`` recomputes
  the index rows and access keys of current, non-deleted versions in place, a batch per
  unit of work. It appends no version, changes no ``lastUpdated`` and writes no outbox
  event (no resource changes); a resource written since its batch was read keeps the
  index its write gave it. Interrupted, it is simply run again.
- The auth registry (``server/auth/``) lives beside the resources but outside units of
  work: each call is atomic on its own and visible to every process at once.
  ``save_client`` inserts or replaces an OAuth client by ``client_id``; ``get_client``
  reads one back. ``use_jti`` records a client assertion's ``jti`` until it expires and
  returns False when it is already recorded and unexpired (a replay); of several
  processes racing with one jti exactly one gets True; expired ones may be purged.
  ``add_signing_key`` stores a signing key (its ``kid`` unique); ``signing_keys`` lists
  every stored key, newest first.
- The audit trail (``server/audit/trail.py``) is not made of resource versions: every
  request writes an event, so an event is one lean record (``AuditEntry``: its sealed
  JSON and the few values auditors search on), not a version with a search index,
  history, access keys and an outbox event. ``UnitOfWork.append_audit`` stores the
  next entry and moves the trail's head (how many entries, the last one's hash), which
  is kept apart from the entries so that removing entries at the tail shows;
  ``audit_head`` reads it (``(0, AUDIT_GENESIS)`` before the first). Both commit with
  the unit's writes or not at all, and since units are serialised, two units never
  chain to the same entry. ``audit_search`` pages newest first; ``audit_entries`` reads
  the trail in position order (``amparo audit verify``); ``import_audit`` copies one.
- Subscriptions (``server/subscriptions/``): each Subscription has an event log and a
  delivery state, like timers written only inside units of work. ``add_notification``
  appends the subscription's next event, numbered from 1 without gaps (the count is
  kept on its ``Delivery``, so the number and the event commit together or not at all,
  and since units are serialised no two units take the same number); ``set_delivery``
  records where delivery stands but never moves the count. ``notifications`` pages a
  subscription's committed events by number; ``due_deliveries`` lists the deliveries
  the delivery worker must look at: due, or healthy with events not yet delivered.
- Bulk exports (``server/bulk/``): each ``$export`` is an ``ExportJob``, written only
  inside units of work like timers (``UnitOfWork.save_export_job`` inserts or replaces
  it by id, ``delete_export_job`` removes it) so that a worker's progress commits with
  its lease check (fencing) or not at all. ``export_job`` reads one back as the reader
  sees it; ``export_jobs`` lists committed jobs oldest first (``created_us``, then id),
  narrowed to some statuses, one client, or those whose files expire before an instant.
  The store keeps ``body`` as given and never reads it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import NamedTuple

from server.search.index import ResourceIndex
from server.search.query import HistoryQuery, SearchQuery

#: The "previous hash" of the first audit event: ``server.audit.chain.GENESIS``, repeated
#: here so that the store does not depend on the audit package (a test keeps them equal).
AUDIT_GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event of the audit trail as stored: ``body`` its sealed AuditEvent JSON,
    ``position`` its place in the chain (1-based), and what auditors search on: the
    survivor (``Patient/<id>``), the institution (``Organization/<id>``), the client,
    the asserted user, the purpose of use and the outcome code."""

    position: int
    id: str
    recorded_us: int
    body: bytes
    patient: str | None = None
    institution: str | None = None
    client: str | None = None
    user: str | None = None
    purpose: str | None = None
    outcome: str = "0"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """An auditor's search: every given field must match (a tuple: any of its values);
    ``since_us``/``until_us`` bound ``recorded`` (inclusive, exclusive). Newest first;
    ``before`` is the cursor (the last position of the previous page)."""

    patient: tuple[str, ...] = ()
    institution: tuple[str, ...] = ()
    client: tuple[str, ...] = ()
    user: tuple[str, ...] = ()
    purpose: tuple[str, ...] = ()
    outcome: tuple[str, ...] = ()
    since_us: int | None = None
    until_us: int | None = None
    count: int = 20
    before: int | None = None
    total: bool = False


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int | None = None
    next_cursor: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """One event of a subscription's topic: ``number`` counts from 1 per subscription
    with no gaps (the Subscriptions Backport IG's event number); ``focus`` the versioned
    reference of the record that triggered it (``Flag/x/_history/2``); ``at_us`` when it
    happened (microseconds since the epoch)."""

    subscription: str  # the Subscription's id
    number: int
    topic: str  # the SubscriptionTopic's canonical URL
    focus: str
    at_us: int


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where the delivery of one subscription's events stands. ``count``: events
    numbered so far (kept by the store: ``add_notification``); ``delivered``: the highest
    number the endpoint acknowledged; ``due_us``: when the delivery worker must look at it
    again even with no new event (a retry after backoff, a heartbeat, a handshake);
    ``failing_since_us``: the first failure of the current run of failures (None while
    healthy); ``attempts``: failures in that run."""

    subscription: str
    count: int = 0
    delivered: int = 0
    due_us: int = 0
    failing_since_us: int | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class ExportJob:
    """A bulk export (``$export``) as stored: who asked (``client_id``, so a client's
    jobs are found without reading bodies), where it stands (``status``: ``accepted``,
    ``in-progress``, ``completed``, ``failed``), when it was asked and when its files
    expire (microseconds since the epoch; 0 while it runs), and ``body``: its request
    and progress as JSON, which only ``server/bulk/`` reads."""

    id: str
    client_id: str
    status: str
    created_us: int
    expires_us: int = 0
    body: bytes = b"{}"


class StoredVersion(NamedTuple):
    """One version of a resource as stored. ``body`` is its JSON (None when deleted).

    A named tuple rather than a frozen dataclass: searches build one per row, and a
    tuple is built several times faster."""

    type: str
    id: str
    version: int
    last_updated: str
    deleted: bool
    body: bytes | None
    method: str = "PUT"
    #: the rules behind the access keys a filtered read met (``Reader.read_visible``,
    #: ``Reader.basis``), when the adapter tells them: why the access gate let it
    #: through, for the audit trail
    basis: tuple[str, ...] = ()


#: A resource's access keys, each with its basis: the rules behind it, space-separated
#: (``consent.access_basis``: ``author``, ``policy:<file>#<grant>``, ``Consent/<id>``).
AccessKeys = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version ready to be written: body already carries id and meta."""

    type: str
    id: str
    version: int
    last_updated: str
    updated_us: int
    method: str
    body: bytes | None
    index: ResourceIndex | None = None
    access_keys: AccessKeys = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class AccessFilter:
    """The access gate's query face: the access keys the caller holds (None = all)."""

    keys: frozenset[str] | None = None


UNRESTRICTED = AccessFilter(None)


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of matches, the total over all pages, cursors (opaque positions for
    ``SearchQuery.cursor``/``before``: the boundary row's sort values and its insertion
    order), and the resources the query's ``includes`` add to the page (each once, none
    that is a match, only what the access filter lets through, not counted in ``total``).

    ``total`` is counted when ``SearchQuery.total`` asks; otherwise it is given only when
    it is free (a first page holding every match) and is None."""

    matches: list[StoredVersion]
    total: int | None
    next_cursor: tuple | None = None
    previous_cursor: tuple | None = None
    included: list[StoredVersion] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    versions: list[StoredVersion]
    next_cursor: int | None = None


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """A committed change, in commit order."""

    position: int
    type: str
    id: str
    version: int
    method: str
    at: str


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lease: ``token`` (the fencing token) increases every time the lease
    changes hands, so a former holder's token never matches again; ``expires_us`` is
    wall-clock microseconds since the epoch (``server/clock.py``)."""

    name: str
    owner: str
    token: int
    expires_us: int


class LeaseLost(Exception):
    """The lease is no longer held with this token: the worker must stop without
    acknowledging (another process has taken the work over)."""


@dataclass(frozen=True, slots=True)
class CopiedVersion:
    """One version as a store copy moves it (``export_versions``/``import_versions``):
    the source's change order ``seq``, the position of the version's outbox event, and
    the version itself, whose ``index`` and ``access_keys`` are filled only when it is
    the resource's current version (older versions have no index rows to carry)."""

    seq: int
    outbox_position: int
    version: NewVersion


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    """Recomputed index rows and access keys for version ``version`` of a resource,
    applied only while that version is still the current one and not deleted."""

    type: str
    id: str
    version: int
    index: ResourceIndex
    access_keys: AccessKeys


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """A registered OAuth client (SMART Backend Services) of one institution.

    ``secret_hash`` is a salted hash of its secret (never the secret; ``server/auth/
    secrets.py``) for ``client_secret_basic``; ``jwks`` its public JSON Web Key Set (JSON
    text) for ``private_key_jwt``; at least one of the two is set. ``scopes`` are SMART
    v2 system scopes, ``purposes`` HL7 v3 PurposeOfUse codes."""

    client_id: str
    institution: str  # "Organization/<id>"
    name: str
    scopes: tuple[str, ...]
    purposes: tuple[str, ...]
    secret_hash: str | None = None
    jwks: str | None = None
    created_us: int = 0
    active: bool = True


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key the authorization server signs access tokens with: its private JWK (JSON
    text) and when it was made (the newest signs; older ones still verify)."""

    kid: str
    private_jwk: str
    created_us: int


#: What ``Store.reindex`` asks of its caller: a version's index rows and access keys.
Recompute = Callable[[StoredVersion], tuple[ResourceIndex, frozenset[str]]]


class Reader(ABC):
    """Reads, from the committed store or from inside a unit of work."""

    @abstractmethod
    def read(self, type: str, id: str) -> StoredVersion | None:
        """The current version, deleted or not; None if the id never existed."""

    @abstractmethod
    def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        """A specific version; None if it does not exist."""

    @abstractmethod
    def search(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED) -> SearchPage:
        """Current, non-deleted resources matching ``query``, filtered by ``access``."""

    def scan(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED
             ) -> Iterator[StoredVersion]:
        """Every resource ``search`` would find, page after page (keyset paging, pages of
        ``query.count``), for the work that reads a whole type (loads, aggregates)."""
        while True:
            page = self.search(query, access)
            yield from page.matches
            if page.next_cursor is None:
                return
            query = SearchQuery(query.type, query.conditions, count=query.count,
                                total=False, cursor=page.next_cursor)

    @abstractmethod
    def history(self, query: HistoryQuery, access: AccessFilter = UNRESTRICTED) -> HistoryPage:
        """Versions newest first, for one resource, one type or the whole system."""

    @abstractmethod
    def delivery(self, subscription: str) -> Delivery | None:
        """Where the delivery of ``subscription``'s events stands, as this reader sees it
        (a unit of work: its own writes included); None before its first event or
        ``set_delivery``."""

    @abstractmethod
    def export_job(self, id: str) -> ExportJob | None:
        """The bulk export ``id`` as this reader sees it (a unit of work: its own writes
        included); None if there is none."""

    def read_visible(self, type: str, id: str, access: AccessFilter) -> StoredVersion | None:
        """The current version of ``type/id`` when ``access`` lets it through (``readable``),
        else None, as if it did not exist: a read by id. Adapters may do it in one query."""
        found = self.read(type, id)
        if found is None or access.keys is None or self.readable(type, id, access):
            return found
        return None

    def basis(self, refs: Iterable[tuple[str, str]],
              access: AccessFilter) -> dict[tuple[str, str], tuple[str, ...]]:
        """For each ``(type, id)`` whose current version ``access`` lets through, the
        rules behind the keys it met (``AccessKeys``): the basis of a search's answer
        for the audit trail. An adapter that keeps no basis answers {}."""
        return {}

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        """Whether the current version of ``type/id`` (its last content's keys when it is
        deleted) is one ``access`` lets through: the access gate's check of one id. An
        adapter answers it with one indexed probe; this default asks for its history."""
        if access.keys is None:
            return True
        return bool(self.history(HistoryQuery(type, id, count=1), access).versions)


class UnitOfWork(Reader):
    """One atomic write (see the module contract). Rolls back unless ``commit()``.

    Its reads see its own uncommitted writes (conditional operations, transaction GETs).
    """

    committed: bool = False

    @abstractmethod
    def write(self, version: NewVersion) -> None:
        """Append ``version``; it must be the current version + 1 (or 1 for a new id)."""

    @abstractmethod
    def commit(self) -> None:
        """Make every write of this unit durable and visible, atomically."""

    @abstractmethod
    def set_access_keys(self, type: str, id: str, version: int,
                        keys: AccessKeys) -> bool:
        """Replace, inside this unit, the access keys of a resource while ``version`` is
        its current, non-deleted version (False, nothing done, otherwise): the keys
        recomputed when her Consents or care team change (``server/access.py``). No
        version, timestamp or outbox event is written."""

    @abstractmethod
    def set_timer(self, name: str, due_us: int | None) -> None:
        """Set timer ``name`` to fire after ``due_us`` (microseconds since the epoch),
        replacing its earlier instant, or clear it (None), with this unit's writes."""

    @abstractmethod
    def timer(self, name: str) -> int | None:
        """The instant timer ``name`` is set to, as this unit sees it; None if unset."""

    @abstractmethod
    def add_notification(self, subscription: str, topic: str, focus: str, at_us: int) -> int:
        """Append ``subscription``'s next event (its number the count of its ``Delivery``
        plus one; the delivery is created with defaults if missing) and move the count
        to it, with this unit's writes. Returns the number: since units are serialised,
        numbers never repeat or skip, even across processes."""

    @abstractmethod
    def set_delivery(self, delivery: Delivery) -> None:
        """Store ``delivery``'s ``delivered``, ``due_us``, ``failing_since_us`` and
        ``attempts`` (creating the row if missing) with this unit's writes. Its ``count``
        is ignored: only ``add_notification`` moves the count, so a worker that read a
        delivery before new events were added cannot set it back."""

    @abstractmethod
    def save_export_job(self, job: ExportJob) -> None:
        """Insert ``job``, or replace the one with its id, with this unit's writes."""

    @abstractmethod
    def delete_export_job(self, id: str) -> None:
        """Remove the bulk export ``id`` (nothing if there is none), with this unit's
        writes."""

    @abstractmethod
    def ack(self, consumer: str, position: int, lease: Lease | None = None) -> None:
        """Acknowledge ``position`` for ``consumer`` with this unit's writes (never moving
        it back). With ``lease``, first check it is still held with its token; raise
        ``LeaseLost`` (acknowledging nothing) if not."""

    @abstractmethod
    def audit_head(self) -> tuple[int, str]:
        """The audit trail's head as this unit sees it: (events chained, the last one's
        hash), or ``(0, AUDIT_GENESIS)`` before the first; this unit's moves included."""

    @abstractmethod
    def append_audit(self, entry: AuditEntry, hash: str) -> None:
        """Store ``entry`` (its position the head's count plus one) and move the head to
        it (``hash``: its seal's), with this unit's writes."""


class Store(Reader):
    """A FHIR resource store. Adapters: ``sqlite.SqliteStore`` (and MongoDB later)."""

    url: str

    @abstractmethod
    def init(self) -> None:
        """Create schema and indexes; idempotent."""

    @abstractmethod
    def unit_of_work(self) -> AbstractContextManager[UnitOfWork]:
        """A new unit of work (context manager); see the module contract."""

    @abstractmethod
    def outbox(self, after: int, limit: int = 100) -> list[OutboxEvent]:
        """Committed changes with position > ``after``, oldest first."""

    @abstractmethod
    def due_timers(self, before_us: int, limit: int = 100) -> list[tuple[str, int]]:
        """Committed timers set to an instant before ``before_us``, as ``(name, due_us)``,
        earliest first."""

    @abstractmethod
    def notifications(self, subscription: str, after: int,
                      limit: int = 100) -> list[Notification]:
        """Up to ``limit`` committed events of ``subscription`` numbered above ``after``,
        in number order (the delivery worker resumes after ``Delivery.delivered``)."""

    @abstractmethod
    def due_deliveries(self, now_us: int, limit: int = 100) -> list[Delivery]:
        """Up to ``limit`` committed deliveries the delivery worker must look at: due
        (``due_us <= now_us``), or healthy (``failing_since_us`` None) with events not yet
        delivered (``count > delivered``) whatever their ``due_us``; earliest ``due_us``
        first, then by subscription."""

    @abstractmethod
    def export_jobs(self, statuses: tuple[str, ...] = (), client_id: str | None = None,
                    expires_before: int | None = None, limit: int = 100) -> list[ExportJob]:
        """Up to ``limit`` committed bulk exports, oldest first (``created_us``, then id):
        only those with one of ``statuses`` (all when empty), of ``client_id`` when given,
        and with ``0 < expires_us < expires_before`` when given (files due for removal)."""

    @abstractmethod
    def outbox_position(self, consumer: str) -> int:
        """The last position ``consumer`` acknowledged (0 if none)."""

    @abstractmethod
    def outbox_ack(self, consumer: str, position: int) -> None:
        """Record that ``consumer`` has handled every event up to ``position``."""

    @abstractmethod
    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> Lease | None:
        """Take lease ``name`` for ``ttl_seconds`` if it is free, expired or ``owner``'s
        (a renewal: same token); None while another owner holds it. Atomic."""

    @abstractmethod
    def release_lease(self, lease: Lease) -> None:
        """Free ``lease`` if it is still held with its token (otherwise do nothing)."""

    @abstractmethod
    def count(self, type: str | None = None) -> int:
        """Number of current, non-deleted resources (of one type, or all)."""

    @abstractmethod
    def audit_head(self) -> tuple[int, str]:
        """The committed audit trail head (``UnitOfWork.audit_head``): what
        ``server/audit/trail.py`` verifies the stored events against."""

    @abstractmethod
    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        """Up to ``limit`` stored entries in the store's order of positions, from the
        first whose stored position is greater than ``after``."""

    @abstractmethod
    def audit_entry(self, id: str) -> AuditEntry | None:
        """The entry whose id is ``id``."""

    @abstractmethod
    def audit_search(self, query: AuditQuery) -> AuditPage:
        """The entries matching ``query``, newest first, a page at a time."""

    @abstractmethod
    def import_audit(self, entries: list[AuditEntry],
                     head: tuple[int, str] | None = None) -> None:
        """Copy entries of another store's trail as they are (an entry already there is
        left), and set the head when given (a store copy, ``server/store/migrate.py``)."""

    # -- copying a whole store (see the module contract) --------------------------------

    @abstractmethod
    def export_versions(self, after_seq: int, limit: int) -> list[CopiedVersion]:
        """Up to ``limit`` versions with seq > ``after_seq``, ascending seq, read on one
        consistent state."""

    @abstractmethod
    def import_versions(self, batch: list[CopiedVersion]) -> None:
        """Write ``batch`` (ascending seq) atomically, keeping its seq numbers, version
        numbers, timestamps and outbox positions; index rows and access keys for current
        versions. A version already present is skipped. Raises ValueError when a version
        does not follow the resource's current one or its seq/position is taken."""

    @abstractmethod
    def last_seq(self) -> int:
        """The highest seq held (0 when empty): where a resumed copy continues."""

    @abstractmethod
    def version_count(self) -> int:
        """Number of versions of every resource, deleted ones included."""

    @abstractmethod
    def consumers(self) -> dict[str, int]:
        """Every outbox consumer's acknowledged position (copied with ``outbox_ack``)."""

    # -- reindexing (see the module contract) --------------------------------------------

    def reindex(self, compute: Recompute, types: Iterable[str] | None = None,
                batch: int = 500,
                progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
        """Resources reindexed per type: ``compute`` gives each current, non-deleted
        version of ``types`` (default: every type stored) its index rows and access
        keys, written ``batch`` resources per unit of work so memory stays bounded and
        an interruption loses at most one batch. ``progress(done, total)`` after every
        batch, over the resources counted at the start."""
        if batch < 1:
            raise ValueError("the batch size must be at least 1")
        if types is not None:
            counts = {type: self.count(type) for type in sorted(set(types))}
        else:  # every type stored, less those whose resources are all deleted
            counts = {type: n for type in self._stored_types() if (n := self.count(type))}
        done, total = 0, sum(counts.values())
        if progress is not None:
            progress(done, total)
        reindexed = {}
        for type in counts:
            reindexed[type], after = 0, 0
            while page := self._current_batch(type, after, batch):
                after = page[-1][0]
                updates = [IndexUpdate(v.type, v.id, v.version, *compute(v)) for _, v in page]
                reindexed[type] += self._replace_indexes(updates)
                done += len(page)
                if progress is not None:
                    progress(done, max(total, done))
        return reindexed

    @abstractmethod
    def _stored_types(self) -> list[str]:
        """Every type with a resource stored (deleted ones too: cheaper to list), sorted."""

    @abstractmethod
    def _current_batch(self, type: str, after: int, limit: int
                       ) -> list[tuple[int, StoredVersion]]:
        """Up to ``limit`` current, non-deleted versions of ``type`` after position
        ``after`` in insertion order, each with its position (the next call's ``after``)."""

    @abstractmethod
    def _replace_indexes(self, updates: list[IndexUpdate]) -> int:
        """In one unit of work, replace the index rows and access keys of each update's
        resource while its version is current and not deleted (else skip it); no
        version, timestamp or outbox event is written. Returns how many were replaced."""

    # -- the auth registry (see the module contract) ------------------------------------

    @abstractmethod
    def save_client(self, client: OAuthClient) -> None:
        """Insert ``client``, or replace the one with its ``client_id``."""

    @abstractmethod
    def get_client(self, client_id: str) -> OAuthClient | None:
        """The client registered as ``client_id``; None if there is none."""

    @abstractmethod
    def use_jti(self, issuer: str, jti: str, expires_us: int) -> bool:
        """Record assertion ``jti`` of ``issuer`` until ``expires_us``; False (nothing
        recorded) when it is already recorded and unexpired: a replay. Atomic."""

    @abstractmethod
    def add_signing_key(self, key: SigningKey) -> None:
        """Store a new signing key; ValueError when its ``kid`` is taken."""

    @abstractmethod
    def signing_keys(self) -> list[SigningKey]:
        """Every stored signing key, newest first."""

    def close(self) -> None:  # noqa: B027 - adapters without resources need no close
        """Release connections."""

    def iter_outbox(self, consumer: str, limit: int = 100) -> Iterator[OutboxEvent]:
        """Unacknowledged events of ``consumer``, oldest first (one batch)."""
        yield from self.outbox(self.outbox_position(consumer), limit)
