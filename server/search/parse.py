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
import re
from dataclasses import dataclass

from server import errors
from server.search.definitions import params_for
from server.search.query import Condition, ReferenceValue, SearchQuery, TokenValue

#: Modifiers applied per parameter type (the search issue adds the rest).
SUPPORTED_MODIFIERS = {"token": ("not",), "reference": ()}
#: Parameter types whose values this parser turns into conditions.
SUPPORTED_TYPES = frozenset(SUPPORTED_MODIFIERS)
#: Parameters that shape the result rather than select resources.
RESULT_PARAMS = frozenset({"_count", "_total", "_page"})
#: Accepted everywhere and without effect on what matches.
NEUTRAL_PARAMS = frozenset({"_format", "_pretty"})
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_MAX_VALUE = 1024
_MAX_VALUES = 100


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    query: SearchQuery
    #: ``name=value`` pairs applied, for the bundle's self link.
    applied: tuple[tuple[str, str], ...]
    #: parameter names not applied (reported to the client).
    ignored: tuple[str, ...]


def supported_params(type: str) -> list[tuple[str, str]]:
    """(code, type) of every search parameter of ``type`` that this parser applies."""
    out = [("_id", "token")]
    for code, param in sorted(params_for(type).items()):
        if param.type in SUPPORTED_TYPES and code not in ("_id", "_lastUpdated"):
            out.append((code, param.type))
    return out


def parse_search(type: str, params: list[tuple[str, str]], *, default_count: int = 20,
                 max_count: int = 1000, strict: bool = False) -> ParsedSearch:
    """Parse ``params`` (name, value pairs as sent) for a search of ``type``."""
    conditions, applied, ignored = [], [], []
    count, total, cursor, before = default_count, True, None, None
    definitions = params_for(type)
    for name, value in params:
        code, _, modifier = name.partition(":")
        if len(value) > _MAX_VALUE * 4:
            raise errors.invalid(f"the value of search parameter {code} is too long")
        if code in NEUTRAL_PARAMS:
            continue
        if code == "_count":
            count = _count(value, max_count)
        elif code == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise errors.invalid("_total must be none, estimate or accurate")
            total = value != "none"
        elif code == "_page":
            cursor, before = read_page_token(value)
            continue
        elif code == "_id":
            if modifier:
                _unsupported(name, strict, ignored)
                continue
            ids = _split(value)
            if not all(_ID.fullmatch(i) for i in ids):
                raise errors.invalid("_id values must be FHIR ids")
            conditions.append(Condition("_id", "id", tuple(ids)))
        else:
            definition = definitions.get(code)
            if definition is None or definition.type not in SUPPORTED_TYPES or \
                    code == "_lastUpdated" or (modifier and not _modifier_ok(definition,
                                                                             modifier)):
                _unsupported(name, strict, ignored)
                continue
            if definition.type == "token":
                conditions.append(Condition(code, "token", tuple(
                    _token(v) for v in _split(value)), modifier or None))
            else:
                target = modifier or None
                conditions.append(Condition(code, "reference", tuple(
                    _reference(v, target, definition.target) for v in _split(value))))
        applied.append((name, value))
    query = SearchQuery(type, tuple(conditions), count=count, cursor=cursor, before=before,
                        total=total)
    return ParsedSearch(query, tuple(applied), tuple(ignored))


def parse_criteria(type: str, params: list[tuple[str, str]]) -> SearchQuery:
    """The criteria of a conditional operation: strict, and at least one condition
    (criteria that select everything would make a conditional write touch anything)."""
    parsed = parse_search(type, params, strict=True)
    if not parsed.query.conditions:
        raise errors.invalid("a conditional operation needs at least one search criterion")
    if any(name.partition(":")[0] in RESULT_PARAMS for name, _ in parsed.applied):
        raise errors.invalid("conditional criteria cannot use _count, _total or _page")
    return parsed.query


def page_token(direction: str, position: int) -> str:
    """Opaque ``_page`` value for the page after/before ``position``."""
    raw = f"{direction}:{position}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_page_token(value: str) -> tuple[int | None, int | None]:
    """(after, before) positions of a ``_page`` token; 400 if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        direction, position = raw.split(":")
        number = int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.invalid("_page is not a page token this server issued") from None
    if direction == "a":
        return number, None
    if direction == "b":
        return None, number
    raise errors.invalid("_page is not a page token this server issued")


def _count(value: str, max_count: int) -> int:
    if not value.isdigit():
        raise errors.invalid("_count must be a non-negative integer")
    number = int(value)
    if number > max_count:
        raise errors.invalid(f"_count may not exceed {max_count}")
    return number


def _unsupported(name: str, strict: bool, ignored: list[str]) -> None:
    if strict:
        raise errors.invalid(f"search parameter {name} is not supported")
    ignored.append(name)


def _split(value: str) -> list[str]:
    """Comma-separated OR values, honouring ``\\,`` escapes."""
    parts = re.split(r"(?<!\\),", value)
    if len(parts) > _MAX_VALUES:
        raise errors.invalid(f"at most {_MAX_VALUES} values per parameter")
    out = [p.replace("\\,", ",") for p in parts]
    if any(not p or len(p) > _MAX_VALUE for p in out):
        raise errors.invalid("empty or over-long search value")
    return out


def _modifier_ok(definition, modifier: str) -> bool:
    if definition.type == "reference":  # the [type] modifier: subject:Patient=123
        return modifier in definition.target
    return modifier in SUPPORTED_MODIFIERS[definition.type]


def _reference(value: str, type_modifier: str | None, targets: tuple[str, ...]) -> ReferenceValue:
    """``Type/id``, ``id`` or an absolute URL (search.html#reference)."""
    if "://" in value:
        return ReferenceValue(None, None, value)
    parts = value.split("/")
    if len(parts) == 1:
        if not _ID.fullmatch(value):
            raise errors.invalid("a reference search value is [type]/[id], [id] or a URL")
        if type_modifier is None and len(targets) == 1:
            type_modifier = targets[0]
        return ReferenceValue(type_modifier, value)
    if len(parts) == 2 and (parts[0] in targets or not targets) and _ID.fullmatch(parts[1]):
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
    parts = [p.replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\") for p in parts]
    if len(parts) == 1:
        return TokenValue(None, parts[0])
    system, code = parts
    return TokenValue(system, code or None)
