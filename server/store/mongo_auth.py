"""The auth registry of the MongoDB adapter (the port's contract, "The auth registry"),
as functions over a pymongo ``Database``; ``MongoStore`` delegates to them.

Collections: ``clients`` (``_id`` the client id), ``jtis`` (``_id`` ``<length of the
issuer>:<issuer>:<jti>``, unambiguous whatever either holds, with ``expires_us``) and
``signing_keys`` (``_id`` the kid). Recording a ``jti`` is one
``update_one`` with ``upsert`` whose filter matches only an expired record: of several
processes racing with one jti, one inserts and the others collide with the existing
``_id`` (DuplicateKeyError), which means "already used".
"""

from __future__ import annotations

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from server import clock
from server.store.port import OAuthClient, SigningKey


def init(db: Database) -> None:
    db.jtis.create_index([("expires_us", 1)], name="expires")
    db.signing_keys.create_index([("created_us", -1)], name="created")


def save_client(db: Database, client: OAuthClient) -> None:
    db.clients.replace_one({"_id": client.client_id}, {
        "_id": client.client_id, "institution": client.institution, "name": client.name,
        "scopes": list(client.scopes), "purposes": list(client.purposes),
        "secret_hash": client.secret_hash, "jwks": client.jwks,
        "created_us": client.created_us, "active": client.active}, upsert=True)


def get_client(db: Database, client_id: str) -> OAuthClient | None:
    doc = db.clients.find_one({"_id": client_id})
    if doc is None:
        return None
    return OAuthClient(doc["_id"], doc["institution"], doc["name"], tuple(doc["scopes"]),
                       tuple(doc["purposes"]), doc.get("secret_hash"), doc.get("jwks"),
                       doc.get("created_us", 0), bool(doc.get("active", True)))


def use_jti(db: Database, issuer: str, jti: str, expires_us: int) -> bool:
    _, now = clock.now()
    db.jtis.delete_many({"expires_us": {"$lte": now}})
    try:
        db.jtis.update_one({"_id": f"{len(issuer)}:{issuer}:{jti}", "expires_us": {"$lte": now}},
                           {"$set": {"expires_us": expires_us}}, upsert=True)
    except DuplicateKeyError:  # recorded and unexpired: a replay
        return False
    return True


def add_signing_key(db: Database, key: SigningKey) -> None:
    try:
        db.signing_keys.insert_one({"_id": key.kid, "private_jwk": key.private_jwk,
                                    "created_us": key.created_us})
    except DuplicateKeyError:
        raise ValueError(f"signing key {key.kid!r} exists") from None


def signing_keys(db: Database) -> list[SigningKey]:
    docs = db.signing_keys.find().sort([("created_us", -1), ("_id", 1)])
    return [SigningKey(d["_id"], d["private_jwk"], d["created_us"]) for d in docs]
