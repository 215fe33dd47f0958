"""The token endpoint (SMART Backend Services): tokens for both client authentications,
and every refusal as an OAuth error (RFC 6749 section 5.2)."""

from __future__ import annotations

import time

from joserfc.jwk import ECKey

from tests.server.auth.helpers import (
    assertion,
    assertion_request,
    claims_of,
    hs256,
    key_client,
    secret_client,
    token_request,
)


def oauth_error(response, error: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    return body["error_description"]


def test_the_smart_configuration_is_public_and_names_the_endpoints(live):
    config = live.http.get(live.url(".well-known/smart-configuration"), auth=None).json()
    assert config["token_endpoint"] == live.url("auth/token")
    assert config["jwks_uri"] == live.url("auth/jwks")
    assert config["grant_types_supported"] == ["client_credentials"]
    assert set(config["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "private_key_jwt"}
    assert {"ES384", "RS384"} <= set(config["token_endpoint_auth_signing_alg_values_supported"])


def test_a_secret_client_gets_a_signed_jwt_with_the_claims_of_its_grant(live):
    client_id, secret = secret_client(live, purposes=("COC", "TREAT"))
    answer = token_request(live, (client_id, secret), scope="system/Patient.rs "
                           "system/Observation.read", purpose_of_use="COC")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and 300 <= body["expires_in"] <= 900
    assert body["scope"] == "system/Observation.rs system/Patient.rs"
    claims = claims_of(body["access_token"])
    assert claims["iss"] == live.url("auth") and claims["aud"] == live.base
    assert claims["sub"] == claims["client_id"] == client_id
    assert claims["institution"] == "Organization/linea-1455"
    assert claims["scope"] == body["scope"] and claims["purpose_of_use"] == "COC"
    assert claims["jti"] and claims["exp"] - claims["iat"] == body["expires_in"]
    assert "justification" not in claims
    read = live.http.get(live.url("Patient"), auth=None,
                         headers={"Authorization": f"Bearer {body['access_token']}"})
    assert read.status_code == 200


def test_granted_scopes_are_the_requested_ones_narrowed_to_the_clients(live):
    client = secret_client(live, scopes=("system/Patient.rs", "system/Flag.cruds"))
    body = token_request(live, client, scope="system/*.cruds system/Encounter.r").json()
    assert body["scope"] == "system/Flag.cruds system/Patient.rs"
    body = token_request(live, client, scope="system/Patient.read").json()  # SMART v1
    assert body["scope"] == "system/Patient.rs"


def test_scopes_outside_the_clients_are_invalid_scope(live):
    client = secret_client(live, scopes=("system/Patient.rs",))
    oauth_error(token_request(live, client, scope="system/Observation.rs"), "invalid_scope")
    oauth_error(token_request(live, client, scope="system/Patient.cud"), "invalid_scope")
    oauth_error(token_request(live, client, scope="patient/*.read"), "invalid_scope")
    oauth_error(token_request(live, client), "invalid_request")  # scope is required


def test_a_purpose_the_client_has_not_registered_is_refused(live):
    client = secret_client(live, purposes=("TREAT",))
    described = oauth_error(token_request(live, client, scope="system/*.rs",
                                          purpose_of_use="HLEGAL"), "invalid_request")
    assert "HLEGAL" in described
    oauth_error(token_request(live, client, scope="system/*.rs", purpose_of_use="BTG",
                              justification="riesgo vital"), "invalid_request")


def test_break_the_glass_needs_a_justification_which_goes_into_the_token(live):
    client = secret_client(live, purposes=("THREAT", "BTG"))
    described = oauth_error(token_request(live, client, scope="system/*.rs",
                                          purpose_of_use="BTG"), "invalid_request")
    assert "justification" in described
    oauth_error(token_request(live, client, scope="system/*.rs", purpose_of_use="BTG",
                              justification="   "), "invalid_request")
    answer = token_request(live, client, scope="system/*.rs", purpose_of_use="BTG",
                           justification="Amenaza de muerte denunciada hoy")
    claims = claims_of(answer.json()["access_token"])
    assert claims["purpose_of_use"] == "BTG"
    assert claims["justification"] == "Amenaza de muerte denunciada hoy"
    # without a purpose, the first registered one that is not break-the-glass
    default = token_request(live, client, scope="system/*.rs").json()
    assert default["purpose_of_use"] == "THREAT"


def test_a_wrong_secret_or_an_unknown_client_is_invalid_client(live):
    client_id, _ = secret_client(live)
    oauth_error(token_request(live, (client_id, "wrong"), scope="system/*.rs"),
                "invalid_client", 401)
    oauth_error(token_request(live, ("nobody", "x"), scope="system/*.rs"), "invalid_client",
                401)
    oauth_error(token_request(live, None, scope="system/*.rs"), "invalid_client", 401)


def test_only_the_client_credentials_grant_is_served(live):
    client = secret_client(live)
    oauth_error(token_request(live, client, grant_type="password", scope="system/*.rs"),
                "unsupported_grant_type")


# private_key_jwt -------------------------------------------------------------------------


def test_a_key_client_gets_a_token_with_a_signed_assertion(live):
    client_id, key = key_client(live)
    answer = assertion_request(live, assertion(live, client_id, key), scope="system/*.rs")
    assert answer.status_code == 200, answer.text
    assert claims_of(answer.json()["access_token"])["sub"] == client_id


def test_a_replayed_assertion_is_refused(live):
    client_id, key = key_client(live)
    signed = assertion(live, client_id, key)
    assert assertion_request(live, signed, scope="system/*.rs").status_code == 200
    oauth_error(assertion_request(live, signed, scope="system/*.rs"), "invalid_client")


def test_an_assertion_living_more_than_five_minutes_is_refused(live):
    client_id, key = key_client(live)
    signed = assertion(live, client_id, key, exp=int(time.time()) + 600)
    assert "five minutes" in oauth_error(assertion_request(live, signed, scope="system/*.rs"),
                                         "invalid_client")


def test_an_expired_assertion_is_refused(live):
    client_id, key = key_client(live)
    signed = assertion(live, client_id, key, exp=int(time.time()) - 120)
    oauth_error(assertion_request(live, signed, scope="system/*.rs"), "invalid_client")


def test_an_assertion_for_another_audience_is_refused(live):
    client_id, key = key_client(live)
    signed = assertion(live, client_id, key, aud="https://elsewhere.example/token")
    oauth_error(assertion_request(live, signed, scope="system/*.rs"), "invalid_client")


def test_an_assertion_signed_with_a_key_not_registered_is_refused(live):
    client_id, key = key_client(live)
    other = ECKey.generate_key("P-384", parameters={"kid": key.kid})
    oauth_error(assertion_request(live, assertion(live, client_id, other),
                                  scope="system/*.rs"), "invalid_client")


def test_an_hmac_assertion_keyed_with_the_public_key_is_refused(live):
    client_id, key = key_client(live)
    claims = claims_of(assertion(live, client_id, key))
    for secret in (key.as_pem(private=False), key.as_bytes(private=False)):
        forged = hs256({"kid": key.kid, "typ": "JWT"}, claims, secret)
        oauth_error(assertion_request(live, forged, scope="system/*.rs"), "invalid_client")


def test_an_assertion_whose_issuer_is_not_its_subject_is_refused(live):
    client_id, key = key_client(live)
    signed = assertion(live, client_id, key, iss="someone-else")
    oauth_error(assertion_request(live, signed, scope="system/*.rs"), "invalid_client")


def test_a_secret_cannot_authenticate_a_key_client(live):
    client_id, _ = key_client(live)
    oauth_error(token_request(live, (client_id, "guess"), scope="system/*.rs"),
                "invalid_client", 401)
