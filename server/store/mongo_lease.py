"""Leases and fenced acknowledgements for the MongoDB adapter (the port's contract,
"Leases"), as functions over a pymongo ``Database``; ``MongoStore`` delegates to them.

Collection ``leases``: ``{_id: name, owner, token, expires_us, acks}`` (owner None once
released; the document stays so the next holder's token continues from it).

Taking a lease is one ``find_one_and_update`` whose filter matches only a lease that is
the caller's or expired, with ``upsert``: MongoDB applies it to the document atomically,
so of several processes racing for an expired lease one updates it and the others no
longer match; their upsert then collides with the existing ``_id`` (DuplicateKeyError),
which means "held by someone else". The update is a pipeline so that the token grows
only when the lease changes hands (a renewal keeps it).

The fencing check of ``ack`` *writes* the lease document (``acks`` + 1) rather than
reading it: inside the unit of work's transaction that write conflicts with any
concurrent take-over, so either the take-over waits for the transaction or the
transaction aborts; a mere read would not conflict (snapshot isolation allows that
write skew). Without a session (a standalone server, or mongomock in tests) there is no
transaction and the check and the acknowledgement are two separate writes.

Expiry is wall-clock time of the calling process (``server/clock.py``): the machines
sharing a store must keep their clocks in sync (NTP) to well within the lease's ttl.
"""

from __future__ import annotations

from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from server import clock
from server.store.port import Lease, LeaseLost


def acquire(db: Database, name: str, owner: str, ttl_seconds: float) -> Lease | None:
    """Take or renew lease ``name``; None if held by another owner and unexpired."""
    if not owner:
        raise ValueError("a lease needs a non-empty owner")
    _, now = clock.now()
    expires = now + int(ttl_seconds * 1_000_000)
    same_owner = {"$eq": ["$owner", owner]}
    update = [{"$set": {
        "token": {"$cond": [same_owner, "$token",
                            {"$add": [{"$ifNull": ["$token", 0]}, 1]}]},
        "owner": owner,
        "expires_us": expires,
    }}]
    try:
        doc = db.leases.find_one_and_update(
            {"_id": name, "$or": [{"owner": owner}, {"expires_us": {"$lte": now}}]},
            update, upsert=True, return_document=ReturnDocument.AFTER)
    except DuplicateKeyError:  # the lease exists and is another owner's, unexpired
        return None
    return Lease(name, owner, doc["token"], doc["expires_us"])


def release(db: Database, lease: Lease) -> None:
    """Free ``lease`` if it is still held with its token."""
    db.leases.update_one({"_id": lease.name, "owner": lease.owner, "token": lease.token},
                         {"$set": {"owner": None, "expires_us": 0}})


def ack(db: Database, session: ClientSession | None, consumer: str, position: int,
        lease: Lease | None = None) -> None:
    """Acknowledge ``position`` in the unit of work's ``session`` (None: no transaction),
    after fencing on ``lease`` if given; never moves a consumer's position back."""
    if lease is not None:
        fenced = db.leases.update_one(
            {"_id": lease.name, "owner": lease.owner, "token": lease.token},
            {"$inc": {"acks": 1}}, session=session)
        if fenced.matched_count == 0:
            raise LeaseLost(f"lease {lease.name!r} is no longer held with token {lease.token}")
    db.outbox_consumers.update_one({"_id": consumer}, {"$max": {"position": position}},
                                   upsert=True, session=session)
