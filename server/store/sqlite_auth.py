"""The auth registry of the SQLite adapter (the port's contract, "The auth registry").

Each function is one statement (or two, for ``use_jti``'s purge and insert) in autocommit
mode: SQLite runs every write statement under the database's write lock, so processes
racing to record one assertion ``jti`` are serialised and exactly one insert succeeds.
"""

from __future__ import annotations

import sqlite3

from server import clock
from server.store.port import OAuthClient, SigningKey

_SAVE_CLIENT = (
    "INSERT INTO oauth_client (client_id, institution, name, scopes, purposes, secret_hash, "
    "jwks, created_us, active) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (client_id) DO UPDATE "
    "SET institution = excluded.institution, name = excluded.name, scopes = excluded.scopes, "
    "purposes = excluded.purposes, secret_hash = excluded.secret_hash, jwks = excluded.jwks, "
    "created_us = excluded.created_us, active = excluded.active")
_GET_CLIENT = ("SELECT client_id, institution, name, scopes, purposes, secret_hash, jwks, "
               "created_us, active FROM oauth_client WHERE client_id = ?")
# an expired row is replaced (a jti may be reused once its assertion has expired)
_USE_JTI = ("INSERT INTO oauth_jti (issuer, jti, expires_us) VALUES (?,?,?) "
            "ON CONFLICT (issuer, jti) DO UPDATE SET expires_us = excluded.expires_us "
            "WHERE oauth_jti.expires_us <= ? RETURNING 1")


def save_client(conn: sqlite3.Connection, client: OAuthClient) -> None:
    conn.execute(_SAVE_CLIENT, (client.client_id, client.institution, client.name,
                                " ".join(client.scopes), " ".join(client.purposes),
                                client.secret_hash, client.jwks, client.created_us,
                                int(client.active)))


def get_client(conn: sqlite3.Connection, client_id: str) -> OAuthClient | None:
    row = conn.execute(_GET_CLIENT, (client_id,)).fetchone()
    if row is None:
        return None
    return OAuthClient(row[0], row[1], row[2], tuple(row[3].split()), tuple(row[4].split()),
                       row[5], row[6], row[7], bool(row[8]))


def use_jti(conn: sqlite3.Connection, issuer: str, jti: str, expires_us: int) -> bool:
    _, now = clock.now()
    conn.execute("DELETE FROM oauth_jti WHERE expires_us <= ?", (now,))
    # fetchall: the statement must run to completion to commit
    return bool(conn.execute(_USE_JTI, (issuer, jti, expires_us, now)).fetchall())


def add_signing_key(conn: sqlite3.Connection, key: SigningKey) -> None:
    try:
        conn.execute("INSERT INTO signing_key (kid, private_jwk, created_us) VALUES (?,?,?)",
                     (key.kid, key.private_jwk, key.created_us))
    except sqlite3.IntegrityError:
        raise ValueError(f"signing key {key.kid!r} exists") from None


def signing_keys(conn: sqlite3.Connection) -> list[SigningKey]:
    rows = conn.execute("SELECT kid, private_jwk, created_us FROM signing_key "
                        "ORDER BY created_us DESC, kid").fetchall()
    return [SigningKey(*row) for row in rows]
