"""The public auth endpoints under the FHIR base: the token endpoint, the JWKS and the
SMART configuration (https://hl7.org/fhir/smart-app-launch/conformance.html)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify

from server.auth.clients import ASSERTION_ALGORITHMS, purposes_of_use

blueprint = Blueprint("auth", __name__)

TOKEN_PATH = "auth/token"
JWKS_PATH = "auth/jwks"
SMART_CONFIGURATION_PATH = ".well-known/smart-configuration"
#: Paths under the FHIR base that need no token (GET metadata is the FHIR one).
PUBLIC_PATHS = frozenset({TOKEN_PATH, JWKS_PATH, SMART_CONFIGURATION_PATH})


def _base() -> str:
    from server.api.flask_app import base_url

    return base_url(current_app.extensions["amparo"])


@blueprint.post(f"/fhir/{TOKEN_PATH}")
def token() -> Response:
    base = _base()
    g.amparo_base, g.amparo_token_url = base, f"{base}/{TOKEN_PATH}"
    return current_app.extensions["amparo"].auth.tokens.create_token_response()


@blueprint.get(f"/fhir/{JWKS_PATH}")
def jwks() -> Response:
    response = jsonify(current_app.extensions["amparo"].auth.ring.public_jwks())
    response.content_type = "application/jwk-set+json"
    response.headers["Cache-Control"] = "max-age=60"
    return response


@blueprint.get(f"/fhir/{SMART_CONFIGURATION_PATH}")
def smart_configuration() -> Response:
    return jsonify(configuration(_base()))


def configuration(base: str) -> dict:
    """The SMART configuration of the server whose FHIR base is ``base``."""
    return {
        "issuer": f"{base}/auth",
        "jwks_uri": f"{base}/{JWKS_PATH}",
        "token_endpoint": f"{base}/{TOKEN_PATH}",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": ["system/*.cruds", "system/*.rs", "system/*.read",
                             "system/*.write"],
        "capabilities": ["client-confidential-symmetric", "client-confidential-asymmetric",
                         "permission-v1", "permission-v2"],
        "purposes_of_use_supported": sorted(purposes_of_use()),
        "user_header": "X-Amparo-User",
    }
