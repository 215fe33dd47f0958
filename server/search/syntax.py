"""Lexical rules shared by the search parsers: value lists, escapes, limits.

See https://hl7.org/fhir/R4B/search.html#escaping.
"""

from __future__ import annotations

import re

from server import errors

ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_VALUE = 1024
MAX_VALUES = 100


class Unsupported(Exception):
    """A parameter, modifier or prefix this server does not apply: refused under
    ``Prefer: handling=strict``, otherwise ignored and reported."""


def split(value: str) -> list[str]:
    """Comma-separated OR values, honouring ``\\,`` escapes."""
    parts = re.split(r"(?<!\\),", value)
    if len(parts) > MAX_VALUES:
        raise errors.invalid(f"at most {MAX_VALUES} values per parameter")
    out = [p.replace("\\,", ",") for p in parts]
    if any(not p or len(p) > MAX_VALUE for p in out):
        raise errors.invalid("empty or over-long search value")
    return out


def unescape(value: str) -> str:
    """A value part with the search escapes (``\\|``, ``\\$``, ``\\\\``) removed."""
    return value.replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def escape(value: str) -> str:
    """``value`` as one search value part: ``\\``, ``,``, ``|`` and ``$`` escaped."""
    return (value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")
            .replace("$", "\\$"))
