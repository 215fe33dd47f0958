"""The values the policy decision point takes and returns: ``Principal`` (who asks, and
why), ``Context`` (what the decision needs beyond the resource), ``Decision`` and its
``Obligation`` s, and the vocabulary they share (actions, purposes, institution kinds,
security labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

import terminology

__all__ = [
    "ACTIONS",
    "BREAK_GLASS",
    "CONFIDENTIALITY",
    "KINDS",
    "PURPOSES",
    "Context",
    "Decision",
    "Obligation",
    "Principal",
]

CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
BREAK_GLASS = "BTG"

# FHIR interactions -> SMART v2 permission letters (c create, r read, u update,
# d delete, s search). https://build.fhir.org/ig/HL7/smart-app-launch/scopes-and-launch-context.html
ACTIONS: Mapping[str, str] = MappingProxyType(
    {"read": "r", "vread": "r", "history": "r", "search": "s",
     "create": "c", "update": "u", "patch": "u", "delete": "d"}
)

# Purposes of use (HL7 v3 ActReason, https://fhir.amparo.cl/ValueSet/proposito-uso) and
# institution kinds (https://fhir.amparo.cl/CodeSystem/tipo-institucion): closed lists,
# so that the access keys of a resource can enumerate them.
PURPOSES: tuple[str, ...] = tuple(
    c["code"]
    for inc in terminology.value_set("proposito-uso")["compose"]["include"]
    for c in inc["concept"]
)
KINDS: tuple[str, ...] = tuple(terminology.concepts("tipo-institucion"))


@dataclass(frozen=True)
class Principal:
    """Who asks and why, as the auth layer read it from the access token.

    ``institution`` is ``Organization/<id>``; ``kind`` its ``tipo-institucion`` code;
    ``purpose`` a ``proposito-uso`` code (``BTG`` for break-the-glass, which needs a
    ``justification``); ``scopes`` SMART system scopes (v2 ``system/Patient.rs``,
    ``system/*.cruds``; v1 ``system/*.read``, ``.write``); ``user`` the person's
    PractitionerRole reference when the token names one.
    """

    institution: str | None = None
    kind: str | None = None
    client_id: str | None = None
    purpose: str | None = None
    scopes: frozenset[str] = frozenset()
    user: str | None = None
    justification: str | None = None

    @property
    def institution_id(self) -> str | None:
        """Return the id part of ``institution`` (``Organization/<id>``), or None."""
        return _org_id(self.institution)

    @property
    def break_glass(self) -> bool:
        """True when the token asks for break-the-glass and says why."""
        return self.purpose == BREAK_GLASS and bool((self.justification or "").strip())


@dataclass(frozen=True)
class Context:
    """What a decision needs beyond the resource; the caller gathers it.

    - ``author``: the institution (``Organization/<id>``) that wrote the resource.
    - ``care_team``: the institutions taking part in the resource's case.
    - ``care_team_refs``: the references (``CareTeam/<id>``) that stand for that care team
      in a Consent's ``provision.actor``.
    - ``institutions``: the kind (``tipo-institucion`` code) of every institution the case
      knows: the care team, the author, the institutions the Consents name. It is
      authoritative over a token's kind for those institutions (see ``_keys``).
    - ``consents``: the survivor's Consent resources (dicts), any status.
    - ``now``: the instant periods are judged at (default: the time of the call).
    """

    author: str | None = None
    care_team: frozenset[str] = frozenset()
    care_team_refs: frozenset[str] = frozenset()
    institutions: Mapping[str, str] = field(default_factory=dict, hash=False)
    consents: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    now: datetime | None = None


@dataclass(frozen=True)
class Obligation:
    """What the caller must do with a permit: ``redact`` (``elements``: dotted paths),
    ``audit`` or ``notify-auditors``."""

    code: str
    elements: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """A permit or a deny, with what decided it.

    ``basis`` names the rule, policy grant or Consent that decided (``scope``, ``author``,
    ``policy:<file>#<grant>``, ``Consent/<id>``, ``label:V``, ``break-glass``...);
    ``reasons`` say why in Spanish (es-CL) for the audit trail and OperationOutcomes.
    """

    permit: bool
    basis: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    obligations: tuple[Obligation, ...] = ()


def _org_id(reference: str | None) -> str | None:
    if not reference or not reference.startswith("Organization/"):
        return None
    return reference.split("/", 1)[1] or None
