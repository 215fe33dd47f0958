"""Access tokens: signed JWTs (RFC 9068 style, ``typ: at+jwt``), issued by the token
endpoint and checked on every protected request.

Header: ``alg: ES256``, ``kid`` of the signing key (``keys.py``). Claims: ``iss`` (the
authorization server, ``<FHIR base>/auth``), ``aud`` (the FHIR base), ``sub`` and
``client_id`` (the client), ``institution`` (``Organization/<id>``), ``scope`` (granted
SMART scopes, space-separated), ``purpose_of_use`` (HL7 v3 PurposeOfUse code),
``justification`` (break-the-glass only), ``jti``, ``iat``, ``exp``.

Verification accepts only ES256 with a key of the ring named by ``kid``: ``alg: none``,
HMAC algorithms (the public key used as an HMAC secret) and unknown keys are refused
before any signature check.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict

from joserfc import jws, jwt
from joserfc.errors import JoseError

from server.access import Principal
from server.auth.keys import ALGORITHM, KeyRing

#: Allowed clock difference between machines when checking ``exp``/``iat`` (seconds).
LEEWAY_S = 5
_MAX_TOKEN_CHARS = 8192
_CACHE_SIZE = 4096


class InvalidToken(Exception):
    """The bearer token cannot be accepted; the message says why (never the token)."""


def issuer_of(base: str) -> str:
    return f"{base}/auth"


def issue(ring: KeyRing, base: str, client_id: str, institution: str, scope: str,
          purpose: str, ttl_s: int, justification: str | None = None) -> tuple[str, dict]:
    """(the signed access token, its claims)."""
    kid, key = ring.signing_key()
    now = int(time.time())
    claims = {"iss": issuer_of(base), "aud": base, "sub": client_id, "client_id": client_id,
              "institution": institution, "scope": scope, "purpose_of_use": purpose,
              "jti": str(uuid.uuid4()), "iat": now, "exp": now + ttl_s}
    if justification is not None:
        claims["justification"] = justification
    header = {"alg": ALGORITHM, "kid": kid, "typ": "at+jwt"}
    return jwt.encode(header, claims, key, algorithms=[ALGORITHM]), claims


class Verifier:
    """Checks bearer tokens for one process; remembers the tokens it has accepted (until
    they expire), so a client's later requests cost a dictionary lookup, not a
    signature check."""

    def __init__(self, ring: KeyRing):
        self.ring = ring
        self._lock = threading.Lock()
        self._accepted: OrderedDict[tuple[str, str], tuple[Principal, int]] = OrderedDict()

    def principal(self, token: str, base: str) -> Principal:
        """The Principal ``token`` stands for, on the FHIR base ``base``; InvalidToken."""
        cached = self._accepted.get((token, base))
        if cached is not None:
            if cached[1] + LEEWAY_S > time.time():
                return cached[0]
            raise InvalidToken("the access token has expired")
        principal, exp = self._verify(token, base)
        with self._lock:
            self._accepted[(token, base)] = (principal, exp)
            while len(self._accepted) > _CACHE_SIZE:
                self._accepted.popitem(last=False)
        return principal

    def _verify(self, token: str, base: str) -> tuple[Principal, int]:
        claims = signed_claims(self.ring, token, "access token")
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer_of(base)},
            aud={"essential": True, "value": base},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            institution={"essential": True},
            scope={"essential": True},
            purpose_of_use={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidToken(_claim_problem(exc)) from None
        principal = Principal(
            client_id=claims["sub"], institution=claims["institution"],
            purpose=claims["purpose_of_use"], scopes=frozenset(str(claims["scope"]).split()),
            justification=claims.get("justification"), token_id=claims.get("jti"))
        return principal, int(claims["exp"])


def signed_claims(ring: KeyRing, token: str, what: str, typ: str | None = None) -> dict:
    """The claims of ``token`` (a ``what``: "access token") once it is a compact JWS signed
    with a key of ``ring`` (and its header's ``typ`` is ``typ``, if given); InvalidToken
    otherwise, its message never holding the token. The claims are not checked yet."""
    if len(token) > _MAX_TOKEN_CHARS or token.count(".") != 2:
        raise InvalidToken(f"the {what} is not a signed JWT")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken(f"the {what} is not a signed JWT") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"{what}s are signed with {ALGORITHM}")
    if typ is not None and header.get("typ") != typ:
        raise InvalidToken(f"not a {what}")
    kid = header.get("kid")
    key = ring.verifying_key(kid) if isinstance(kid, str) else None
    if key is None:
        raise InvalidToken(f"the {what} was not signed by a key of this server")
    try:
        return jwt.decode(token, key, algorithms=[ALGORITHM]).claims
    except (JoseError, ValueError):
        raise InvalidToken(f"the {what}'s signature is not valid") from None


def _claim_problem(error: JoseError) -> str:
    name = type(error).__name__
    if name == "ExpiredTokenError":
        return "the access token has expired"
    if "aud" in str(error.description or ""):
        return "the access token is for another audience"
    return f"the access token's claims are not valid ({error.description or name})"
