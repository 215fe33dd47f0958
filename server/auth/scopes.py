"""SMART system scopes: parsing, the grant (requested ∩ allowed), and what they allow.

See: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html

A scope is ``system/<Type or *>.<permissions>``. SMART v2 permissions are a subset of
``cruds`` in that order (create, read, update, delete, search); the v1 suffixes are
accepted and mapped (``read`` -> ``rs``, ``write`` -> ``cud``, ``*`` -> ``cruds``).
Scopes with a query (``system/Observation.rs?category=...``), ``patient/`` and ``user/``
scopes are not granted: this server issues system tokens only. Granted scopes are always
written in the v2 form (``system/Patient.rs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from server.search.definitions import resource_types

PERMISSIONS = "cruds"
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
WILDCARD = "*"


@dataclass(frozen=True, order=True)
class Scope:
    """One system scope: a resource type (or ``*``) and its permissions (``cruds`` order)."""

    type: str
    permissions: str

    def __str__(self) -> str:
        return f"system/{self.type}.{self.permissions}"


def parse(text: str) -> Scope | None:
    """The system scope ``text`` names, or None (not a system scope this server grants)."""
    if not text.startswith("system/") or "?" in text:
        return None
    type, dot, suffix = text[len("system/"):].rpartition(".")
    if not dot or not (type == WILDCARD or type in resource_types()):
        return None
    permissions = _V1.get(suffix, suffix)
    if not permissions or any(p not in PERMISSIONS for p in permissions) \
            or "".join(sorted(permissions, key=PERMISSIONS.index)) != permissions \
            or len(set(permissions)) != len(permissions):
        return None
    return Scope(type, permissions)


def parse_all(text: str) -> tuple[list[Scope], list[str]]:
    """(the scopes of a space-separated list, the words that are not scopes we grant)."""
    scopes, refused = [], []
    for word in text.split():
        scope = parse(word)
        if scope is None:
            refused.append(word)
        else:
            scopes.append(scope)
    return scopes, refused


def _merge(scopes: list[Scope]) -> tuple[Scope, ...]:
    """One scope per type, its permissions the union, sorted; nothing redundant with
    the wildcard kept."""
    by_type: dict[str, set[str]] = {}
    for scope in scopes:
        by_type.setdefault(scope.type, set()).update(scope.permissions)
    everywhere = by_type.get(WILDCARD, set())
    merged = []
    for type, permissions in by_type.items():
        if type != WILDCARD:
            permissions = permissions - everywhere
        if permissions:
            merged.append(Scope(type, "".join(p for p in PERMISSIONS if p in permissions)))
    return tuple(sorted(merged, key=lambda s: (s.type != WILDCARD, s.type)))


def grant(requested: list[Scope], allowed: list[Scope]) -> tuple[Scope, ...]:
    """The scopes to grant: what was requested, narrowed to what the client may have
    (``system/*.cruds`` asked by a client allowed ``system/Patient.rs`` is
    ``system/Patient.rs``)."""
    granted = []
    for asked in requested:
        for may in allowed:
            if asked.type == may.type or may.type == WILDCARD:
                type = asked.type
            elif asked.type == WILDCARD:
                type = may.type
            else:
                continue
            permissions = "".join(p for p in asked.permissions if p in may.permissions)
            if permissions:
                granted.append(Scope(type, permissions))
    return _merge(granted)


def normalise(texts: list[str]) -> tuple[str, ...]:
    """Scope words as stored on a client: parsed, merged, v2. ValueError for a word that
    is not a system scope this server grants."""
    scopes, refused = parse_all(" ".join(texts))
    if refused:
        raise ValueError(f"not a SMART system scope this server grants: {', '.join(refused)} "
                         "(use e.g. system/*.cruds or system/Patient.rs)")
    return tuple(str(s) for s in _merge(scopes))


@lru_cache(maxsize=1024)
def permissions_of(scopes: frozenset[str]) -> dict[str, str]:
    """Type (or ``*``) -> permissions, of a token's granted scopes (cached: every request
    of a token asks the same)."""
    table: dict[str, str] = {}
    for text in scopes:
        scope = parse(text)
        if scope is not None:
            table[scope.type] = table.get(scope.type, "") + scope.permissions
    return table


def allows(scopes: frozenset[str], type: str | None, permission: str) -> bool:
    """Whether ``scopes`` give ``permission`` (one of ``cruds``) on ``type`` (None: on
    every type, which only a ``system/*`` scope gives)."""
    table = permissions_of(scopes)
    if permission in table.get(WILDCARD, ""):
        return True
    return type is not None and permission in table.get(type, "")
