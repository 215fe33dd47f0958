"""A hash chain over the audit trail: each event carries
``sha256(previous hash + canonical JSON of the event without its seal)``, so altering,
removing or reordering an event breaks the chain at that event (and a truncated tail is
caught by comparing the last hash with the one the store keeps apart).

Canonical JSON: keys sorted, no whitespace, UTF-8, the ``id`` and ``meta`` the store
stamps left out (they are assigned after sealing). The seal is an extension on the
event, so the event stays a valid AuditEvent that any FHIR tool can read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

__all__ = ["GENESIS", "SEAL", "ChainBreak", "matches_seal", "seal", "seal_of", "sealed_hash",
           "verify"]

SEAL = "https://fhir.amparo.cl/StructureDefinition/ext-sello-auditoria"
#: The "previous hash" of the first event.
GENESIS = "0" * 64
_UNSEALED = ("id", "meta")
#: Why a trail breaks (``ChainBreak.reason``), shared with ``trail.verify``.
NO_SEAL = "the event carries no seal"
NOT_FOLLOWING = "the event does not follow the one before it (an event was removed or reordered)"
ALTERED = "the event's content does not match its seal (it was altered)"


@dataclass(frozen=True)
class ChainBreak:
    """Where a trail stops being intact: the position of the first event that does not
    follow from the one before it, why, and that event's id when there is one (a
    removed event has none)."""

    position: int
    reason: str
    id: str | None = None


def seal(event: dict, previous: str) -> dict:
    """``event`` with its seal: the hash that chains it to ``previous``."""
    unsealed = _unsealed(event)
    digest = _digest(unsealed, previous)
    return {**unsealed, "extension": [*unsealed.get("extension", []),
                                      {"url": SEAL, "valueString": f"{previous}:{digest}"}]}


def sealed_hash(event: dict) -> str | None:
    """The hash an event was sealed with (None if it carries no seal)."""
    found = seal_of(event)
    return found[1] if found is not None else None


def seal_of(event: dict) -> tuple[str, str] | None:
    """(the previous hash, the event's hash) its seal states; None without a seal."""
    value = _seal_value(event)
    if not isinstance(value, str) or ":" not in value:
        return None
    linked, digest = value.split(":", 1)
    return linked, digest


def matches_seal(event: dict, sealed: tuple[str, str]) -> bool:
    """Whether the content of ``event`` is still what ``sealed`` (its ``seal_of``)
    was computed over: False once anything but its ``id`` and ``meta`` changed."""
    linked, digest = sealed
    return _digest(_unsealed(event), linked) == digest


def verify(events: Iterable[dict], genesis: str = GENESIS) -> ChainBreak | None:
    """None when every event follows from the one before it (the first from
    ``genesis``); else the first break."""
    previous = genesis
    for position, event in enumerate(events):
        sealed = seal_of(event)
        if sealed is None:
            return ChainBreak(position, NO_SEAL, event.get("id"))
        if sealed[0] != previous:
            return ChainBreak(position, NOT_FOLLOWING, event.get("id"))
        if not matches_seal(event, sealed):
            return ChainBreak(position, ALTERED, event.get("id"))
        previous = sealed[1]
    return None


def _unsealed(event: dict) -> dict:
    out = {k: v for k, v in event.items() if k not in _UNSEALED}
    extensions = [e for e in out.get("extension", []) if e.get("url") != SEAL]
    if extensions:
        out["extension"] = extensions
    else:
        out.pop("extension", None)
    return out


def _seal_value(event: dict) -> str | None:
    for extension in event.get("extension", []):
        if extension.get("url") == SEAL:
            return extension.get("valueString")
    return None


def _digest(unsealed: dict, previous: str) -> str:
    body = orjson.dumps(unsealed, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(previous.encode() + body).hexdigest()
