"""Access keys: ``decide`` for reads, as a set intersection the store can index.

Each resource carries ``access_keys(resource, context)``; a caller holds
``principal_keys(principal)``; the store returns a resource to a read or search only when
the two sets intersect. For every principal whose scopes allow reading the type (layer 1,
which the server checks per type before the query), ``decide(principal, "read", resource,
context).permit`` is True exactly when they intersect.

Key vocabulary (ids are Organization ids; purposes ``proposito-uso`` codes; kinds
``tipo-institucion`` codes):

=============================  =============================================================
``inst:<id>``                  the author: its institution reads its own records (layer 2)
``inst:<id>|purpose:<code>``   an institution the case knows, reading for that purpose
``kind:<kind>|purpose:<code>`` any institution of that kind the case does not single out,
                               reading for that purpose
``btg``                        break-the-glass with a justification (every resource but V)
=============================  =============================================================

Why equality holds, and where it needs help:

- Consents name institutions; positive keys cannot say "every police station but this
  one". So a kind's key is withheld when a Consent denies an institution of that kind the
  case knows, and ``decide`` says the same (``kind_permits``): the other institutions of
  that kind keep access only through their own ``inst:`` keys.
- Keys hold at ``context.now``. A Consent or provision period that starts or ends, or a
  Consent revoked, changes them: the server recomputes the keys of the survivor's
  resources when her Consents or the care team change, and at the instants
  ``keys_valid_until`` returns (periods that start or end later).
- Break-the-glass permits through ``btg`` but its obligations (``audit``,
  ``notify-auditors``) are not in the keys: the server calls ``decide`` on each resource
  it returns to a BTG principal to get them.
- Scopes are not in the keys (the server applies them per type), nor is the token's kind
  checked against the context's: the auth layer must issue the institution's own kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._decide import _Ask, _covering, kind_permits, known_institutions, read_verdict
from ._facts import facts
from ._model import KINDS, PURPOSES, Context, Principal, _org_id
from ._provisions import parse_instant

__all__ = ["access_keys", "keys_valid_until", "principal_keys"]


def access_keys(resource: dict[str, Any], context: Context | None = None) -> frozenset[str]:
    """Return the keys that grant read of ``resource`` under ``context``."""
    ctx = context or Context()
    f, now = facts(resource), ctx.now or datetime.now(UTC)
    keys: set[str] = set()
    if author := _org_id(ctx.author):
        keys.add(f"inst:{author}")
    if "V" not in f.labels:
        keys.add("btg")
    known = known_institutions(f, ctx)
    if not ctx.consents:  # the mandate alone: the keys its covering grants give
        for g in _covering(f):
            if "read" not in g.actions:
                continue
            purposes = [p for p in PURPOSES if p in g.purposes]
            if g.relation == "any":
                for kind in KINDS if g.kinds is None else [k for k in KINDS if k in g.kinds]:
                    keys.update(f"kind:{kind}|purpose:{p}" for p in purposes)
            for inst in known:
                if (g.kinds is not None and ctx.institutions.get(inst) not in g.kinds) \
                        or (g.relation == "care-team" and inst not in ctx.care_team) \
                        or (g.relation == "recipient" and inst not in f.recipients):
                    continue
                keys.update(f"inst:{_org_id(inst)}|purpose:{p}" for p in purposes)
        return frozenset(keys)
    for inst in known:
        kind = ctx.institutions.get(inst)
        for purpose in PURPOSES:
            if read_verdict(_Ask(inst, kind, purpose), f, ctx, now).permit:
                keys.add(f"inst:{_org_id(inst)}|purpose:{purpose}")
    for kind in KINDS:
        for purpose in PURPOSES:
            if kind_permits(kind, purpose, f, ctx, now, known).permit:
                keys.add(f"kind:{kind}|purpose:{purpose}")
    return frozenset(keys)


def principal_keys(principal: Principal) -> frozenset[str]:
    """Return the keys ``principal`` holds for reads and searches."""
    keys: set[str] = set()
    inst, purpose = principal.institution_id, principal.purpose
    if inst:
        keys.add(f"inst:{inst}")
        if purpose in PURPOSES:
            keys.add(f"inst:{inst}|purpose:{purpose}")
    if principal.kind in KINDS and purpose in PURPOSES:
        keys.add(f"kind:{principal.kind}|purpose:{purpose}")
    if principal.break_glass:
        keys.add("btg")
    return frozenset(keys)


def keys_valid_until(context: Context) -> datetime | None:
    """Return the next instant after ``context.now`` at which a period of the context's
    active Consents starts or ends (access keys may change then), or None."""
    now = context.now or datetime.now(UTC)
    found: list[datetime] = []

    def walk(p: Any) -> None:
        if isinstance(p, dict):
            period = p.get("period") or {}
            for moment in (parse_instant(period.get("start")),
                           parse_instant(period.get("end"), end=True)):
                if moment is not None and moment > now:
                    found.append(moment)
            for child in p.get("provision", []):
                walk(child)

    for consent in context.consents:
        if consent.get("status") == "active":
            walk(consent.get("provision"))
    return min(found, default=None)
