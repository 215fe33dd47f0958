"""The access gate: the single place every read path asks "may this caller see this?".

Two faces (DESIGN.md, "Who may see what"):

- ``check(principal, action, stored)``: the per-resource decision, for reads of one
  resource (read, vread, a transaction's GET of one id). It gets the stored version
  (type, id, JSON bytes) and parses the body only if its decision needs the content.
- ``query_filter(principal, type)``: an ``AccessFilter`` the store applies inside the
  search/history query itself, so totals, paging and includes only ever count what the
  caller may see. It works on the access keys the gate assigns to each resource on write
  (``access_keys``) and the store indexes beside it.

This version permits everything (the access-control issue fills it in from the consent
library): ``check`` is True, ``query_filter`` is unrestricted and every resource carries
the key ``"*"``. A hidden resource must always be reported exactly like a missing one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.store import UNRESTRICTED, AccessFilter, StoredVersion

PUBLIC_KEY = "*"


@dataclass(frozen=True)
class Principal:
    """Who is asking: filled from the access token by the auth layer (``server/auth/``).

    ``client_id`` and ``institution`` (``Organization/<id>``) are the token's client and
    the institution it was registered for; ``purpose`` the token's HL7 v3 PurposeOfUse
    code and ``justification`` the reason given with the break-the-glass purpose
    (``BTG``); ``scopes`` the granted SMART system scopes (``system/Patient.rs``);
    ``user`` the staff member the institution's system says it acts for (the
    ``X-Amparo-User`` request header), if any; ``token_id`` the token's ``jti`` (audit)."""

    client_id: str | None = None
    institution: str | None = None
    user: str | None = None
    purpose: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    justification: str | None = None
    token_id: str | None = None


ANONYMOUS = Principal()


class AccessGate:
    """Permit-all gate with the final shape (see module docstring)."""

    def check(self, principal: Principal, action: str, stored: StoredVersion) -> bool:
        return True

    def query_filter(self, principal: Principal, type: str | None) -> AccessFilter:
        return UNRESTRICTED

    def access_keys(self, resource: dict) -> frozenset[str]:
        return frozenset((PUBLIC_KEY,))
