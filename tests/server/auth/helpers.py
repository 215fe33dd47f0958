"""Helpers of the auth suites: clients registered in a live server's store, token
requests through its real token endpoint, and tokens forged for the attack tests."""

from __future__ import annotations

import base64
import json
import time
import uuid

import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from server.auth.clients import register
from tests.conftest import CHEAP_HASH, LiveServer

CLIENT_CREDENTIALS = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def store_of(live: LiveServer):
    return live.app.extensions["amparo"].store


def ring_of(live: LiveServer):
    return live.app.extensions["amparo"].auth.ring


def secret_client(live: LiveServer, scopes=("system/*.cruds",), purposes=("TREAT",),
                  org: str = "linea-1455"):
    """(client_id, secret) of a new client_secret_basic client."""
    made = register(store_of(live), org, "sistema", list(scopes), list(purposes),
                    cost=CHEAP_HASH)
    return made.client.client_id, made.secret


def key_client(live: LiveServer, scopes=("system/*.cruds",), purposes=("TREAT",)):
    """(client_id, private key) of a new private_key_jwt client."""
    key = ECKey.generate_key("P-384", parameters={"kid": f"k-{uuid.uuid4().hex[:8]}"})
    jwks = json.dumps({"keys": [key.as_dict(private=False)]})
    made = register(store_of(live), "carabineros", "sistema", list(scopes), list(purposes),
                    jwks=jwks)
    return made.client.client_id, key


def token_request(live: LiveServer, auth=None, **data) -> requests.Response:
    data.setdefault("grant_type", CLIENT_CREDENTIALS)
    return requests.post(live.url("auth/token"), data=data, auth=auth, timeout=30)


def assertion(live: LiveServer, client_id: str, key, *, alg: str = "ES384",
              **claims) -> str:
    """A client assertion of ``client_id`` signed with ``key``; ``claims`` override."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": live.url("auth/token"),
            "exp": now + 240, "iat": now, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode({"alg": alg, "kid": key.kid, "typ": "JWT"}, body, key,
                      algorithms=[alg])


def assertion_request(live: LiveServer, signed: str, **data) -> requests.Response:
    return token_request(live, client_assertion_type=ASSERTION_TYPE,
                         client_assertion=signed, **data)


def token_of(live: LiveServer, scope: str, purposes=("TREAT",), org: str = "linea-1455",
             **data) -> str:
    client = secret_client(live, purposes=purposes, org=org)
    answer = token_request(live, client, scope=scope, **data)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}


def claims_of(token: str) -> dict:
    """The payload of a JWT, unverified (to look at, in tests)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    """An HMAC-SHA256 JWT keyed with ``secret`` (built by hand: joserfc itself refuses to
    use a public key as an HMAC secret, which is the attack being tested)."""
    import hashlib
    import hmac

    signing_input = f"{b64({**header, 'alg': 'HS256'})}.{b64(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
