"""The SQLite adapter of the storage port: one file, WAL, one connection per thread.

Writers are serialised (the port's "units of work are serialised") and commit in groups
(``sqlite_commit.py``): one write lock per process, one lock file across processes, so
the autoincrement positions of ``resource_version`` and ``outbox`` follow commit order.
Readers never block writers (WAL) and never see a group before it commits.

Durability ("group", the default): SQLite commits without syncing
(``synchronous=NORMAL``) and the committing thread flushes the WAL to disk after
letting go of the locks, before any unit of work of the group returns: nothing is
acknowledged to a client before it is on disk, yet the flush is outside the serialised
section. ``durability="full"`` makes SQLite sync inside the commit
(``synchronous=FULL``). Either way an application crash loses nothing committed; with
"group" a power loss in the instant between commit and flush can lose a transaction
whose client was never answered.

Checkpoints (copying the WAL into the database file) run on a background thread of each
process rather than inside whichever commit crosses SQLite's auto-checkpoint threshold,
which would stall every writer behind it; pages rewritten many times between two
checkpoints are then copied once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path

from server.search.index import ResourceIndex
from server.search.query import HistoryQuery, SearchQuery
from server.store import (
    sqlite_audit,
    sqlite_auth,
    sqlite_copy,
    sqlite_exports,
    sqlite_lease,
    sqlite_reindex,
    sqlite_search,
    sqlite_subscriptions,
)
from server.store.port import (
    UNRESTRICTED,
    AccessFilter,
    AccessKeys,
    AuditEntry,
    AuditPage,
    AuditQuery,
    CopiedVersion,
    Delivery,
    ExportJob,
    HistoryPage,
    IndexUpdate,
    Lease,
    NewVersion,
    Notification,
    OAuthClient,
    OutboxEvent,
    SearchPage,
    SigningKey,
    Store,
    StoredVersion,
    UnitOfWork,
)
from server.store.sqlite_commit import GroupCommitter

_READ_CURRENT = (
    "SELECT r.rid, r.version, r.last_updated, r.deleted, v.body, v.method FROM resource r "
    "JOIN resource_version v ON v.rid = r.rid AND v.version = r.version "
    "WHERE r.type = ? AND r.id = ?"
)
_INDEX_INSERTS = {
    "tokens": "INSERT INTO idx_token (rid, type, param, system, code, text) VALUES (?,?,?,?,?,?)",
    "strings": "INSERT INTO idx_string (rid, type, param, normalized, exact) VALUES (?,?,?,?,?)",
    "references": "INSERT INTO idx_reference (rid, type, param, target_type, target_id, version,"
                  " url) VALUES (?,?,?,?,?,?,?)",
    "dates": "INSERT INTO idx_date (rid, type, param, low, high) VALUES (?,?,?,?,?)",
    "numbers": "INSERT INTO idx_number (rid, type, param, value, low, high) VALUES (?,?,?,?,?,?)",
    "quantities": "INSERT INTO idx_quantity (rid, type, param, system, code, unit, value, low,"
                  " high) VALUES (?,?,?,?,?,?,?,?,?)",
    "uris": "INSERT INTO idx_uri (rid, type, param, uri) VALUES (?,?,?,?)",
    "composites": "INSERT INTO idx_composite (rid, type, param, a_k1, a_k2, a_k3, a_value, a_low,"
                  " a_high, b_k1, b_k2, b_k3, b_value, b_low, b_high)"
                  " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
}
_BUFFERED = {
    **_INDEX_INSERTS,
    "access": "INSERT INTO resource_access (key, rid, basis) VALUES (?, ?, ?)",
    "outbox": "INSERT INTO outbox (type, id, version, method, at) VALUES (?,?,?,?,?)",
    "audit": sqlite_audit.INSERT,
}
_IN_LIST = 500  # rids per IN (...) list, well below SQLite's variable limit
_INDEX_TABLES = ("idx_token", "idx_string", "idx_reference", "idx_date", "idx_number",
                 "idx_quantity", "idx_uri", "idx_composite", "resource_access")


def _rules(basis: str) -> tuple[str, ...]:
    """The distinct rules of the space-separated bases of the keys a read met."""
    return tuple(sorted(set(basis.split())))


def path_of(url: str) -> Path:
    """``sqlite:///relative.db`` or ``sqlite:////absolute.db`` -> file path."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"not an sqlite store URL: {url!r}")
    return Path(url[len("sqlite:///"):])


class _SqliteReads:
    """Reads shared by the store (own snapshot) and a unit of work (its transaction)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def read(self, type: str, id: str) -> StoredVersion | None:
        row = self._conn().execute(_READ_CURRENT, (type, id)).fetchone()
        if row is None:
            return None
        return StoredVersion(type, id, row[1], row[2], bool(row[3]), row[4], row[5])

    def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        row = self._conn().execute(
            "SELECT v.version, v.last_updated, v.deleted, v.body, v.method FROM resource r "
            "JOIN resource_version v ON v.rid = r.rid WHERE r.type = ? AND r.id = ? "
            "AND v.version = ?", (type, id, version)).fetchone()
        if row is None:
            return None
        return StoredVersion(type, id, row[0], row[1], bool(row[2]), row[3], row[4])

    def history(self, query: HistoryQuery, access: AccessFilter = UNRESTRICTED) -> HistoryPage:
        return sqlite_search.history(self._conn(), query, access)

    def delivery(self, subscription: str) -> Delivery | None:
        return sqlite_subscriptions.delivery(self._conn(), subscription)

    def export_job(self, id: str) -> ExportJob | None:
        return sqlite_exports.get(self._conn(), id)

    def read_visible(self, type: str, id: str, access: AccessFilter) -> StoredVersion | None:
        if access.keys is None:
            return self.read(type, id)
        keys = sorted(access.keys)
        row = self._conn().execute(
            _READ_CURRENT.replace(" FROM", ", (SELECT group_concat(a.basis, ' ') FROM "
                                  "resource_access a WHERE a.rid = r.rid AND a.key IN "
                                  f"({','.join('?' * len(keys))})) FROM", 1),
            (*keys, type, id)).fetchone()
        if row is None or row[6] is None:
            return None
        return StoredVersion(type, id, row[1], row[2], bool(row[3]), row[4], row[5],
                             _rules(row[6]))

    def basis(self, refs: Iterable[tuple[str, str]],
              access: AccessFilter) -> dict[tuple[str, str], tuple[str, ...]]:
        refs = list(dict.fromkeys(refs))
        if access.keys is None or not refs:
            return {}
        keys = sorted(access.keys)
        found: dict[tuple[str, str], tuple[str, ...]] = {}
        for start in range(0, len(refs), _IN_LIST // 2):
            chunk = refs[start:start + _IN_LIST // 2]
            pairs = " OR ".join(["(r.type = ? AND r.id = ?)"] * len(chunk))
            # CROSS JOIN: SQLite must start from the given resources (their (type, id)
            # key) and probe each one's keys; left to itself it walks every resource a
            # key covers (all of an institution's records) for each chunk.
            for type, id, rules in self._conn().execute(
                    "SELECT r.type, r.id, group_concat(a.basis, ' ') FROM resource r "
                    f"CROSS JOIN resource_access a ON a.rid = r.rid WHERE ({pairs}) AND a.key IN "
                    f"({','.join('?' * len(keys))}) GROUP BY r.rid",
                    (*(v for ref in chunk for v in ref), *keys)):
                found[type, id] = _rules(rules)
        return found

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        if access.keys is None:
            return True
        keys = sorted(access.keys)
        row = self._conn().execute(
            "SELECT 1 FROM resource r JOIN resource_access a ON a.rid = r.rid "
            f"WHERE r.type = ? AND r.id = ? AND a.key IN ({','.join('?' * len(keys))}) "
            "LIMIT 1", (type, id, *keys)).fetchone()
        return row is not None


class SqliteStore(_SqliteReads, Store):
    def __init__(self, url: str, durability: str = "group"):
        if durability not in ("group", "full"):
            raise ValueError(f"unknown SQLite durability {durability!r}: use group or full")
        self.url = url
        self.path = path_of(url)
        self.durability = durability
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = GroupCommitter(self._connect, f"{self.path}.lock",
                                      self._sync_wal if durability == "group" else None)
        self._checkpointer: Checkpointer | None = None

    # -- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=" + ("FULL" if self.durability == "full"
                                               else "NORMAL"))
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA mmap_size=268435456")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
        conn.execute("PRAGMA journal_size_limit=67108864")  # a reset WAL shrinks to 64 MB
        with self._lock:
            self._connections.append(conn)
        return conn

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self._writer.close()
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def init(self) -> None:
        script = resources.files("server.store").joinpath("schema.sql").read_text("utf-8")
        conn = self._conn()
        conn.executescript(script)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(resource_access)")}
        if "basis" not in columns:  # a store made before the trail recorded the basis
            conn.execute("ALTER TABLE resource_access ADD COLUMN basis TEXT NOT NULL "
                         "DEFAULT ''")

    # -- writes ----------------------------------------------------------------------

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        if getattr(self._local, "in_unit", False):
            raise RuntimeError("a unit of work is already open on this thread")
        if self._checkpointer is None:
            with self._lock:
                if self._checkpointer is None:
                    self._checkpointer = Checkpointer(self.path)
        self._local.in_unit = True
        try:
            uow: SqliteUnitOfWork | None = None
            with self._writer.unit(lambda: uow is not None and uow.committed) as conn:
                uow = SqliteUnitOfWork(conn)
                yield uow
        finally:
            self._local.in_unit = False

    def _sync_wal(self) -> None:
        """Flush the WAL to disk (fsync works on the file, whichever descriptor wrote it)."""
        try:
            wal = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:  # checkpointed and removed: already in the database file
            return
        try:
            os.fsync(wal)
        finally:
            os.close(wal)

    # -- reads -------------------------------------------------------------------------

    def search(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED) -> SearchPage:
        conn = self._conn()  # never inside a unit of work: those use the writer connection
        conn.execute("BEGIN")  # one snapshot for the page and its total
        try:
            return sqlite_search.search(conn, query, access)
        finally:
            conn.execute("COMMIT")

    def count(self, type: str | None = None) -> int:
        sql, args = "SELECT count(*) FROM resource WHERE deleted = 0", ()
        if type is not None:
            sql, args = sql + " AND type = ?", (type,)
        return self._conn().execute(sql, args).fetchone()[0]

    # -- outbox ------------------------------------------------------------------------

    def outbox(self, after: int, limit: int = 100) -> list[OutboxEvent]:
        rows = self._conn().execute(
            "SELECT position, type, id, version, method, at FROM outbox WHERE position > ? "
            "ORDER BY position LIMIT ?", (after, limit)).fetchall()
        return [OutboxEvent(*row) for row in rows]

    def due_timers(self, before_us: int, limit: int = 100) -> list[tuple[str, int]]:
        return self._conn().execute(
            "SELECT name, due_us FROM timer WHERE due_us < ? ORDER BY due_us, name LIMIT ?",
            (before_us, limit)).fetchall()

    def outbox_position(self, consumer: str) -> int:
        row = self._conn().execute(
            "SELECT position FROM outbox_consumer WHERE name = ?", (consumer,)).fetchone()
        return row[0] if row else 0

    def outbox_ack(self, consumer: str, position: int) -> None:
        self._conn().execute(
            "INSERT INTO outbox_consumer (name, position) VALUES (?, ?) ON CONFLICT (name) "
            "DO UPDATE SET position = max(position, excluded.position)", (consumer, position))

    # -- subscriptions (sqlite_subscriptions.py) ---------------------------------------

    def notifications(self, subscription: str, after: int,
                      limit: int = 100) -> list[Notification]:
        return sqlite_subscriptions.notifications(self._conn(), subscription, after, limit)

    def due_deliveries(self, now_us: int, limit: int = 100) -> list[Delivery]:
        return sqlite_subscriptions.due_deliveries(self._conn(), now_us, limit)

    # -- bulk exports (sqlite_exports.py) ----------------------------------------------

    def export_jobs(self, statuses: tuple[str, ...] = (), client_id: str | None = None,
                    expires_before: int | None = None, limit: int = 100) -> list[ExportJob]:
        return sqlite_exports.jobs(self._conn(), statuses, client_id, expires_before, limit)

    # -- the audit trail (sqlite_audit.py) -------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        return sqlite_audit.head(self._conn())

    def audit_entries(self, after: int, limit: int) -> list[AuditEntry]:
        return sqlite_audit.entries(self._conn(), after, limit)

    def audit_entry(self, id: str) -> AuditEntry | None:
        return sqlite_audit.entry(self._conn(), id)

    def audit_search(self, query: AuditQuery) -> AuditPage:
        return sqlite_audit.search(self._conn(), query)

    def import_audit(self, entries: list[AuditEntry],
                     head: tuple[int, str] | None = None) -> None:
        with self.unit_of_work() as uow:
            sqlite_audit.import_entries(uow.conn, entries, head)
            uow.commit()

    # -- leases (sqlite_lease.py) ------------------------------------------------------

    # Through a unit of work: the group committer's queue hands the write lock over in
    # turn, where a lone autocommit statement would wait in SQLite's busy handler and lose
    # to every group under write load (renewals starved, the holder's work stalled).

    def acquire_lease(self, name: str, owner: str, ttl_seconds: float) -> Lease | None:
        with self.unit_of_work() as uow:
            lease = sqlite_lease.acquire(uow.conn, name, owner, ttl_seconds)
            uow.commit()
        return lease

    def release_lease(self, lease: Lease) -> None:
        with self.unit_of_work() as uow:
            sqlite_lease.release(uow.conn, lease)
            uow.commit()

    # -- the auth registry (sqlite_auth.py) --------------------------------------------

    def save_client(self, client: OAuthClient) -> None:
        sqlite_auth.save_client(self._conn(), client)

    def get_client(self, client_id: str) -> OAuthClient | None:
        return sqlite_auth.get_client(self._conn(), client_id)

    def use_jti(self, issuer: str, jti: str, expires_us: int) -> bool:
        return sqlite_auth.use_jti(self._conn(), issuer, jti, expires_us)

    def add_signing_key(self, key: SigningKey) -> None:
        sqlite_auth.add_signing_key(self._conn(), key)

    def signing_keys(self) -> list[SigningKey]:
        return sqlite_auth.signing_keys(self._conn())

    # -- reindexing (sqlite_reindex.py) ------------------------------------------------

    def _stored_types(self) -> list[str]:
        return sqlite_reindex.stored_types(self._conn())

    def _current_batch(self, type: str, after: int, limit: int
                       ) -> list[tuple[int, StoredVersion]]:
        return sqlite_reindex.current_batch(self._conn(), type, after, limit)

    def _replace_indexes(self, updates: list[IndexUpdate]) -> int:
        with self.unit_of_work() as uow:  # serialised and atomic like any write
            replaced = sqlite_reindex.replace_indexes(uow, updates)
            uow.commit()
        return replaced

    # -- copying (sqlite_copy.py) ------------------------------------------------------

    def export_versions(self, after_seq: int, limit: int) -> list[CopiedVersion]:
        return sqlite_copy.export_versions(self._conn(), after_seq, limit)

    def import_versions(self, batch: list[CopiedVersion]) -> None:
        with self.unit_of_work() as uow:  # serialised and atomic like any write
            sqlite_copy.import_versions(uow.conn, batch)
            uow.commit()

    def last_seq(self) -> int:
        return sqlite_copy.last_seq(self._conn())

    def version_count(self) -> int:
        return sqlite_copy.version_count(self._conn())

    def consumers(self) -> dict[str, int]:
        return sqlite_copy.consumers(self._conn())


class Checkpointer:
    """Checkpoints the WAL every ``interval`` seconds: PASSIVE (never blocks writers), or
    TRUNCATE once the WAL has grown past ``limit`` bytes so it cannot grow without bound
    under constant load. A PASSIVE checkpoint cannot reset a WAL that writers keep
    appending to, so under sustained ingest the WAL grows to ``limit``; the TRUNCATE
    then stalls writers while it copies, which is why the limit is generous (a 64 MB
    limit tripled the p99 latency of ingest)."""

    def __init__(self, path: Path, interval: float = 1.0, limit: int = 256 * 1024 * 1024):
        self.path, self.interval, self.limit = path, interval, limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="amparo-checkpoint",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60,
                               check_same_thread=False)
        try:
            while not self._stop.wait(self.interval):
                try:
                    size = os.path.getsize(f"{self.path}-wal")
                except OSError:
                    continue
                mode = "TRUNCATE" if size > self.limit else "PASSIVE"
                with suppress(sqlite3.OperationalError):  # busy: the next round does it
                    conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class SqliteUnitOfWork(_SqliteReads, UnitOfWork):
    """Writes version rows at once and buffers index, access and outbox rows, flushed
    with one ``executemany`` per table before any search of the unit and at commit (a
    transaction bundle of N resources costs a handful of statements, not N times as
    many: the write lock is held for less time)."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.committed = False
        self._pending: dict[str, list[tuple]] = {}
        self._access: dict[int, AccessKeys] = {}  # buffered access keys, by rid
        #: (type, id) -> (rid, version) of what this unit wrote, while its keys are buffered
        self._written: dict[tuple[str, str], tuple[int, int]] = {}
        self._audit: tuple[int, str] | None = None  # the head, read once per unit
        self._head_moved = False

    def _conn(self) -> sqlite3.Connection:
        return self.conn

    def search(self, query: SearchQuery, access: AccessFilter = UNRESTRICTED) -> SearchPage:
        self._flush()
        return sqlite_search.search(self.conn, query, access)

    def history(self, query: HistoryQuery, access: AccessFilter = UNRESTRICTED) -> HistoryPage:
        self._flush()  # the filter reads this unit's buffered access keys
        return sqlite_search.history(self.conn, query, access)

    def readable(self, type: str, id: str, access: AccessFilter) -> bool:
        self._flush()  # this unit's buffered access keys may be the resource's
        return super().readable(type, id, access)

    def read_visible(self, type: str, id: str, access: AccessFilter) -> StoredVersion | None:
        self._flush()
        return super().read_visible(type, id, access)

    def basis(self, refs: Iterable[tuple[str, str]],
              access: AccessFilter) -> dict[tuple[str, str], tuple[str, ...]]:
        self._flush()
        return super().basis(refs, access)

    def write(self, version: NewVersion) -> None:
        conn = self.conn
        deleted = int(version.deleted)
        if version.version == 1:
            try:
                rid = conn.execute(
                    "INSERT INTO resource (type, id, version, last_updated, lu_us, deleted) "
                    "VALUES (?,?,?,?,?,?)", (version.type, version.id, 1, version.last_updated,
                                             version.updated_us, deleted)).lastrowid
            except sqlite3.IntegrityError:
                raise ValueError(f"{version.type}/{version.id} exists: version 1 is taken")\
                    from None
        else:
            row = conn.execute("SELECT rid, version FROM resource WHERE type = ? AND id = ?",
                               (version.type, version.id)).fetchone()
            if row is None or version.version != row[1] + 1:
                raise ValueError(f"{version.type}/{version.id}: version {version.version} "
                                 "does not follow the current one")
            rid = row[0]
            conn.execute("UPDATE resource SET version = ?, last_updated = ?, lu_us = ?, "
                         "deleted = ? WHERE rid = ?", (version.version, version.last_updated,
                                                       version.updated_us, deleted, rid))
            self.clear_indexes([rid])
        conn.execute(
            "INSERT INTO resource_version (rid, type, version, last_updated, lu_us, method, "
            "deleted, body) VALUES (?,?,?,?,?,?,?,?)",
            (rid, version.type, version.version, version.last_updated, version.updated_us,
             version.method, deleted, version.body))
        self.buffer_index(rid, version.type, None if deleted else version.index,
                          version.access_keys)
        if deleted:
            self._written.pop((version.type, version.id), None)
        else:
            self._written[version.type, version.id] = (rid, version.version)
        self._pending.setdefault("outbox", []).append(
            (version.type, version.id, version.version, version.method, version.last_updated))

    def set_timer(self, name: str, due_us: int | None) -> None:
        if due_us is None:
            self.conn.execute("DELETE FROM timer WHERE name = ?", (name,))
        else:
            self.conn.execute("INSERT OR REPLACE INTO timer (name, due_us) VALUES (?, ?)",
                              (name, due_us))

    def timer(self, name: str) -> int | None:
        row = self.conn.execute("SELECT due_us FROM timer WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def add_notification(self, subscription: str, topic: str, focus: str, at_us: int) -> int:
        return sqlite_subscriptions.add_notification(self.conn, subscription, topic, focus,
                                                     at_us)

    def set_delivery(self, delivery: Delivery) -> None:
        sqlite_subscriptions.set_delivery(self.conn, delivery)

    def save_export_job(self, job: ExportJob) -> None:
        sqlite_exports.save(self.conn, job)

    def delete_export_job(self, id: str) -> None:
        sqlite_exports.delete(self.conn, id)

    def set_access_keys(self, type: str, id: str, version: int,
                        keys: AccessKeys) -> bool:
        written = self._written.get((type, id))
        if written is not None and written[1] == version and written[0] in self._access:
            self._access[written[0]] = keys  # written by this unit, keys still buffered
            return True
        self._flush()  # buffered rows may be this resource's
        row = self.conn.execute("SELECT rid, version, deleted FROM resource WHERE type = ? "
                                "AND id = ?", (type, id)).fetchone()
        if row is None or row[1] != version or row[2]:
            return False
        self.conn.execute("DELETE FROM resource_access WHERE rid = ?", (row[0],))
        self.conn.executemany(_BUFFERED["access"],
                              [(key, row[0], basis) for key, basis in keys.items()])
        return True

    def clear_indexes(self, rids: list[int]) -> None:
        """Delete the index rows and access keys of ``rids`` (buffered rows first, which
        may be theirs). Used by ``write`` and ``sqlite_reindex.py``."""
        self._flush()
        for start in range(0, len(rids), _IN_LIST):
            chunk = rids[start:start + _IN_LIST]
            marks = ",".join("?" * len(chunk))
            for table in _INDEX_TABLES:
                self.conn.execute(f"DELETE FROM {table} WHERE rid IN ({marks})", chunk)

    def buffer_index(self, rid: int, type: str, index: ResourceIndex | None,
                     access_keys: AccessKeys) -> None:
        """Buffer the index rows and access keys of ``rid`` (flushed by ``_flush``)."""
        pending = self._pending
        if index is not None:
            head = (rid, type)
            for kind in _INDEX_INSERTS:
                rows = getattr(index, kind)
                if rows:
                    pending.setdefault(kind, []).extend(head + row for row in rows)
        if access_keys:
            self._access[rid] = access_keys

    def _flush(self) -> None:
        for kind, rows in self._pending.items():
            self.conn.executemany(_BUFFERED[kind], rows)
        self._pending = {}
        if self._access:
            self.conn.executemany(_BUFFERED["access"], [
                (key, rid, basis) for rid, keys in self._access.items()
                for key, basis in keys.items()])
            self._access = {}
        if self._head_moved:
            sqlite_audit.set_head(self.conn, *self._audit)
            self._head_moved = False

    def commit(self) -> None:
        """Keep this unit's writes: they commit with its group (``sqlite_commit.py``)."""
        self._flush()
        self.committed = True

    def ack(self, consumer: str, position: int, lease: Lease | None = None) -> None:
        sqlite_lease.ack(self.conn, consumer, position, lease)

    def audit_head(self) -> tuple[int, str]:
        if self._audit is None:
            self._audit = sqlite_audit.head(self.conn)
        return self._audit

    def append_audit(self, entry: AuditEntry, hash: str) -> None:
        # buffered like index rows: one insert for many events, the head moved once
        self._pending.setdefault("audit", []).append(sqlite_audit.row(entry))
        self._audit = (entry.position, hash)
        self._head_moved = True
