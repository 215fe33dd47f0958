"""The resource server's side: the bearer token of a request becomes its ``Principal``.

A protected request without a usable token is refused with 401, an OperationOutcome
(``login``) and ``WWW-Authenticate: Bearer`` (RFC 6750 section 3: with
``error="invalid_token"`` when a token was sent but cannot be accepted). The reason is
given in the diagnostics; the token itself never appears in a response or a log.

The staff member: the institution's system may name the person it acts for in the
``X-Amparo-User`` header of each request (e.g. ``PractitionerRole/123`` or an identifier
``system|value``). The platform trusts the institution's system for it, as it does for
everything the system sends, and records it in the Principal (``user``) for the access
decisions and the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from server import errors
from server.access import Principal
from server.auth.tokens import InvalidToken, Verifier

USER_HEADER = "X-Amparo-User"
_USER = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_REALM = 'Bearer realm="amparo"'


def unauthorized(reason: str, sent: bool) -> errors.FhirError:
    """401 with its ``WWW-Authenticate`` challenge."""
    challenge = _REALM
    if sent:
        challenge += f', error="invalid_token", error_description="{reason}"'
    return errors.FhirError(401, "login", reason, headers={"WWW-Authenticate": challenge})


def principal_of(verifier: Verifier, headers: Mapping[str, str], base: str) -> Principal:
    """The Principal of a request's bearer token (and ``X-Amparo-User``); 401 otherwise."""
    authorization = headers.get("Authorization")
    if not authorization:
        raise unauthorized("this request needs an access token (Authorization: Bearer); "
                           "get one at the token endpoint of "
                           ".well-known/smart-configuration", sent=False)
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("the Authorization header must be 'Bearer <access token>'",
                           sent=True)
    try:
        found = verifier.principal(token.strip(), base)
    except InvalidToken as reason:
        raise unauthorized(str(reason), sent=True) from None
    user = headers.get(USER_HEADER)
    if user is not None:
        if not _USER.fullmatch(user):
            raise errors.invalid(f"{USER_HEADER} must hold 1 to 256 printable characters")
        found = replace(found, user=user)
    return found
