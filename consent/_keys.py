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
``<key>|redact:<a,b>``         the same grant of access, but only to a copy without the
                               elements ``a`` and ``b`` (a permit's redaction obligation)
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
- Redaction: a permit that obliges a redaction gives the ``|redact:`` variant of its key
  instead of the key; a caller holds every variant of its keys. So the keys still meet
  exactly when ``decide`` permits, and the server tells a full permit from a redacted one
  by asking whether they also meet on the caller's plain keys (``plain_keys``): if not,
  it shows the copy without the elements of the variants they meet on (``redacting``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import Any

from ._decide import _Ask, _covering, kind_permits, known_institutions, read_verdict
from ._facts import facts
from ._model import KINDS, PURPOSES, Context, Principal, _org_id
from ._policy import Grant, policies
from ._provisions import parse_instant

__all__ = ["access_basis", "access_keys", "keys_valid_until", "plain_keys", "principal_keys",
           "redactable_types", "redacting", "redaction_sets"]


REDACT = "|redact:"


@cache
def redaction_sets() -> tuple[tuple[str, ...], ...]:
    """The distinct redactions the policy grants oblige (each a sorted tuple of element
    names): the variants a caller's keys come in."""
    return tuple(sorted({tuple(sorted(g.redact)) for g in policies() if g.redact}))


@cache
def redactable_types() -> frozenset[str]:
    """The resource types a redacting grant covers: only their reads may be redacted."""
    return frozenset(s.resource_type for g in policies() if g.redact for s in g.data)


def plain_keys(keys: frozenset[str]) -> frozenset[str]:
    """``keys`` without their redaction variants."""
    return frozenset(k for k in keys if REDACT not in k)


def redacting(keys: frozenset[str]) -> tuple[str, ...]:
    """The elements to remove for a caller who meets a resource only on ``keys``
    (redaction variants): the least redaction any of them asks for."""
    sets = [set(k.split(REDACT, 1)[1].split(",")) for k in keys if REDACT in k]
    return tuple(sorted(set.intersection(*sets))) if sets else ()


def _redacted_key(key: str, grants: list[Grant]) -> tuple[str, tuple[str, ...]]:
    """``key`` as the mandate's ``grants`` give it (``read_verdict`` without Consents),
    with the grants that decide: those she may not object to when there are any, and
    the least redaction among them applies."""
    deciding = [g for g in grants if not g.survivor_may_object] or grants
    common = set.intersection(*(set(g.redact) for g in deciding))
    basis = tuple(g.id for g in deciding)
    return (f"{key}{REDACT}{','.join(sorted(common))}" if common else key), basis


def _keyed(key: str, decision: Any) -> tuple[str, tuple[str, ...]]:
    for obligation in decision.obligations:
        if obligation.code == "redact" and obligation.elements:
            return f"{key}{REDACT}{','.join(sorted(obligation.elements))}", decision.basis
    return key, decision.basis


@lru_cache(maxsize=8192)
def _mandate_keys(covering: tuple[Grant, ...], known: frozenset[tuple[str, str | None]],
                  care_team: frozenset[str], recipients: frozenset[str]
                  ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The keys the mandate's ``covering`` grants give, with their basis, when the case
    ``known`` institutions (with their kinds) and no Consent speaks: the same for every
    resource of a kind and a case, so computed once for them."""
    given: dict[str, list[Grant]] = {}
    for g in covering:
        if "read" not in g.actions:
            continue
        purposes = [p for p in PURPOSES if p in g.purposes]
        if g.relation == "any":
            for kind in KINDS if g.kinds is None else [k for k in KINDS if k in g.kinds]:
                for p in purposes:
                    given.setdefault(f"kind:{kind}|purpose:{p}", []).append(g)
        for inst, kind in sorted(known, key=lambda pair: pair[0]):
            if (g.kinds is not None and kind not in g.kinds) \
                    or (g.relation == "care-team" and inst not in care_team) \
                    or (g.relation == "recipient" and inst not in recipients):
                continue
            for p in purposes:
                given.setdefault(f"inst:{_org_id(inst)}|purpose:{p}", []).append(g)
    return tuple(_redacted_key(key, grants) for key, grants in given.items())


def access_keys(resource: dict[str, Any], context: Context | None = None) -> frozenset[str]:
    """Return the keys that grant read of ``resource`` under ``context``."""
    return frozenset(access_basis(resource, context))


def access_basis(resource: dict[str, Any],
                 context: Context | None = None) -> dict[str, tuple[str, ...]]:
    """Return the keys that grant read of ``resource`` under ``context``, each with the
    rules behind it (``Decision.basis``: ``author``, ``break-glass``, the mandate's
    grants ``policy:<file>#<grant>``, the survivor's ``Consent/<id>``): what the audit
    trail records as the basis of a read the key let through."""
    ctx = context or Context()
    f, now = facts(resource), ctx.now or datetime.now(UTC)
    keys: dict[str, tuple[str, ...]] = {}
    if author := _org_id(ctx.author):
        keys[f"inst:{author}"] = ("author",)
    if "V" not in f.labels:
        keys["btg"] = ("break-glass",)
    known = known_institutions(f, ctx)
    if not ctx.consents:  # the mandate alone: the keys its covering grants give
        kinds = frozenset((inst, ctx.institutions.get(inst)) for inst in known)
        keys.update(_mandate_keys(_covering(f), kinds, ctx.care_team & known, f.recipients))
        return keys
    for inst in known:
        kind = ctx.institutions.get(inst)
        for purpose in PURPOSES:
            decision = read_verdict(_Ask(inst, kind, purpose), f, ctx, now)
            if decision.permit:
                keys.update((_keyed(f"inst:{_org_id(inst)}|purpose:{purpose}", decision),))
    for kind in KINDS:
        for purpose in PURPOSES:
            decision = kind_permits(kind, purpose, f, ctx, now, known)
            if decision.permit:
                keys.update((_keyed(f"kind:{kind}|purpose:{purpose}", decision),))
    return keys


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
    variants = {f"{k}{REDACT}{','.join(fields)}" for k in keys if "|purpose:" in k
                for fields in redaction_sets()}
    return frozenset(keys | variants)


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
