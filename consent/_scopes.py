"""Layer 1: does a token's scopes allow an action on a resource type?

SMART App Launch scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html):
v2 ``system/<Type|*>.<cruds>`` (any subset of the letters, in that order) and v1
``system/<Type|*>.read|write|*``. ``user/`` scopes read the same way (the user's
institution is the principal). ``patient/`` scopes and v2 scopes with a query
(``system/Observation.rs?category=...``) are not honoured: they grant nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ._model import ACTIONS

__all__ = ["scope_allows"]

_SCOPE = re.compile(r"^(system|user)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$")
_V2 = re.compile(r"^c?r?u?d?s?$")
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}


def _letters(permission: str) -> str:
    if permission in _V1:
        return _V1[permission]
    return permission if _V2.match(permission) else ""


def scope_allows(scopes: Iterable[str], action: str, resource_type: str) -> bool:
    """Return True when one of ``scopes`` allows ``action`` on ``resource_type``.

    Raises ValueError for an action that is not a FHIR interaction of ``ACTIONS``.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {sorted(ACTIONS)}")
    letter = ACTIONS[action]
    for scope in scopes:
        m = _SCOPE.match(scope)
        if m and m.group(2) in ("*", resource_type) and letter in _letters(m.group(3)):
            return True
    return False
