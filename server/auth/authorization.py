"""The authorization server: SMART Backend Services' token endpoint, on authlib.

See: https://hl7.org/fhir/smart-app-launch/backend-services.html

Grant ``client_credentials`` (RFC 6749 section 4.4); client authentication
``client_secret_basic`` (RFC 6749 section 2.3.1) or ``private_key_jwt`` (RFC 7523: an
assertion signed with a key of the client's registered JWKS; ``iss`` = ``sub`` = the
client id, ``aud`` = the token endpoint URL, ``exp`` at most five minutes ahead, a
``jti`` never seen before). Parameters besides the grant's: ``scope`` (required),
``purpose_of_use`` (one of the client's registered purposes; default its first one
other than ``BTG``) and ``justification`` (required with ``BTG``). Every refusal is an
OAuth error (``error``, ``error_description``; RFC 6749 section 5.2).
"""

from __future__ import annotations

import json
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from flask import Flask, g
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from server.auth import scopes as smart
from server.auth.clients import ASSERTION_ALGORITHMS, BREAK_GLASS
from server.auth.keys import KeyRing
from server.auth.secrets import verify_secret
from server.auth.tokens import LEEWAY_S, issue
from server.store import OAuthClient, Store

#: The longest an assertion may live (SMART Backend Services: "no more than five minutes").
MAX_ASSERTION_S = 300
MAX_JUSTIFICATION = 1000


_DESCRIPTIONS = {
    "unsupported_grant_type": "the only grant_type served is client_credentials",
    "invalid_scope": "none of the requested scopes is allowed to this client",
}


class Client(ClientMixin):
    """authlib's view of a registered client."""

    def __init__(self, client: OAuthClient):
        self.client = client

    def get_client_id(self) -> str:
        return self.client.client_id

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_secret(client_secret, self.client.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint != "token":
            return False
        if method == "client_secret_basic":
            return self.client.secret_hash is not None
        return method == "private_key_jwt" and self.client.jwks is not None

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str) -> str:
        return scope


class ClientAssertion(JWTBearerClientAssertion):
    """``private_key_jwt``: the client's signed assertion, checked against its JWKS."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, store: Store):
        super().__init__(validate_jti=True, leeway=LEEWAY_S)
        self.store = store

    def get_audiences(self) -> list[str]:
        return [g.amparo_token_url]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        return KeySet.import_key_set(json.loads(client.client.jwks or '{"keys": []}'))

    def process_assertion_claims(self, assertion, resolve_key):
        try:  # asymmetric algorithms only: never an HMAC keyed with a public key
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="the client assertion's signature is not "
                                     f"valid ({getattr(exc, 'error', 'invalid')})") from None
        self.verify_claims(token.claims)
        return token.claims

    def verify_claims(self, claims) -> None:
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and exp > time.time() + MAX_ASSERTION_S + LEEWAY_S:
            raise InvalidClientError(description="the client assertion's exp is more than "
                                     "five minutes ahead")
        super().verify_claims(claims)

    def validate_jti(self, claims, jti) -> bool:
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            return False
        expires_us = int((float(claims["exp"]) + LEEWAY_S) * 1_000_000)
        return self.store.use_jti(claims["iss"], jti, expires_us)


class BackendServicesGrant(ClientCredentialsGrant):
    """``client_credentials`` with SMART scopes, purposes of use and break-the-glass."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: OAuthClient = self.request.client.client
        data = self.request.payload.data
        requested = data.get("scope")
        if not requested:
            raise InvalidRequestError("the scope parameter is required (e.g. system/*.rs)")
        asked, _ = smart.parse_all(requested)
        allowed, _ = smart.parse_all(" ".join(client.scopes))
        granted = smart.grant(asked, allowed)
        if not granted:
            raise InvalidScopeError("none of the requested scopes is allowed to this client")
        purpose = data.get("purpose_of_use") or next(
            (p for p in client.purposes if p != BREAK_GLASS), None)
        if purpose is None:
            raise InvalidRequestError("the purpose_of_use parameter is required")
        if purpose not in client.purposes:
            raise InvalidRequestError(f"purpose_of_use {purpose[:20]!r} is not registered "
                                      "for this client")
        justification = None
        if purpose == BREAK_GLASS:
            justification = (data.get("justification") or "").strip()
            if not justification:
                raise InvalidRequestError("the break-the-glass purpose (BTG) needs a "
                                          "justification parameter")
            if len(justification) > MAX_JUSTIFICATION:
                raise InvalidRequestError(f"the justification may hold at most "
                                          f"{MAX_JUSTIFICATION} characters")
        self.request.amparo = (" ".join(str(s) for s in granted), purpose, justification)

    def create_token_response(self):
        scope, purpose, justification = self.request.amparo
        client: OAuthClient = self.request.client.client
        server: TokenServer = self.server
        token, claims = issue(server.ring, g.amparo_base, client.client_id, client.institution,
                              scope, purpose, server.ttl_s, justification)
        body = {"access_token": token, "token_type": "Bearer", "expires_in": server.ttl_s,
                "scope": scope, "purpose_of_use": purpose}
        return 200, body, self.TOKEN_RESPONSE_HEADER


class TokenServer(AuthorizationServer):
    """authlib's Flask authorization server, with clients from the store."""

    def __init__(self, app: Flask, store: Store, ring: KeyRing, ttl_s: int):
        self.store, self.ring, self.ttl_s = store, ring, ttl_s
        super().__init__(app, query_client=self._client, save_token=lambda token, req: None)
        self.register_grant(BackendServicesGrant)
        self.register_client_auth_method("private_key_jwt", ClientAssertion(store))

    def handle_error_response(self, request, error):
        if not error.description:  # every refusal says why (authlib leaves some bare)
            error.description = _DESCRIPTIONS.get(error.error, error.error.replace("_", " "))
        return super().handle_error_response(request, error)

    def _client(self, client_id: str) -> Client | None:
        if not isinstance(client_id, str) or len(client_id) > 128:
            return None
        found = self.store.get_client(client_id)
        return Client(found) if found is not None and found.active else None
