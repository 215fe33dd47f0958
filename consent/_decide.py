"""``decide``: the six layers of DESIGN.md ("Who may see what"), in order.

Reads (``read``, ``vread``, ``history``, ``search``):

1. the token's scopes allow the action on the type, else deny;
2. the authoring institution reads its own records, whatever their label;
3. the legal mandate (``policies/``) and 4. the survivor's active Consents: a grant the
   survivor may not object to permits; otherwise a Consent deny denies, and a grant she
   may object to, or a Consent permit, permits;
5. a very restricted (V) resource is shared only through a Consent permit whose provision
   names V (never by the mandate); a restricted (R) one by grants that list R, or by her
   Consent;
6. break-the-glass (purpose ``BTG`` with a justification) permits what 3-5 did not, except
   V, with the obligations ``audit`` and ``notify-auditors``.

The kind of an institution the case knows (``Context.institutions``) is the context's;
the token's kind counts for the others. When the survivor's Consent denies an institution
the case knows, the institutions of its kind the case does not know lose what the kind
alone would give them (``kind_permits``): this keeps decisions and access keys equal
(see ``_keys``).

Writes: ``create`` by a principal with an institution, the record then authored by it;
``update``, ``patch`` and ``delete`` by the author, and ``update`` where a grant lists it
(a referral task by the institution that owns it). Consents do not govern writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from ._facts import Facts, facts
from ._model import KINDS, PURPOSES, Context, Decision, Obligation, Principal
from ._policy import Grant, policies
from ._provisions import consent_verdict, named_institutions
from ._scopes import scope_allows

__all__ = ["decide", "known_institutions", "read_verdict", "kind_permits"]

_READS = {"read", "vread", "history", "search"}


@dataclass(frozen=True)
class _Ask:
    """One read question: by ``inst`` (None: an institution the case does not know) of
    ``kind`` for ``purpose``."""

    inst: str | None
    kind: str | None
    purpose: str | None


def _grant_applies(g: Grant, ask: _Ask, f: Facts, ctx: Context, action: str) -> bool:
    """Whether ``g`` gives ``ask`` the ``action`` on a resource it covers (``_covering``):
    cheap tests first, since access keys ask this for every kind and purpose."""
    if action not in g.actions or ask.purpose not in g.purposes:
        return False
    if g.kinds is not None and ask.kind not in g.kinds:
        return False
    if g.relation == "care-team":
        return ask.inst in ctx.care_team
    return g.relation != "recipient" or ask.inst in f.recipients


def _covering(f: Facts) -> tuple[Grant, ...]:
    """The grants that select the resource ``f`` describes and may see its label: the
    part of a grant's test that does not depend on who asks. Grants match on type,
    profiles, codes and labels only, so it is computed once per combination of those."""
    return _covering_kind(f.type, f.profiles, f.codes, f.labels)


@lru_cache(maxsize=4096)
def _covering_kind(type: str, profiles: frozenset[str], codes: frozenset[str],
                   labels: frozenset[str]) -> tuple[Grant, ...]:
    f = Facts(type, None, profiles, codes, labels, None, frozenset())
    return tuple(g for g in policies() if g.covers(f))


def _redactions(grants: list[Grant]) -> tuple[Obligation, ...]:
    # the least redaction any permitting grant asks for
    common = set.intersection(*(set(g.redact) for g in grants)) if grants else set()
    return (Obligation("redact", tuple(sorted(common))),) if common else ()


def read_verdict(ask: _Ask, f: Facts, ctx: Context, now: datetime) -> Decision:
    """Return layers 3-5 for one read question (no scopes, author or break-glass)."""
    if ask.purpose not in PURPOSES:
        return Decision(False, ("purpose",), ("Propósito de uso ausente o no reconocido.",))
    grants = [g for g in _covering(f) if _grant_applies(g, ask, f, ctx, "read")]
    verdict = consent_verdict(ask.inst, ask.kind, ask.purpose, f, ctx, now)
    if "V" in f.labels:
        if verdict.effect == "permit" and verdict.names_v:
            return Decision(True, verdict.basis + ("label:V",), (
                "Registro muy reservado (V): compartido por un consentimiento que lo nombra.",))
        return Decision(False, verdict.basis + ("label:V",), (
            "Registro muy reservado (V): solo se comparte con un consentimiento que lo nombra.",))
    fixed = [g for g in grants if not g.survivor_may_object]
    if fixed:
        if verdict.effect == "permit":  # her own permit lifts the mandate's redactions
            return Decision(True, tuple(g.id for g in fixed) + verdict.basis,
                            ("Mandato legal y consentimiento de la sobreviviente.",))
        return Decision(True, tuple(g.id for g in fixed),
                        ("Mandato legal de intercambio de información.",), _redactions(fixed))
    if verdict.effect == "deny":
        return Decision(False, verdict.basis, ("El consentimiento de la sobreviviente lo niega.",))
    if verdict.effect == "permit":
        return Decision(True, verdict.basis, ("Lo permite el consentimiento de la sobreviviente.",))
    if grants:
        return Decision(True, tuple(g.id for g in grants),
                        ("Mandato legal, sin oposición de la sobreviviente.",), _redactions(grants))
    return Decision(False, ("no-grant",), (
        "Ningún mandato legal ni consentimiento permite este acceso.",))


def known_institutions(f: Facts, ctx: Context) -> frozenset[str]:
    """Return the institutions (``Organization/<id>``) the case knows for ``f``."""
    known = set(ctx.care_team) | set(ctx.institutions) | set(f.recipients)
    known |= named_institutions(ctx.consents)
    if ctx.author:
        known.add(ctx.author)
    return frozenset(k for k in known if k.startswith("Organization/") and len(k) > 13)


def kind_permits(kind: str, purpose: str, f: Facts, ctx: Context, now: datetime,
                 known: frozenset[str]) -> Decision:
    """Return the read decision for an institution of ``kind`` the case does not know."""
    decision = read_verdict(_Ask(None, kind, purpose), f, ctx, now)
    if not decision.permit:
        return decision
    for inst in sorted(known):
        if ctx.institutions.get(inst) in (kind, None):
            own = read_verdict(_Ask(inst, kind, purpose), f, ctx, now)
            if not own.permit:
                return Decision(False, own.basis, (
                    "El consentimiento niega el acceso a una institución de este tipo que "
                    "participa en el caso; el tipo de institución ya no basta.",))
    return decision


def _now(ctx: Context) -> datetime:
    return ctx.now or datetime.now(UTC)


def _decide_read(p: Principal, f: Facts, ctx: Context) -> Decision:
    if p.institution and p.institution == ctx.author:
        return Decision(True, ("author",), ("La institución autora lee sus propios registros.",))
    now, known = _now(ctx), known_institutions(f, ctx)
    denied: list[Decision] = []
    if p.institution in known:
        ask = _Ask(p.institution, ctx.institutions.get(p.institution), p.purpose)
        decision = read_verdict(ask, f, ctx, now)
        if decision.permit:
            return decision
        denied.append(decision)
    if p.kind in KINDS and p.purpose in PURPOSES:
        decision = kind_permits(p.kind, p.purpose, f, ctx, now, known)
        if decision.permit:
            return decision
        denied.append(decision)
    if p.break_glass and "V" not in f.labels:
        return Decision(True, ("break-glass",),
                        ("Acceso de emergencia por riesgo inminente para la vida: "
                         + (p.justification or "").strip(),),
                        (Obligation("audit"), Obligation("notify-auditors")))
    if not denied:
        denied.append(read_verdict(_Ask(None, None, p.purpose), f, ctx, now))
    return Decision(False, tuple(b for d in denied for b in d.basis),
                    tuple(r for d in denied for r in d.reasons))


def _decide_write(p: Principal, action: str, f: Facts, ctx: Context) -> Decision:
    if p.institution is None:
        return Decision(False, ("institution",), ("El token no identifica a una institución.",))
    if ctx.author == p.institution or (action == "create" and ctx.author is None):
        return Decision(True, ("author",), ("La institución autora escribe sus registros.",))
    if action == "update":
        ask = _Ask(p.institution, ctx.institutions.get(p.institution, p.kind), p.purpose)
        grants = [g for g in _covering(f) if _grant_applies(g, ask, f, ctx, "update")]
        if grants:
            return Decision(True, tuple(g.id for g in grants), ("Mandato legal.",))
    return Decision(False, ("author",), ("Solo la institución autora modifica este registro.",))


def decide(principal: Principal, action: str, resource: dict[str, Any],
           context: Context | None = None) -> Decision:
    """Return the Decision for ``principal`` doing ``action`` on ``resource`` (a dict).

    ``action`` is a FHIR interaction of ``ACTIONS`` (ValueError otherwise). A deny is a
    Decision with ``permit`` False, never an exception.
    """
    ctx = context or Context()
    f = facts(resource)
    if not scope_allows(principal.scopes, action, f.type):
        return Decision(False, ("scope",), (
            f"Los permisos del token no incluyen '{action}' sobre {f.type}.",))
    if action in _READS:
        return _decide_read(principal, f, ctx)
    return _decide_write(principal, action, f, ctx)
