"""Reading an export file into records, with well-kept parsers: ``csv`` (RFC 4180 quoting,
line breaks inside quoted cells), ``json`` and python-hl7 (HL7 v2 messages).

A ``Record`` is one row, array item or message: its 1-based ``position`` as the source
counts it, its ``content`` as the source wrote it (two records with the same key and the
same content are a duplicate) and ``get(path)``, a field's text by its path: a CSV
column name, a dotted JSON path (``victima.run``; ``delitos[*].codigo`` gives every
array item's, comma-separated), or a python-hl7 accessor
(``PID.F5.R1.C1``; ``DG1[*].F3.R1.C1`` gives every DG1's, comma-separated;
``PID.F3[C5=NNCHL].C1`` the first repetition of PID-3 whose component 5 is ``NNCHL``;
``ZVG.F3.R*`` every repetition's, comma-separated).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import hl7


@dataclass(frozen=True)
class Record:
    position: int
    content: str
    get: Callable[[str], str | None]


class Unreadable(ValueError):
    """The file is not what the mapping's reader expects (not a record-level problem)."""


def read(reader: dict, data: bytes) -> Iterator[Record]:
    kind = reader["format"]
    try:
        text = data.decode(reader.get("encoding", "utf-8"))
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the file is not {reader.get('encoding', 'utf-8')}: {exc.reason}") \
            from None
    if kind == "csv":
        return _csv(text, reader.get("delimiter", ","))
    if kind == "json":
        return _json(text)
    if kind == "hl7v2":
        return _hl7(text)
    raise Unreadable(f"unknown reader format {kind!r}")


def _csv(text: str, delimiter: str) -> Iterator[Record]:
    rows = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for position, row in enumerate(rows, 1):
        content = "\x1f".join(f"{k}={v}" for k, v in row.items())
        yield Record(position, content, lambda path, row=row: row.get(path))


def _json(text: str) -> Iterator[Record]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(f"the file is not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(items, list):
        raise Unreadable("the file is not a JSON array of records")
    for position, item in enumerate(items, 1):
        content = json.dumps(item, sort_keys=True, ensure_ascii=False)
        yield Record(position, content, lambda path, item=item: _dotted(item, path))


def _dotted(item: object, path: str) -> str | None:
    head, star, rest = path.partition("[*]")
    if star:  # ``delitos[*].codigo``, ``tipo_maltrato[*]``: every item's, comma-separated
        found = _dotted(item, head)
        items = json.loads(found) if found and found.startswith("[") else []
        values = [_dotted(i, rest[1:]) if rest else _dotted({"_": i}, "_") for i in items]
        return ",".join(v for v in values if v) or None
    value = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if value is None or isinstance(value, (dict, list)):
        return None if value is None else json.dumps(value, ensure_ascii=False)
    return str(value)


def _hl7(text: str) -> Iterator[Record]:
    for position, raw in enumerate(hl7.split_file(text), 1):
        try:
            message = hl7.parse(raw)
        except Exception:  # noqa: BLE001 - python-hl7 raises several kinds for bad input
            yield Record(position, raw, lambda path: None)
            continue
        yield Record(position, raw, lambda path, message=message: _segment_field(message, path))


def _segment_field(message: hl7.Message, path: str) -> str | None:
    segment, _, rest = path.partition(".")
    if segment.endswith("[*]"):
        values = [_accessor(s, rest) for s in _segments(message, segment[:-3])]
        return ",".join(v for v in values if v) or None
    found = _segments(message, segment)
    if not found:
        return None
    return _accessor(found[0], rest) if rest else str(found[0])


def _segments(message: hl7.Message, name: str) -> list:
    try:
        return list(message.segments(name))
    except KeyError:
        return []


def _accessor(segment: object, rest: str) -> str | None:
    if (select := _SELECT.match(rest)) or ".R*" in rest:
        return _repetitions(segment, rest, select)
    try:
        value = segment.extract_field(1, *_indexes(rest))
    except (IndexError, KeyError, ValueError, TypeError):
        return None
    return value or None


#: ``F3[C5=NNCHL]``: the repetition of field 3 whose component 5 is ``NNCHL``.
_SELECT = re.compile(r"^F(\d+)\[C(\d+)=([^\]]*)\](.*)$")


def _repetitions(segment: object, rest: str, select: re.Match | None) -> str | None:
    """A repeating field: the first repetition that ``select`` picks (then the rest of
    the path in it), or with ``R*`` every repetition's value, comma-separated."""
    field = int(select.group(1)) if select else _indexes(rest.replace(".R*", ""))[0]
    try:
        count = len(segment(field)) if field < len(segment) else 0
    except (IndexError, KeyError, TypeError):
        return None
    values = []
    for repeat in range(1, count + 1):
        if select is None:
            values.append(_accessor(segment, rest.replace(".R*", f".R{repeat}")))
        elif _accessor(segment, f"F{field}.R{repeat}.C{select.group(2)}") == select.group(3):
            return _accessor(segment, f"F{field}.R{repeat}{select.group(4)}")
    return ",".join(v for v in values if v) or None


def _indexes(rest: str) -> tuple[int, int, int, int]:
    """``F5.R1.C1`` -> python-hl7's (field, repeat, component, sub-component)."""
    field = repeat = component = sub = 1
    for part in rest.split("."):
        number = int(part[1:])
        match part[0]:
            case "F":
                field = number
            case "R":
                repeat = number
            case "C":
                component = number
            case "S":
                sub = number
    return field, repeat, component, sub
