"""Search values of one parameter -> ``Condition``, by parameter type and modifier.

Each parameter type reads its values the way https://hl7.org/fhir/R4B/search.html says
(#token, #reference, #string, #uri, #date, #number, #quantity, #composite, #modifiers,
#prefix) and
normalises them exactly as extraction normalised the indexed values
(``server/search/values.py``), so the store compares like with like. Malformed values
are a 400; modifiers and parameter types this server does not apply are ``Unsupported``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from server import errors
from server.search.definitions import SearchParam, composite_parts
from server.search.query import Condition, RangeValue, ReferenceValue, TokenValue
from server.search.syntax import ID, Unsupported, split, unescape
from server.search.values import date_bounds, normalize, number_bounds

#: Modifiers applied, per parameter type (the CapabilityStatement lists these).
#: search.html#modifiers: ``missing`` for every type; special is not applied. Composites
#: are applied per parameter (``supports``): those of two value-typed components.
MODIFIERS: dict[str, tuple[str, ...]] = {
    "token": ("missing", "not", "text"),
    "reference": ("missing", "identifier"),
    "string": ("missing", "exact", "contains"),
    "uri": ("missing", "below", "above"),
    "date": ("missing",),
    "number": ("missing",),
    "quantity": ("missing",),
    "composite": ("missing",),
}

#: search.html#prefix: the comparison prefixes of date, number and quantity values.
PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})

_BAR = re.compile(r"(?<!\\)\|")
_DOLLAR = re.compile(r"(?<!\\)\$")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_SEGMENTS = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def supports(definition: SearchParam) -> bool:
    """Whether this parser turns values of ``definition`` into conditions: every
    parameter of the types in ``MODIFIERS``, composites only when their two components
    are indexed (``definitions.composite_parts``; not MolecularSequence's three-part
    coordinates)."""
    if definition.type == "composite":
        return composite_parts(definition) is not None
    return definition.type in MODIFIERS


def modifiers(definition: SearchParam) -> tuple[str, ...]:
    """The modifiers applied to ``definition`` (``:[type]`` included for references).

    ``_lastUpdated`` is a column every resource has, so ``:missing`` means nothing there.
    """
    found = MODIFIERS.get(definition.type, ())
    if definition.code == "_lastUpdated":
        found = tuple(m for m in found if m != "missing")
    extra = definition.target if definition.type == "reference" else ()
    return (*found, *extra)


def condition(definition: SearchParam, modifier: str | None, value: str) -> Condition:
    """``definition[:modifier]=value`` as a condition; ``Unsupported`` for what is not
    applied, 400 for malformed values."""
    if not supports(definition) or (modifier and modifier not in modifiers(definition)):
        raise Unsupported
    code, kind = definition.code, definition.type
    if modifier == "missing":
        return _missing(code, kind, value)
    values = split(value)
    if kind == "token":
        if modifier == "text":
            return Condition(code, "token", tuple(_text(v) for v in values), "text")
        return Condition(code, "token", tuple(_token(v) for v in values), modifier)
    if kind == "reference":
        if modifier == "identifier":
            return Condition(code, "token", tuple(_token(v) for v in values), "identifier")
        return Condition(code, "reference", tuple(
            _reference(v, modifier, definition.target) for v in values))
    if kind == "string":
        return Condition(code, "string", tuple(_text(v) if modifier != "exact" else unescape(v)
                                               for v in values), modifier)
    if kind == "uri":
        return Condition(code, "uri", tuple(unescape(v) for v in values), modifier)
    if kind == "date":
        kind = "last_updated" if code == "_lastUpdated" else "date"
        return Condition(code, kind, tuple(_date(v) for v in values))
    if kind == "number":
        return Condition(code, "number", tuple(_number(v) for v in values))
    if kind == "composite":
        return Condition(code, "composite", tuple(_composite(definition, v) for v in values))
    return Condition(code, "quantity", tuple(_quantity(v) for v in values))


def _composite(definition: SearchParam, value: str) -> tuple[Condition, Condition]:
    """``part1$part2`` (search.html#composite): each part read as a value of its
    component's own type (prefixes and precision included), ``\\$`` a literal dollar.

    The parts become one-value conditions of the component types, matched on the same
    index row (``server/store/sqlite_conditions.py``): a code and a value of the same
    component, never of two different ones.
    """
    parts = _DOLLAR.split(value)
    components = composite_parts(definition)
    if components is None:  # supports() said so already
        raise Unsupported
    if len(parts) != len(components) or not all(parts):
        raise errors.invalid(f"{definition.code} takes {len(components)} values joined by $ "
                             "(a literal $ is written \\$)")
    first, second = (_component(component, part)
                     for (component, _), part in zip(components, parts, strict=True))
    return first, second


def _component(component: SearchParam, text: str) -> Condition:
    """One part of a composite value, as a condition on that component's type."""
    kind = component.type
    if kind == "token":
        value: object = _token(text)
    elif kind == "reference":
        value = _reference(text, None, component.target)
    elif kind == "string":
        value = _text(text)
    elif kind == "uri":
        value = unescape(text)
    elif kind == "date":
        value = _date(text)
    elif kind == "number":
        value = _number(text)
    else:
        value = _quantity(text)
    return Condition(component.code, kind, (value,))


def _missing(code: str, kind: str, value: str) -> Condition:
    """``:missing=true|false`` (search.html#missing): the parameter's type names the index."""
    if value not in ("true", "false"):
        raise errors.invalid(f":missing of {code} takes true or false")
    return Condition(code, "missing", (value == "true",), kind)


def _text(value: str) -> str:
    """A string (or ``:text``) search value, normalised like the indexed strings so the
    comparison is case- and accent-insensitive (search.html#string).

    Control characters cannot occur in a FHIR string, and SQLite's LIKE would end its
    pattern at a NUL (matching everything), so they are refused.
    """
    text = normalize(unescape(value))
    if not text:
        raise errors.invalid("a string search value cannot be blank")
    if _CONTROL.search(text):
        raise errors.invalid("a string search value cannot hold control characters")
    return text


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
    parts = _BAR.split(value)
    if len(parts) > 2:
        raise errors.invalid("a token is [system]|[code]")
    parts = [unescape(p) for p in parts]
    if len(parts) == 1:
        return TokenValue(None, parts[0])
    system, code = parts
    return TokenValue(system, code or None)


def _prefixed(value: str) -> tuple[str, str]:
    """(prefix, rest) of a date/number/quantity value; ``eq`` when none is written.

    Values start with a digit, a sign or a dot, so two leading letters are a prefix:
    an unknown one is a 400 rather than a silently different search (search.html#prefix).
    """
    head = value[:2]
    if head.isalpha():
        if head not in PREFIXES:
            raise errors.invalid(f"unknown search prefix {head[:2]!r}")
        value = value[2:]
        if not value:
            raise errors.invalid("a search prefix needs a value after it")
        return head, value
    return "eq", value


def _date(value: str) -> RangeValue:
    """A date search value as the instants its precision covers (search.html#date):
    ``2024`` the year, ``2024-03`` the month, ``2024-03-31T23:59`` the minute; without a
    timezone it is read as UTC, as extraction reads stored values."""
    prefix, text = _prefixed(value)
    bounds = date_bounds(text)
    if bounds is None:
        raise errors.invalid("a date search value is YYYY[-MM[-DD[Thh:mm[:ss[.f]][zone]]]]")
    return RangeValue(prefix, bounds[0], bounds[1])


def _decimal(text: str) -> tuple[float, float]:
    """(low, high) of a decimal as written: its precision makes it a range
    (search.html#number: ``100`` is [99.5, 100.5])."""
    if not _NUMBER.fullmatch(text):
        raise errors.invalid("a number search value is a decimal like 100, 0.8 or 1e2")
    try:
        bounds = number_bounds(Decimal(text))
    except InvalidOperation:
        bounds = None
    if bounds is None:
        raise errors.invalid("a number search value is out of range")
    return bounds[1], bounds[2]


#: Prefixes for which a number's implicit precision is ignored (search.html#number:
#: "lt100" is less than exactly 100); their RangeValue is the point [value, value].
_EXACT_PREFIXES = frozenset({"gt", "lt", "ge", "le", "sa", "eb"})


def _number_range(prefix: str, text: str) -> tuple[float, float]:
    low, high = _decimal(text)
    if prefix in _EXACT_PREFIXES:
        exact = float(text)
        return exact, exact
    return low, high


def _number(value: str) -> RangeValue:
    prefix, text = _prefixed(value)
    return RangeValue(prefix, *_number_range(prefix, text))


def _quantity(value: str) -> RangeValue:
    """``[prefix]value[|system|code]`` (search.html#quantity); ``value||code`` matches
    the code or the unit of any system."""
    parts = _BAR.split(value)
    if len(parts) not in (1, 3):
        raise errors.invalid("a quantity is [prefix]value or [prefix]value|system|code")
    prefix, text = _prefixed(parts[0])
    low, high = _number_range(prefix, text)
    if len(parts) == 1:
        return RangeValue(prefix, low, high)
    system, code = (unescape(p) or None for p in parts[1:])
    return RangeValue(prefix, low, high, system, code)


def uri_segments(value: str) -> list[str]:
    """``value`` and its parents by path segment, for ``:above`` (search.html#uri):
    ``http://a.org/fhir/ValueSet/1`` -> itself, ``http://a.org/fhir/ValueSet``, ..."""
    parts = value.split("/")
    found = ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]
    return [p for p in found if p and not p.endswith(":")][:_MAX_SEGMENTS]
