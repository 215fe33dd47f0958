"""Copying a whole store into another (``amparo migrate``): SQLite to MongoDB and back.

Only the storage port is used, so any adapter copies to any other. Versions go in the
source's change order (seq), in batches the target imports atomically, keeping seq,
version numbers, timestamps and outbox positions; index values and access keys travel
with each resource's current version. The target's highest seq tells where an earlier
run stopped, so an interrupted copy is resumed by running it again, never doubled.
A target is accepted only when it is empty or holds an earlier copy of this source
(its first and last versions are the source's versions at the same seq). At the end
the outbox consumers' positions, the audit trail, the timers and the subscriptions' event
logs and delivery states are copied and the counts compared: versions, and current
resources in all and per type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from server.store.port import CopiedVersion, Store


class MigrationError(ValueError):
    """The copy cannot start (unrelated target) or did not come out whole (counts)."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a run did: ``copied`` versions after seq ``resumed_after``; the figures the
    count check found equal on both sides."""

    copied: int
    resumed_after: int
    versions: int
    resources: int
    resources_by_type: dict[str, int] = field(default_factory=dict)
    consumers: dict[str, int] = field(default_factory=dict)


def migrate(source: Store, target: Store, batch: int = 1000,
            progress: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Copy ``source`` into ``target``; ``progress(done, total)`` after every batch
    (versions on the target, versions to reach). Raises MigrationError."""
    if batch < 1:
        raise ValueError("the batch size must be at least 1")
    after = resume_point(source, target)
    resumed_after = after
    done, total = target.version_count(), source.version_count()
    if progress is not None:
        progress(done, total)
    copied = 0
    while versions := source.export_versions(after, batch):
        target.import_versions(versions)
        after = versions[-1].seq
        copied += len(versions)
        done += len(versions)
        if progress is not None:
            progress(done, max(total, done))
    consumers = source.consumers()
    for name, position in consumers.items():
        target.outbox_ack(name, position)
    copy_audit_head(source, target)
    copy_timers(source, target)
    copy_subscriptions(source, target)
    versions_count, resources, by_type = check_counts(source, target)
    return MigrationReport(copied, resumed_after, versions_count, resources, by_type,
                           consumers)


def copy_audit_head(source: Store, target: Store, batch: int = 1000) -> None:
    """Copy the audit trail (its entries and head) onto the target, resuming after the
    target's last entry: without it ``amparo audit verify`` on the copy would fail."""
    head = source.audit_head()
    after = target.audit_head()[0]
    while True:
        entries = [e for e in source.audit_entries(after, batch) if e.position <= head[0]]
        if not entries:
            break
        target.import_audit(entries)
        after = entries[-1].position
    if target.audit_head() != head:
        target.import_audit([], head)


def copy_timers(source: Store, target: Store) -> None:
    """Copy every timer, in one unit of work (there is one per survivor at most whose
    Consents have a period yet to start or end)."""
    timers = source.due_timers(_NEVER, limit=_NEVER)
    with target.unit_of_work() as uow:
        for name, due_us in timers:
            uow.set_timer(name, due_us)
        uow.commit()


def copy_subscriptions(source: Store, target: Store, batch: int = 1000) -> None:
    """Copy each subscription's numbered events and where their delivery stands. Events
    are numbered again on the target in the same order, from after those it already holds
    (so a re-run adds none twice), which gives them the same numbers."""
    for delivery in source.due_deliveries(_NEVER, limit=_NEVER):
        id = delivery.subscription
        held = target.delivery(id)
        after = held.count if held is not None else 0
        while events := source.notifications(id, after, batch):
            with target.unit_of_work() as uow:
                for event in events:
                    uow.add_notification(id, event.topic, event.focus, event.at_us)
                uow.commit()
            after = events[-1].number
        with target.unit_of_work() as uow:
            uow.set_delivery(delivery)
            uow.commit()


_NEVER = 2**62  # an instant (µs) after every timer, and a limit above their number


def _identity(copied: CopiedVersion) -> tuple:
    v = copied.version
    return (copied.seq, copied.outbox_position, v.type, v.id, v.version, v.last_updated,
            v.method, v.body)


def _describe(copied: CopiedVersion | None) -> str:
    if copied is None:
        return "none"
    v = copied.version
    return f"{v.type}/{v.id} version {v.version} of {v.last_updated}"


def resume_point(source: Store, target: Store) -> int:
    """The seq to copy after: the target's highest, once the target's versions are
    checked to be the start of the source's (its first and last are the source's)."""
    last = target.last_seq()
    if last == 0:
        return 0
    for probe in (0, last - 1):
        mine = next(iter(target.export_versions(probe, 1)), None)
        theirs = next(iter(source.export_versions(probe, 1)), None)
        if mine is None or theirs is None or _identity(mine) != _identity(theirs):
            raise MigrationError(
                f"the target holds data that is not from this source (after seq {probe} "
                f"it has {_describe(mine)}, the source {_describe(theirs)}): migrate into "
                "an empty store, or into an earlier copy of this source to resume it")
    return last


def check_counts(source: Store, target: Store) -> tuple[int, int, dict[str, int]]:
    """Versions, current resources and current resources per type, equal on both sides
    (else MigrationError with the figures that differ). Per type over the R4B resource
    types; the overall count covers any other."""
    from server.search.definitions import resource_types

    mismatches = []
    versions = source.version_count(), target.version_count()
    resources = source.count(), target.count()
    for what, (mine, theirs) in (("versions", versions), ("resources", resources)):
        if mine != theirs:
            mismatches.append(f"{what}: source {mine}, target {theirs}")
    by_type = {}
    for type in sorted(resource_types()):
        mine, theirs = source.count(type), target.count(type)
        if mine != theirs:
            mismatches.append(f"{type}: source {mine}, target {theirs}")
        if mine:
            by_type[type] = mine
    if mismatches:
        raise MigrationError("count check failed: " + "; ".join(mismatches))
    return versions[0], resources[0], by_type
