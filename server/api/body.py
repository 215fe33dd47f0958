"""Request bodies: JSON within the configured limits, or a 4xx OperationOutcome."""

from __future__ import annotations

from typing import Any

import orjson

from server import errors


def parse_json(raw: bytes, max_depth: int) -> Any:
    """Parsed JSON; 400 for malformed JSON or nesting deeper than ``max_depth``."""
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark: tolerated, dropped
        raw = raw[3:]
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
    """400 when objects/arrays nest deeper than ``max_depth``.

    Recursive, but never deeper than ``max_depth`` frames: it stops at the limit.
    """
    def walk(node: Any, depth: int) -> None:
        if depth > max_depth:
            raise errors.invalid(f"JSON nesting deeper than {max_depth} levels")
        for child in node.values() if node.__class__ is dict else node:
            if child.__class__ is dict or child.__class__ is list:
                walk(child, depth + 1)

    if value.__class__ is dict or value.__class__ is list:
        walk(value, 1)
