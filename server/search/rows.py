"""Index rows of one element, chosen by search parameter type and FHIR datatype.

``converter(param_type, fhir_type)`` returns the function that turns one element of that
datatype into rows of that parameter type, or None when the pair yields nothing (a date
parameter reaching an Age, a quantity parameter reaching SampledData). The expression
compiler picks the converter once per path, so extraction never inspects types again.
``guess_type`` names the datatype of a value whose path the compiler could not follow.

Row semantics follow https://hl7.org/fhir/R4B/search.html (token, string, reference,
date, number, quantity, uri). Elements of the wrong shape are skipped, never raised on.
"""

from __future__ import annotations

from collections.abc import Callable

from server.search.definitions import resource_types
from server.search.index import DATE_MAX, DATE_MIN, Part, ResourceIndex
from server.search.values import (
    date_bounds,
    normalize,
    number_bounds,
    parse_canonical,
    parse_reference,
)

__all__ = ["Converter", "composite_parts_of", "converter", "guess_type"]

Converter = Callable[[str, object, ResourceIndex], None]
_INF = float("inf")
_STRINGISH = ("string", "markdown", "code", "id", "uri", "url", "canonical", "oid", "uuid")
_QUANTITIES = ("Quantity", "Age", "Duration", "Distance", "Count", "SimpleQuantity")


def _str(value: object) -> str | None:
    return value if value.__class__ is str and value else None


def _text(value: object) -> str | None:
    return normalize(value) if value.__class__ is str and value else None


# -- token: https://hl7.org/fhir/R4B/search.html#token ---------------------------------


def _token_code(code: str, value: object, index: ResourceIndex) -> None:
    if (text := _str(value)) is not None:
        index.tokens.append((code, None, text, None))


def _token_boolean(code: str, value: object, index: ResourceIndex) -> None:
    if value is True or value is False:
        index.tokens.append((code, None, "true" if value else "false", None))


def _token_coding(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is dict:
        system, c = _str(value.get("system")), _str(value.get("code"))
        text = _text(value.get("display"))
        if system or c or text:
            index.tokens.append((code, system, c, text))


def _token_concept(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is not dict:
        return
    codings = value.get("coding")
    if codings.__class__ is list:
        for coding in codings:
            _token_coding(code, coding, index)
    if (text := _text(value.get("text"))) is not None:
        index.tokens.append((code, None, None, text))


def _token_identifier(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is not dict:
        return
    system, c = _str(value.get("system")), _str(value.get("value"))
    if system or c:
        kind = value.get("type")
        text = _text(kind.get("text")) if kind.__class__ is dict else None
        index.tokens.append((code, system, c, text))


def _token_contact(code: str, value: object, index: ResourceIndex) -> None:
    # search.html#token: a ContactPoint matches on its value; it has no token system.
    if value.__class__ is dict and (text := _str(value.get("value"))) is not None:
        index.tokens.append((code, None, text, None))


def _token_codeable_reference(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is dict:
        _token_concept(code, value.get("concept"), index)


# -- string: https://hl7.org/fhir/R4B/search.html#string -------------------------------


def _string(code: str, value: object, index: ResourceIndex) -> None:
    if (text := _str(value)) is not None:
        index.strings.append((code, normalize(text), text))


def _string_parts(*fields: str) -> Converter:
    def convert(code: str, value: object, index: ResourceIndex) -> None:
        if value.__class__ is not dict:
            return
        strings = index.strings
        for name in fields:
            part = value.get(name)
            if part is None:
                continue
            for item in part if part.__class__ is list else (part,):
                if item.__class__ is str and item:
                    strings.append((code, normalize(item), item))

    return convert


# -- reference: https://hl7.org/fhir/R4B/search.html#reference -------------------------


def _reference(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is not dict:
        return
    if (text := _str(value.get("reference"))) is not None:
        parsed = parse_reference(text, resource_types())
        if parsed is not None:
            index.references.append((code, *parsed))
    # An identifier-only reference is searched with the :identifier modifier.
    _token_identifier(code + ":identifier", value.get("identifier"), index)


def _reference_canonical(code: str, value: object, index: ResourceIndex) -> None:
    if (text := _str(value)) is not None:
        url, version = parse_canonical(text)
        index.references.append((code, None, None, version, url))


def _reference_uri(code: str, value: object, index: ResourceIndex) -> None:
    if (text := _str(value)) is not None:
        index.references.append((code, None, None, None, text))


def _reference_codeable_reference(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is dict:
        _reference(code, value.get("reference"), index)


# -- date: https://hl7.org/fhir/R4B/search.html#date -----------------------------------


def _date(code: str, value: object, index: ResourceIndex) -> None:
    if (bounds := date_bounds(value)) is not None:
        index.dates.append((code, *bounds))


def _date_period(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is not dict:
        return
    start, end = value.get("start"), value.get("end")
    low = date_bounds(start) if start is not None else (DATE_MIN, DATE_MIN)
    high = date_bounds(end) if end is not None else (DATE_MAX, DATE_MAX)
    if low is not None and high is not None and (start is not None or end is not None):
        index.dates.append((code, low[0], high[1]))


def _date_timing(code: str, value: object, index: ResourceIndex) -> None:
    events = value.get("event") if value.__class__ is dict else None
    if events.__class__ is not list:
        return
    bounds = [b for b in map(date_bounds, events) if b is not None]
    if bounds:
        index.dates.append((code, min(b[0] for b in bounds), max(b[1] for b in bounds)))


# -- number and quantity: search.html#number, search.html#quantity ---------------------


def _number(code: str, value: object, index: ResourceIndex) -> None:
    if (bounds := number_bounds(value)) is not None:
        index.numbers.append((code, *bounds))


def _range(value: object) -> tuple[float, float, float, dict] | None:
    """(value, low, high, the end that carries the unit) of a Range; open ends infinite."""
    if value.__class__ is not dict:
        return None
    low_end, high_end = value.get("low"), value.get("high")
    low_b = number_bounds(low_end.get("value")) if low_end.__class__ is dict else None
    high_b = number_bounds(high_end.get("value")) if high_end.__class__ is dict else None
    if low_b is not None:
        return low_b[0], low_b[1], high_b[2] if high_b is not None else _INF, low_end
    if high_b is not None:
        return high_b[0], -_INF, high_b[2], high_end
    return None


def _number_range(code: str, value: object, index: ResourceIndex) -> None:
    # RiskAssessment.prediction.probability[x] is a decimal or a Range: the Range's ends
    # bound the value just as a decimal's precision does.
    if (found := _range(value)) is not None:
        index.numbers.append((code, *found[:3]))


def _quantity(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is not dict or (bounds := number_bounds(value.get("value"))) is None:
        return
    number, low, high = bounds
    comparator = value.get("comparator")
    if comparator in ("<", "<="):
        low = -_INF
    elif comparator in (">", ">="):
        high = _INF
    system, c, unit = _str(value.get("system")), _str(value.get("code")), _str(value.get("unit"))
    index.quantities.append((code, system, c, unit, number, low, high))


def _money(code: str, value: object, index: ResourceIndex) -> None:
    if value.__class__ is dict and (bounds := number_bounds(value.get("value"))) is not None:
        currency = _str(value.get("currency"))
        system = "urn:iso:std:iso:4217" if currency else None
        index.quantities.append((code, system, currency, currency, *bounds))


def _quantity_range(code: str, value: object, index: ResourceIndex) -> None:
    if (found := _range(value)) is not None:
        number, low, high, unit_from = found
        system, c = _str(unit_from.get("system")), _str(unit_from.get("code"))
        index.quantities.append((code, system, c, _str(unit_from.get("unit")), number, low, high))


# -- uri: https://hl7.org/fhir/R4B/search.html#uri -------------------------------------


def _uri(code: str, value: object, index: ResourceIndex) -> None:
    if (text := _str(value)) is not None:
        index.uris.append((code, text))


_TABLE: dict[tuple[str, str], Converter] = {
    **{("token", t): _token_code for t in _STRINGISH},
    ("token", "boolean"): _token_boolean,
    ("token", "Coding"): _token_coding,
    ("token", "CodeableConcept"): _token_concept,
    ("token", "Identifier"): _token_identifier,
    ("token", "ContactPoint"): _token_contact,
    ("token", "CodeableReference"): _token_codeable_reference,
    **{("string", t): _string for t in ("string", "markdown", "code", "id", "uri", "url")},
    ("string", "HumanName"): _string_parts("family", "given", "prefix", "suffix", "text"),
    ("string", "Address"): _string_parts(
        "line", "city", "district", "state", "postalCode", "country", "text"
    ),
    ("reference", "Reference"): _reference,
    ("reference", "canonical"): _reference_canonical,
    **{("reference", t): _reference_uri for t in ("uri", "url", "oid", "uuid")},
    ("reference", "CodeableReference"): _reference_codeable_reference,
    **{("date", t): _date for t in ("date", "dateTime", "instant")},
    ("date", "Period"): _date_period,
    ("date", "Timing"): _date_timing,
    **{("number", t): _number for t in ("decimal", "integer", "positiveInt", "unsignedInt")},
    ("number", "Range"): _number_range,
    **{("quantity", t): _quantity for t in _QUANTITIES},
    ("quantity", "Money"): _money,
    ("quantity", "Range"): _quantity_range,
    **{("uri", t): _uri for t in ("uri", "url", "canonical", "oid", "uuid")},
}


def converter(param_type: str, fhir_type: str) -> Converter | None:
    """The row maker for elements of ``fhir_type`` under a ``param_type`` parameter."""
    return _TABLE.get((param_type, fhir_type))


# -- composite parts: search.html#composite (layout in index.py) -------------------------

_NO_NUMBERS = (None, None, None)


_PART_LISTS = {"token": "tokens", "reference": "references", "quantity": "quantities",
               "date": "dates", "string": "strings", "number": "numbers", "uri": "uris"}


def composite_parts_of(param_type: str, scratch: ResourceIndex) -> list[Part]:
    """The composite parts of the rows that ``param_type`` converters wrote to
    ``scratch``, which is left empty again for the next component.

    A component's values are computed by the same converters as the component parameter's
    own rows, into a scratch index, and re-laid as parts (``index.py``); the
    ``<code>:identifier`` tokens of a reference stay out (no modifier on composites).
    """
    rows = getattr(scratch, _PART_LISTS[param_type])
    if param_type == "token":
        parts = [(r[2], r[1], None, *_NO_NUMBERS) for r in rows
                 if r[2] is not None or r[1] is not None]
    elif param_type == "reference":
        parts = [(r[2], r[1], r[4], *_NO_NUMBERS) for r in rows]
        scratch.tokens.clear()
    elif param_type == "quantity":
        parts = [(r[2], r[1], r[3], r[4], r[5], r[6]) for r in rows]
    elif param_type == "date":
        parts = [(None, None, None, None, r[1], r[2]) for r in rows]
    elif param_type == "string":
        parts = [(r[1], r[2], None, *_NO_NUMBERS) for r in rows]
    elif param_type == "number":
        parts = [(None, None, None, r[1], r[2], r[3]) for r in rows]
    else:
        parts = [(r[1], None, None, *_NO_NUMBERS) for r in rows]
    rows.clear()
    return parts  # type: ignore[return-value]


def guess_type(value: object, param_type: str) -> str | None:
    """The FHIR datatype a value most likely has, from its JSON shape (fallback paths)."""
    if value is True or value is False:
        return "boolean"
    if value.__class__ in (int, float):
        return "decimal"
    if value.__class__ is str:
        return {"date": "dateTime", "reference": "uri", "uri": "uri"}.get(param_type, "string")
    if value.__class__ is not dict:
        return None
    keys = value.keys()
    if "resourceType" in keys:
        return "Resource"
    if "value" in keys and param_type == "token":
        system = value.get("system")
        return "ContactPoint" if system in _CONTACT_SYSTEMS else "Identifier"
    for key, fhir_type in _SHAPES:
        if key in keys:
            return fhir_type
    return None


_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_SHAPES = (
    ("coding", "CodeableConcept"), ("reference", "Reference"), ("family", "HumanName"),
    ("given", "HumanName"), ("line", "Address"), ("city", "Address"), ("start", "Period"),
    ("end", "Period"), ("event", "Timing"), ("currency", "Money"), ("low", "Range"),
    ("high", "Range"), ("concept", "CodeableReference"), ("code", "Coding"),
    ("value", "Quantity"), ("text", "CodeableConcept"), ("identifier", "Reference"),
)
