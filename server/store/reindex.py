"""Rebuilding the search index of stored resources (``amparo reindex``).

Index values and access keys are computed when a version is written
(``Repository.prepare``), so resources stored before a search parameter was added
(the implementation guide gained one) or before an extraction rule was fixed lack the
values a search now looks for. ``reindex`` recomputes them for every current,
non-deleted resource with the same two functions a write uses (``extract`` and
``AccessGate.access_keys``) and has the store replace them in place through the port's
``Store.reindex``: no new version, the same ``meta.lastUpdated``, no outbox event (no
resource changes, so no worker has anything to do). Batches commit one by one; an
interrupted run is simply run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from server.access import AccessGate
from server.search.extract import extract
from server.search.index import ResourceIndex
from server.store.port import Reader, Store, StoredVersion

#: Resources per unit of work: bounds memory and how long each batch holds the writer.
BATCH = 500


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a run did: resources reindexed per type and in all, and how long it took.
    A resource written while the run went on is not counted: its write indexed it."""

    reindexed: dict[str, int] = field(default_factory=dict)
    total: int = 0
    seconds: float = 0.0


def recompute(version: StoredVersion, gate: AccessGate | None = None,
              reader: Reader | None = None) -> tuple[ResourceIndex, frozenset[str]]:
    """The index rows and access keys of a stored version, as a write computes them
    (the stored body already carries its ``meta``; the survivor's record is read
    through ``reader``)."""
    resource = orjson.loads(version.body)
    return extract(resource), (gate or AccessGate(reader)).access_keys(resource, reader)


def reindex(store: Store, types: Iterable[str] | None = None, batch: int = BATCH,
            progress: Callable[[int, int], None] | None = None) -> ReindexReport:
    """Reindex the current, non-deleted resources of ``types`` (default: all);
    ``progress(done, total)`` after every batch."""
    gate = AccessGate(store)
    started = time.monotonic()
    by_type = store.reindex(lambda version: recompute(version, gate, store), types, batch,
                            progress)
    return ReindexReport(by_type, sum(by_type.values()), round(time.monotonic() - started, 3))
