"""Request bodies: JSON within the configured limits, or a 4xx OperationOutcome."""

from __future__ import annotations

from typing import Any

import orjson

from server import errors


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Parsed JSON; 400 for malformed JSON or nesting deeper than ``max_depth``."""
    if not raw or not raw.strip():
        raise errors.invalid("the request has no body")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # orjson's message names line and column, never the content.
        raise errors.invalid(f"malformed JSON: {str(exc).split(':')[0]}") from None
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int) -> None:
    """400 when objects/arrays nest deeper than ``max_depth`` (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise errors.invalid(f"JSON nesting deeper than {max_depth} levels")
        if node.__class__ is dict:
            stack.extend((child, depth + 1) for child in node.values()
                         if child.__class__ in (dict, list))
        elif node.__class__ is list:
            stack.extend((child, depth + 1) for child in node
                         if child.__class__ in (dict, list))
