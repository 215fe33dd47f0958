"""Bulk export jobs for the MongoDB adapter (the port's contract, "Bulk exports"), as
functions over a pymongo ``Database``; ``MongoStore`` and ``MongoUnitOfWork`` delegate
to them.

Collection ``exports``: one document per job, ``_id`` its id, with ``client``,
``status``, ``created``, ``expires`` and ``body`` (the bytes given, stored as BSON
binary). Writes take the unit of work's session, so a worker's progress commits with
its lease check (``mongo_lease.ack``) or not at all.
"""

from __future__ import annotations

from pymongo.client_session import ClientSession
from pymongo.database import Database

from server.store.port import ExportJob

COLLECTION = "exports"


def init(db: Database) -> None:
    db.exports.create_index([("status", 1), ("created", 1), ("_id", 1)], name="status")
    db.exports.create_index([("client", 1), ("status", 1)], name="client")


def document(job: ExportJob) -> dict:
    return {"_id": job.id, "client": job.client_id, "status": job.status,
            "created": job.created_us, "expires": job.expires_us, "body": job.body}


def save(db: Database, session: ClientSession | None, job: ExportJob) -> None:
    db.exports.replace_one({"_id": job.id}, document(job), upsert=True, session=session)


def delete(db: Database, session: ClientSession | None, id: str) -> None:
    db.exports.delete_one({"_id": id}, session=session)


def get(db: Database, id: str, session: ClientSession | None = None) -> ExportJob | None:
    doc = db.exports.find_one({"_id": id}, session=session)
    return _job(doc) if doc else None


def jobs(db: Database, statuses: tuple[str, ...], client_id: str | None,
         expires_before: int | None, limit: int) -> list[ExportJob]:
    filter: dict = {}
    if statuses:
        filter["status"] = {"$in": list(statuses)}
    if client_id is not None:
        filter["client"] = client_id
    if expires_before is not None:
        filter["expires"] = {"$gt": 0, "$lt": expires_before}
    docs = db.exports.find(filter, sort=[("created", 1), ("_id", 1)], limit=limit)
    return [_job(doc) for doc in docs]


def _job(doc: dict) -> ExportJob:
    return ExportJob(doc["_id"], doc["client"], doc["status"], doc["created"],
                     doc["expires"], bytes(doc["body"]))
