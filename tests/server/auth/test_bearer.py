"""The resource server: every path under /fhir but metadata and the public auth
endpoints needs a bearer token; each way a token can be bad is a 401 with an
OperationOutcome and ``WWW-Authenticate: Bearer`` (the attack tests forge them)."""

from __future__ import annotations

import json

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey

from server.auth.tokens import issue
from tests.conftest import assert_outcome
from tests.server.auth.helpers import b64, bearer, claims_of, hs256, ring_of, token_of


def get(live, path: str, headers: dict | None = None) -> requests.Response:
    return requests.get(live.url(path), headers=headers or {}, timeout=30)


def refused(response, invalid_token: bool = True) -> str:
    body = assert_outcome(response, 401, "login")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert ('error="invalid_token"' in challenge) == invalid_token
    return body["issue"][0]["diagnostics"]


def test_metadata_and_the_auth_endpoints_need_no_token(live):
    assert get(live, "metadata").status_code == 200
    assert get(live, ".well-known/smart-configuration").status_code == 200
    assert get(live, "auth/jwks").status_code == 200
    assert requests.get(live.base.removesuffix("/fhir") + "/health").status_code == 200


@pytest.mark.parametrize("path", ["Patient", "Patient/x", "_history", "ig/package.tgz",
                                  "ValueSet/$expand", "no/such/path", ""])
def test_every_other_path_without_a_token_is_401(live, path):
    refused(get(live, path), invalid_token=False)


def test_writes_without_a_token_are_401_and_write_nothing(live):
    response = requests.post(live.url("Patient"), json={"resourceType": "Patient"},
                             headers={"Content-Type": "application/fhir+json"}, timeout=30)
    refused(response, invalid_token=False)
    assert live.get("Patient").json()["total"] == 0


def test_the_capability_statement_declares_smart_on_fhir(live):
    security = get(live, "metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = security["extension"][0]["extension"]
    assert {"url": "token", "valueUri": live.url("auth/token")} in uris


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "Bearer abc",
                                    "Bearer a.b.c", "Bearer " + "x" * 9000])
def test_a_malformed_authorization_header_is_401(live, header):
    refused(get(live, "Patient", {"Authorization": header}))


def test_an_expired_token_is_401(live):
    token, _ = issue(ring_of(live), live.base, "c", "Organization/x", "system/*.cruds",
                     "TREAT", ttl_s=-60)
    assert "expired" in refused(get(live, "Patient", bearer(token)))


def test_a_token_for_another_audience_is_401(live):
    token, _ = issue(ring_of(live), "https://other.example/fhir", "c", "Organization/x",
                     "system/*.cruds", "TREAT", ttl_s=300)
    refused(get(live, "Patient", bearer(token)))


def test_a_token_with_a_forged_signature_is_401(live):
    real = token_of(live, "system/*.cruds")
    kid = ring_of(live).signing_key()[0]
    forger = ECKey.generate_key("P-256")
    forged = jwt.encode({"alg": "ES256", "kid": kid, "typ": "at+jwt"}, claims_of(real),
                        forger, algorithms=["ES256"])
    assert "signature" in refused(get(live, "Patient", bearer(forged)))
    # the real token's signature over other claims
    header, _, signature = real.split(".")
    tampered = f"{header}.{b64({**claims_of(real), 'scope': 'system/*.cruds'})}.{signature}"
    refused(get(live, "Patient", bearer(tampered)))


def test_a_token_signed_by_an_unknown_key_is_401(live):
    real = token_of(live, "system/*.cruds")
    stranger = ECKey.generate_key("P-256")
    forged = jwt.encode({"alg": "ES256", "kid": "not-a-key-of-ours"}, claims_of(real),
                        stranger, algorithms=["ES256"])
    refused(get(live, "Patient", bearer(forged)))


def test_an_unsigned_token_alg_none_is_401(live):
    real = token_of(live, "system/*.cruds")
    kid = ring_of(live).signing_key()[0]
    for alg in ("none", "None", "NONE"):
        unsigned = f"{b64({'alg': alg, 'kid': kid})}.{b64(claims_of(real))}."
        refused(get(live, "Patient", bearer(unsigned)))


def test_an_hmac_token_keyed_with_the_servers_public_key_is_401(live):
    """Algorithm confusion: HS256 with the published public key as the HMAC secret."""
    real = token_of(live, "system/*.cruds")
    kid, key = ring_of(live).signing_key()
    public_jwk = next(k for k in get(live, "auth/jwks").json()["keys"] if k["kid"] == kid)
    for secret in (key.as_pem(private=False), json.dumps(public_jwk).encode(),
                   key.as_bytes(private=False)):
        forged = hs256({"kid": kid, "typ": "at+jwt"}, claims_of(real), secret)
        refused(get(live, "Patient", bearer(forged)))


def test_a_valid_token_is_accepted_and_the_user_header_is_checked(live):
    token = token_of(live, "system/*.cruds")
    assert get(live, "Patient", bearer(token)).status_code == 200
    named = {**bearer(token), "X-Amparo-User": "PractitionerRole/operadora-17"}
    assert get(live, "Patient", named).status_code == 200
    bad = {**bearer(token), "X-Amparo-User": "x" * 300}
    assert_outcome(get(live, "Patient", bad), 400, "invalid")


def test_the_token_becomes_the_requests_principal(live):
    """The Principal the handlers get (the token's claims and the user header)."""
    from flask import request

    from server.auth.resource import principal_of

    token = token_of(live, "system/Patient.rs", purposes=("COC", "BTG"),
                     purpose_of_use="BTG", justification="riesgo")
    services = live.app.extensions["amparo"]
    with live.app.test_request_context("/fhir/Patient", headers={
            **bearer(token), "X-Amparo-User": "Practitioner/ana"}):
        principal = principal_of(services.auth.verifier, request.headers, live.base)
    claims = claims_of(token)
    assert principal.client_id == claims["sub"]
    assert principal.institution == "Organization/linea-1455"
    assert principal.purpose == "BTG" and principal.justification == "riesgo"
    assert principal.scopes == frozenset({"system/Patient.rs"})
    assert principal.user == "Practitioner/ana" and principal.token_id == claims["jti"]
