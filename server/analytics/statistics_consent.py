"""Whether a survivor declined the statistical use of her data, as her Consents say.

Primero (the GBVIMS case-management system) keeps a consent-for-reporting flag; here
the same choice is a provision of her SharingConsent (``profiles/ig/
StructureDefinition-SharingConsent.json``) read with FHIR R4B's Consent semantics
(https://hl7.org/fhir/R4B/consent.html), and the statistics purpose is HL7 v3 ActReason
``PUBHLTH`` (``terminology/valuesets/proposito-uso.json``). A survivor who declined is
left out entirely, all her records, of every de-identified export
(``server/bulk/``) and every indicator: a de-identified record of hers could still be
linked back through the others, and she asked for none of it to be counted.

She declined when one of her Consents with status ``active`` has a provision, at any
depth, of type ``deny``, in force at the instant asked about (its own ``period`` and the
period of every provision enclosing it hold), that

1. names ``PUBHLTH`` among its ``purpose`` codes, whatever else it names (actors,
   classes, data, labels): a refusal of statistical use of part of her record takes
   her whole record out; or
2. names no purpose and no actor (no ``actor``, no ``ext-tipo-institucion`` kind), nor
   does any provision enclosing it: a refusal of every use by anyone, statistics
   included.

A deny that names only institutions, care teams, kinds or other purposes is about them,
not about statistics. Where FHIR's nesting would make a deny of ``PUBHLTH`` inside a
permit for another purpose apply to nothing, it still counts (rule 1): the reading errs
towards her privacy, as ``consent/_provisions.py`` does. A permit never undoes a deny,
in the same Consent or another (a deny beats a permit).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import orjson

from consent import parse_instant
from server.access import survivor_of
from server.search.query import SearchQuery
from server.store import Reader

__all__ = ["STATISTICS", "declines_statistics", "decliners"]

#: The statistics purpose of use (HL7 v3 ActReason).
STATISTICS = "PUBHLTH"
_KIND_EXTENSION = "https://fhir.amparo.cl/StructureDefinition/ext-tipo-institucion"
_PAGE = 500


def declines_statistics(consents: Iterable[dict], now: datetime | None = None) -> bool:
    """Whether ``consents`` (one survivor's Consent resources, any status) decline the
    statistical use of her data at ``now`` (default: the time of the call); see the
    module docstring for the rule."""
    moment = now or datetime.now(UTC)
    return any(consent.get("status") == "active"
               and _declines(consent.get("provision"), moment, blanket=True)
               for consent in consents if isinstance(consent, dict))


def decliners(reader: Reader, now: datetime | None = None) -> frozenset[str]:
    """Every survivor (``Patient/<id>``) who declined statistical use at ``now``: her
    Consents read through ``reader`` without any access filter, a page at a time, so
    only the decliners are held in memory."""
    moment = now or datetime.now(UTC)
    found = set()
    for consent in _consents(reader):
        if declines_statistics((consent,), moment):
            patient = survivor_of(consent)
            if patient is not None:
                found.add(patient)
    return frozenset(found)


def _declines(provision: object, now: datetime, blanket: bool) -> bool:
    """Whether ``provision`` or one nested in it declines statistics; ``blanket``: no
    provision enclosing it names a purpose or an actor."""
    if not isinstance(provision, dict) or not _in_force(provision.get("period"), now):
        return False
    purposes = _codes(provision.get("purpose"))
    blanket = blanket and not purposes and not _names_actor(provision)
    if provision.get("type") == "deny" and (STATISTICS in purposes or blanket):
        return True
    return any(_declines(child, now, blanket) for child in provision.get("provision") or ())


def _names_actor(provision: dict) -> bool:
    return bool(provision.get("actor")) or any(
        isinstance(e, dict) and e.get("url") == _KIND_EXTENSION
        for e in provision.get("extension") or ())


def _codes(codings: object) -> set[str]:
    return {c["code"] for c in codings or () if isinstance(c, dict)
            and isinstance(c.get("code"), str)} if isinstance(codings, list) else set()


def _in_force(period: object, now: datetime) -> bool:
    if not isinstance(period, dict):
        return True
    start, end = _instant(period.get("start")), _instant(period.get("end"), end=True)
    return (start is None or start <= now) and (end is None or now <= end)


def _instant(value: object, end: bool = False) -> datetime | None:
    """A FHIR date or dateTime as an aware instant: its first moment, or with ``end``
    its last (``2025-03`` ends with March), as the consent library reads Consents. None
    when absent or unreadable (an unreadable bound does not limit the provision: the
    reading errs towards a deny)."""
    return parse_instant(value, end=end) if isinstance(value, str) else None


def _consents(reader: Reader) -> Iterator[dict]:
    """Every current Consent of the store, keyset-paged in insertion order."""
    for found in reader.scan(SearchQuery("Consent", count=_PAGE, total=False)):
        yield orjson.loads(found.body)
