"""Layer 4: the survivor's Consent resources, read as FHIR R4B defines them.

https://hl7.org/fhir/R4B/consent.html. Only ``status`` ``active`` counts (``inactive``,
``rejected``, ``draft``, ``proposed``, ``entered-in-error`` do not: a revoked Consent takes
effect on the next request). A provision applies when every criterion it states holds
(each list: any of its items): ``period`` (now), ``actor`` (an ``Organization`` reference;
the case's ``CareTeam``; or, by the ``ext-tipo-institucion`` extension of SharingConsent,
an institution kind), ``action`` (a read is ``access``, ``use`` or ``disclose``),
``securityLabel`` (v3-Confidentiality codes), ``purpose``, ``class`` (a resource type or a
profile), ``code``, ``dataPeriod`` and ``data``. A nested provision is an exception to its
parent: it is looked at only where the parent applies, and the deepest applicable ones
decide. Across provisions and Consents a deny beats a permit.

Where a criterion cannot be judged the reading errs towards privacy: a deny naming an
actor we cannot resolve (a PractitionerRole, another CareTeam) applies to everyone, and a
deny with a ``dataPeriod`` applies to undated data; a permit does neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ._facts import Facts
from ._model import CONFIDENTIALITY, Context

__all__ = ["Verdict", "consent_verdict", "named_institutions", "parse_instant"]

KIND_EXTENSION = "https://fhir.amparo.cl/StructureDefinition/ext-tipo-institucion"
_READ_ACTIONS = {"access", "use", "disclose"}


@dataclass(frozen=True)
class Verdict:
    """What the Consents say: ``effect`` permit, deny or None (silent), which Consents said
    it, and whether a permit was given by a provision naming the V label."""

    effect: str | None
    basis: tuple[str, ...] = ()
    names_v: bool = False


def parse_instant(value: str | None, *, end: bool = False) -> datetime | None:
    """Return a FHIR date/dateTime as an aware datetime: its first instant, or with
    ``end`` its last (``2025-03`` ends at the last instant of March); None if unreadable."""
    if not value:
        return None
    try:
        if "T" in value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        parts = [int(p) for p in value.split("-")]
        year, month, day = (parts + [1, 1])[:3]
        start = datetime(year, month, day, tzinfo=UTC)
        if not end:
            return start
        if len(parts) == 1:
            return datetime(year + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
        if len(parts) == 2:
            nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return nxt - timedelta(microseconds=1)
        return start + timedelta(days=1) - timedelta(microseconds=1)
    except ValueError:
        return None


def _within(period: dict[str, Any] | None, moment: datetime | None) -> bool:
    if moment is None:
        return False
    start = parse_instant((period or {}).get("start"))
    stop = parse_instant((period or {}).get("end"), end=True)
    return (start is None or start <= moment) and (stop is None or moment <= stop)


def _codes(items: Iterable[Any]) -> set[str]:
    out: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            out.update(c.get("code") for c in item.get("coding", [item]) if isinstance(c, dict))
    return {c for c in out if c}


def _kinds(provision: dict[str, Any]) -> set[str]:
    return _codes(e.get("valueCodeableConcept") for e in provision.get("extension", [])
                  if isinstance(e, dict) and e.get("url") == KIND_EXTENSION)


def _actor_matches(p: dict[str, Any], inst: str | None, kind: str | None, ctx: Context,
                   deny: bool) -> bool:
    refs = [(a.get("reference") or {}).get("reference") for a in p.get("actor", [])
            if isinstance(a, dict)]
    kinds = _kinds(p)
    if not refs and not kinds:
        return True
    if kind is not None and kind in kinds:
        return True
    for ref in refs:
        if isinstance(ref, str) and ref.startswith("Organization/"):
            if ref == inst:
                return True
        elif ref in ctx.care_team_refs:
            if inst is not None and inst in ctx.care_team:
                return True
        elif deny:  # an actor we cannot resolve: a deny errs towards privacy
            return True
    return False


def _data_matches(p: dict[str, Any], f: Facts, ctx: Context) -> bool:
    for item in p.get("data", []):
        ref = (item.get("reference") or {}).get("reference")
        meaning = item.get("meaning")
        if ref == f.reference or (meaning in ("related", "dependents") and ref in f.references):
            return True
        if meaning == "authoredby" and ref is not None and ref == ctx.author:
            return True
    return False


def _applies(p: dict[str, Any], inst: str | None, kind: str | None, purpose: str | None,
             f: Facts, ctx: Context, now: datetime) -> bool:
    deny = p.get("type") != "permit"
    checks = (
        "period" not in p or _within(p["period"], now),
        _actor_matches(p, inst, kind, ctx, deny),
        "action" not in p or bool(_codes(p["action"]) & _READ_ACTIONS),
        "securityLabel" not in p or bool(
            {c.get("code") for c in p["securityLabel"] if c.get("system") == CONFIDENTIALITY}
            & f.labels),
        "purpose" not in p or purpose in _codes(p["purpose"]),
        "class" not in p or bool(_codes(p["class"]) & ({f.type} | f.profiles)),
        "code" not in p or bool({f"{c.get('system')}|{c.get('code')}" for cc in p["code"]
                                 for c in cc.get("coding", [])} & f.codes),
        "dataPeriod" not in p or (
            deny if f.date is None else _within(p["dataPeriod"], parse_instant(f.date))),
        "data" not in p or _data_matches(p, f, ctx),
    )
    return all(checks)


def _evaluate(p: dict[str, Any], inst: str | None, kind: str | None, purpose: str | None,
              f: Facts, ctx: Context, now: datetime, names_v: bool) -> tuple[str, bool] | None:
    """Return (effect, names V) of the deepest applicable provisions, or None."""
    if not isinstance(p, dict) or not _applies(p, inst, kind, purpose, f, ctx, now):
        return None
    names_v = names_v or "V" in _codes(p.get("securityLabel", []))
    results = [r for child in p.get("provision", [])
               if (r := _evaluate(child, inst, kind, purpose, f, ctx, now, names_v))]
    if any(effect == "deny" for effect, _ in results):
        return ("deny", False)
    permits = [nv for effect, nv in results if effect == "permit"]
    if permits:
        return ("permit", any(permits))
    return ("permit", names_v) if p.get("type") == "permit" else ("deny", False)


def consent_verdict(inst: str | None, kind: str | None, purpose: str | None, f: Facts,
                    ctx: Context, now: datetime) -> Verdict:
    """Return what the active Consents of ``ctx`` say about a read of ``f`` by an
    institution ``inst`` (or any unnamed one, None) of ``kind`` for ``purpose``."""
    denies, permits, names_v = [], [], False
    for consent in ctx.consents:
        if consent.get("status") != "active":
            continue
        result = _evaluate(consent.get("provision"), inst, kind, purpose, f, ctx, now, False)
        name = f"Consent/{consent.get('id', '?')}"
        if result and result[0] == "deny":
            denies.append(name)
        elif result:
            permits.append(name)
            names_v = names_v or result[1]
    if denies:
        return Verdict("deny", tuple(denies))
    if permits:
        return Verdict("permit", tuple(permits), names_v)
    return Verdict(None)


def named_institutions(consents: Iterable[dict[str, Any]]) -> set[str]:
    """Return every ``Organization/<id>`` a provision of ``consents`` names as actor."""
    found: set[str] = set()

    def walk(p: Any) -> None:
        if isinstance(p, dict):
            for actor in p.get("actor", []):
                ref = (actor.get("reference") or {}).get("reference") if isinstance(
                    actor, dict) else None
                if isinstance(ref, str) and ref.startswith("Organization/"):
                    found.add(ref)
            for child in p.get("provision", []):
                walk(child)

    for consent in consents:
        walk(consent.get("provision"))
    return found
