"""Search values of one parameter -> ``Condition``, by parameter type and modifier.

See https://hl7.org/fhir/R4B/search.html#token (and #reference, #string, #date, ...).
"""

from __future__ import annotations

import re

from server import errors
from server.search.definitions import SearchParam
from server.search.query import Condition, ReferenceValue, TokenValue
from server.search.syntax import ID, Unsupported, split, unescape

#: Modifiers applied, per parameter type (the CapabilityStatement lists these).
MODIFIERS = {"token": ("not",), "reference": ()}


def supports(definition: SearchParam) -> bool:
    """Whether this parser turns values of ``definition``'s type into conditions."""
    return definition.type in MODIFIERS


def modifiers(definition: SearchParam) -> tuple[str, ...]:
    """The modifiers applied to ``definition`` (``:[type]`` included for references)."""
    extra = definition.target if definition.type == "reference" else ()
    return (*MODIFIERS.get(definition.type, ()), *extra)


def condition(definition: SearchParam, modifier: str | None, value: str) -> Condition:
    """``definition[:modifier]=value`` as a condition; ``Unsupported`` for what is not
    applied, 400 for malformed values."""
    if not supports(definition) or (modifier and modifier not in modifiers(definition)):
        raise Unsupported
    code = definition.code
    if definition.type == "token":
        return Condition(code, "token", tuple(_token(v) for v in split(value)),
                         modifier or None)
    return Condition(code, "reference", tuple(
        _reference(v, modifier or None, definition.target) for v in split(value)))


def _reference(value: str, type_modifier: str | None, targets: tuple[str, ...]) -> ReferenceValue:
    """``Type/id``, ``id`` or an absolute URL (search.html#reference)."""
    if "://" in value:
        return ReferenceValue(None, None, value)
    parts = value.split("/")
    if len(parts) == 1:
        if not ID.fullmatch(value):
            raise errors.invalid("a reference search value is [type]/[id], [id] or a URL")
        if type_modifier is None and len(targets) == 1:
            type_modifier = targets[0]
        return ReferenceValue(type_modifier, value)
    if len(parts) == 2 and (parts[0] in targets or not targets) and ID.fullmatch(parts[1]):
        if type_modifier is not None and type_modifier != parts[0]:
            raise errors.invalid(f"reference {parts[0]}/... contradicts the :{type_modifier} "
                                 "modifier")
        return ReferenceValue(parts[0], parts[1])
    raise errors.invalid("a reference search value is [type]/[id], [id] or a URL, and the "
                         "type must be one the parameter allows")


def _token(value: str) -> TokenValue:
    parts = re.split(r"(?<!\\)\|", value)
    if len(parts) > 2:
        raise errors.invalid("a token is [system]|[code]")
    parts = [unescape(p) for p in parts]
    if len(parts) == 1:
        return TokenValue(None, parts[0])
    system, code = parts
    return TokenValue(system, code or None)
