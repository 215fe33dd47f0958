"""Subscription event logs and delivery states for the MongoDB adapter (the port's
contract, "Subscriptions"), as functions over a pymongo ``Database``; ``MongoStore``
and ``MongoUnitOfWork`` delegate to them.

Collections:

- ``deliveries``: one document per subscription, ``_id`` its id, with the fields of
  ``port.Delivery`` and ``backlog``: whether it is healthy with events not yet
  delivered, kept with every write so that ``due_deliveries`` is an indexed ``$or``
  of two ranges (MongoDB cannot index the comparison of two fields).
- ``notifications``: one document per event, ``_id`` ``<subscription>/<number>``
  (unambiguous: the number holds no ``/``), read by subscription and number.

The writes read the delivery document and replace it, which is safe because they run
in a unit of work, and units are serialised (the writer document, ``mongo.py``): no
other unit can number an event of the same subscription in between.
"""

from __future__ import annotations

from dataclasses import replace

from pymongo.client_session import ClientSession
from pymongo.database import Database

from server.store.port import Delivery, Notification

COLLECTIONS = ("deliveries", "notifications")


def init(db: Database) -> None:
    db.deliveries.create_index([("due", 1), ("_id", 1)], name="due")
    db.deliveries.create_index([("backlog", 1), ("due", 1), ("_id", 1)], name="backlog_due")
    # not unique: a sharded collection allows no unique index but on its shard key (the
    # _id already keeps each number once)
    db.notifications.create_index([("sub", 1), ("n", 1)], name="sub_n")


def event_id(subscription: str, number: int) -> str:
    return f"{subscription}/{number}"


def add_notification(db: Database, session: ClientSession | None, subscription: str,
                     topic: str, focus: str, at_us: int) -> int:
    """Inside a unit of work: append the subscription's next event; its number."""
    current = delivery(db, subscription, session) or Delivery(subscription)
    number = current.count + 1
    _save(db, session, replace(current, count=number))
    db.notifications.insert_one({"_id": event_id(subscription, number), "sub": subscription,
                                 "n": number, "topic": topic, "focus": focus, "at": at_us},
                                session=session)
    return number


def set_delivery(db: Database, session: ClientSession | None, new: Delivery) -> None:
    """Inside a unit of work: store all of ``new`` but its count."""
    current = delivery(db, new.subscription, session)
    _save(db, session, replace(new, count=current.count if current else 0))


def delivery(db: Database, subscription: str,
             session: ClientSession | None = None) -> Delivery | None:
    doc = db.deliveries.find_one({"_id": subscription}, session=session)
    return _delivery(doc) if doc else None


def notifications(db: Database, subscription: str, after: int,
                  limit: int) -> list[Notification]:
    docs = db.notifications.find({"sub": subscription, "n": {"$gt": after}},
                                 sort=[("n", 1)], limit=limit)
    return [Notification(d["sub"], d["n"], d["topic"], d["focus"], d["at"]) for d in docs]


def due_deliveries(db: Database, now_us: int, limit: int) -> list[Delivery]:
    docs = db.deliveries.find({"$or": [{"due": {"$lte": now_us}}, {"backlog": True}]},
                              sort=[("due", 1), ("_id", 1)], limit=limit)
    return [_delivery(doc) for doc in docs]


def _save(db: Database, session: ClientSession | None, d: Delivery) -> None:
    db.deliveries.replace_one({"_id": d.subscription}, {
        "count": d.count, "delivered": d.delivered, "due": d.due_us,
        "failing_since": d.failing_since_us, "attempts": d.attempts,
        "backlog": d.count > d.delivered and d.failing_since_us is None,
    }, upsert=True, session=session)


def _delivery(doc: dict) -> Delivery:
    return Delivery(doc["_id"], doc["count"], doc["delivered"], doc["due"],
                    doc["failing_since"], doc["attempts"])
