"""Search parameters of a request -> ``SearchQuery`` (https://hl7.org/fhir/R4B/search.html).

Parsing is apart from execution (Medplum's ``search.ts``): the same parser serves type
searches, the criteria of conditional create/update/delete/patch, and (later)
subscription criteria. Parameters this server does not apply are either refused
(``strict``: conditional operations, ``Prefer: handling=strict``) or returned in
``ignored`` so the search bundle can say so.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from server import errors
from server.search import parse_chain, parse_values
from server.search.definitions import params_for
from server.search.parse_result import RESULT_PARAMS, ResultParams
from server.search.parse_values import supports
from server.search.query import Condition, SearchQuery
from server.search.syntax import ID, MAX_VALUE, Unsupported, split

#: Accepted everywhere and without effect on what matches.
NEUTRAL_PARAMS = frozenset({"_format", "_pretty"})


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    query: SearchQuery
    #: ``name=value`` pairs applied, for the bundle's self link.
    applied: tuple[tuple[str, str], ...]
    #: parameter names not applied (reported to the client).
    ignored: tuple[str, ...]
    #: ``_total`` as sent (None: not sent; see ``server.api.search`` for the default).
    total: str | None = None
    #: ``_summary`` (true, false, text, data, count) and ``_elements``: how much of each
    #: resource the bundle carries (https://hl7.org/fhir/R4B/search.html#summary).
    summary: str | None = None
    elements: tuple[str, ...] | None = None


def supported_params(type: str) -> list[tuple[str, str]]:
    """(code, type) of every search parameter of ``type`` that this parser applies."""
    out = [("_id", "token")]
    for code, param in sorted(params_for(type).items()):
        if supports(param) and code != "_id":
            out.append((code, param.type))
    return out


def parse_search(type: str, params: list[tuple[str, str]], *, default_count: int = 20,
                 max_count: int = 1000, strict: bool = False) -> ParsedSearch:
    """Parse ``params`` (name, value pairs as sent) for a search of ``type``."""
    conditions, applied, ignored = [], [], []
    result = ResultParams(default_count, max_count)
    for name, value in params:
        code, _, modifier = name.partition(":")
        if len(value) > MAX_VALUE * 4 or len(name) > MAX_VALUE:
            raise errors.invalid(f"search parameter {code[:64]} is too long")
        if code in NEUTRAL_PARAMS:
            continue
        try:
            if code in RESULT_PARAMS:
                result.read(type, code, modifier, value)
                if code == "_page":
                    continue
            else:
                conditions.append(parse_condition(type, name, value))
        except Unsupported:
            if strict:
                raise errors.invalid(f"search parameter {name[:100]} is not supported") \
                    from None
            ignored.append(name)
            continue
        applied.append((name, value))
    result.check_position()
    # The total is counted when asked, for _summary=count, and for _count=0 (the count
    # is then the only work); otherwise the store gives it only when it is free.
    counted = result.total in ("accurate", "estimate") or (
        result.total is None and (result.summary == "count" or result.count == 0))
    query = SearchQuery(type, tuple(conditions),
                        count=0 if result.summary == "count" else result.count,
                        cursor=result.cursor, before=result.before, total=counted,
                        sort=result.sort, includes=tuple(result.includes))
    return ParsedSearch(query, tuple(applied), tuple(ignored), result.total, result.summary,
                        result.elements)


def parse_condition(type: str, name: str, value: str) -> Condition:
    """One selecting parameter (``name`` as sent, modifiers and chains included) of a
    search of ``type``; ``Unsupported`` when not applied, 400 when malformed."""
    if name.startswith("_has:"):
        return parse_chain.has(type, name, value)
    code, _, modifier = name.partition(":")
    if "." in name:
        return parse_chain.chain(type, name, value)
    if code == "_id":
        if modifier:
            raise Unsupported
        ids = split(value)
        if not all(ID.fullmatch(i) for i in ids):
            raise errors.invalid("_id values must be FHIR ids")
        return Condition("_id", "id", tuple(ids))
    definition = params_for(type).get(code)
    if definition is None:
        raise Unsupported
    return parse_values.condition(definition, modifier or None, value)


def parse_criteria(type: str, params: list[tuple[str, str]]) -> SearchQuery:
    """The criteria of a conditional operation: strict, and at least one condition
    (criteria that select everything would make a conditional write touch anything)."""
    result_params = sorted({name.partition(":")[0] for name, _ in params} & RESULT_PARAMS)
    if result_params:
        raise errors.invalid("conditional criteria cannot use result parameters "
                             f"({', '.join(result_params)})")
    parsed = parse_search(type, params, strict=True)
    if not parsed.query.conditions:
        raise errors.invalid("a conditional operation needs at least one search criterion")
    return parsed.query


def page_token(direction: str, position: tuple | int) -> str:
    """Opaque ``_page`` value for the page after (``a``) or before (``b``) ``position``
    (a search position is a tuple of sort values and the store's insertion order)."""
    raw = orjson.dumps([direction, list(position) if isinstance(position, tuple)
                        else position])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(value: str) -> tuple[tuple | int | None, tuple | int | None]:
    """(after, before) positions of a ``_page`` token; 400 if it is not one of ours."""
    try:
        direction, position = orjson.loads(
            base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise errors.invalid("_page is not a page token this server issued") from None
    if isinstance(position, list) and all(
            v is None or isinstance(v, (int, float, str)) for v in position):
        position = tuple(position)
    elif not isinstance(position, int) or isinstance(position, bool):
        raise errors.invalid("_page is not a page token this server issued")
    if direction == "a":
        return position, None
    if direction == "b":
        return None, position
    raise errors.invalid("_page is not a page token this server issued")
