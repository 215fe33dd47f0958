"""Registering OAuth clients (``amparo client create``, ``amparo demo``, tests).

A client belongs to one institution (``Organization/<id>``), may be granted at most its
registered scopes, and may ask only for its registered purposes of use (HL7 v3
PurposeOfUse codes of the ValueSet ``proposito-uso``). It authenticates with a secret
(``client_secret_basic``; only a salted hash is stored) or, when registered with a JSON
Web Key Set, with a signed assertion (``private_key_jwt``, SMART Backend Services).
"""

from __future__ import annotations

import json
import re
import secrets as random
from dataclasses import dataclass
from functools import cache

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from server import clock
from server.auth import scopes as smart
from server.auth.secrets import hash_secret, new_secret
from server.store import OAuthClient, Store

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: The break-the-glass purpose (DESIGN.md, "Who may see what", 6): needs a justification.
BREAK_GLASS = "BTG"
DEFAULT_SCOPES = ("system/*.cruds",)
DEFAULT_PURPOSES = ("TREAT",)
#: Signature algorithms a client's assertion may use (SMART asks for RS384 and ES384).
ASSERTION_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                        "ES384", "ES512")


@cache
def purposes_of_use() -> frozenset[str]:
    """The purpose codes a client may register: the ValueSet ``proposito-uso``."""
    from terminology import registry

    value_set = registry.get("ValueSet", "proposito-uso")
    return frozenset(concept["code"] for include in value_set["compose"]["include"]
                     for concept in include.get("concept", []))


@dataclass(frozen=True)
class Registered:
    """A client just registered, with its secret in clear (shown once, never stored)."""

    client: OAuthClient
    secret: str | None

    def credentials(self) -> dict:
        out = {"client_id": self.client.client_id, "institution": self.client.institution,
               "name": self.client.name, "scopes": " ".join(self.client.scopes),
               "purposes_of_use": list(self.client.purposes)}
        if self.secret is not None:
            out["client_secret"] = self.secret
            out["token_endpoint_auth_method"] = "client_secret_basic"
        else:
            out["token_endpoint_auth_method"] = "private_key_jwt"
        return out


def register(store: Store, org: str, name: str, scopes: list[str] | None = None,
             purposes: list[str] | None = None, jwks: str | None = None,
             client_id: str | None = None,
             cost: tuple[int, int, int] | None = None) -> Registered:
    """Register a client of ``Organization/<org>``: with ``jwks`` (JSON text of its public
    keys) it authenticates by ``private_key_jwt``, otherwise by a new secret. Raises
    ValueError with a message for the operator on any bad argument."""
    org = org.removeprefix("Organization/")
    if not ID.fullmatch(org):
        raise ValueError(f"--org must be an Organization id, got {org[:80]!r}")
    if not name.strip():
        raise ValueError("--name must not be empty")
    granted = smart.normalise(list(scopes or DEFAULT_SCOPES))
    if not granted:
        raise ValueError("--scopes names no scope")
    codes = tuple(dict.fromkeys(purposes or DEFAULT_PURPOSES))
    unknown = [c for c in codes if c not in purposes_of_use()]
    if unknown:
        raise ValueError(f"not a purpose of use (HL7 v3 PurposeOfUse, ValueSet proposito-uso:"
                         f" {', '.join(sorted(purposes_of_use()))}): {', '.join(unknown)}")
    public = check_jwks(jwks) if jwks is not None else None
    secret = None if public is not None else new_secret()
    hashed = hash_secret(secret, *([cost] if cost else [])) if secret is not None else None
    client = OAuthClient(client_id or random.token_urlsafe(16), f"Organization/{org}",
                         name.strip(), granted, codes, hashed, public, clock.now()[1])
    store.save_client(client)
    return Registered(client, secret)


def check_jwks(text: str) -> str:
    """``text`` checked as a JSON Web Key Set of public signing keys; returned as compact
    JSON. ValueError when it is not one, holds a private or symmetric key, or a key
    without ``kid``."""
    try:
        data = json.loads(text)
    except ValueError:
        raise ValueError("the JWKS file is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list) or not data["keys"]:
        raise ValueError('the JWKS must be an object with a non-empty "keys" array')
    for key in data["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC"):
            raise ValueError("every key of the JWKS must be an RSA or EC public key")
        if "d" in key or "p" in key:
            raise ValueError("the JWKS holds a private key: register only public keys")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise ValueError("every key of the JWKS needs a kid")
        if key.get("alg") is not None and key["alg"] not in ASSERTION_ALGORITHMS:
            raise ValueError(f"unsupported key algorithm {key['alg']!r}")
    try:
        KeySet.import_key_set(data)
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"the JWKS holds a key that cannot be read: {exc}") from None
    return json.dumps(data, separators=(",", ":"), sort_keys=True)
