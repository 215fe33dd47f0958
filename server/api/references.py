"""Rewriting references inside a transaction: placeholders and conditional references.

See: https://hl7.org/fhir/R4B/http.html#trules. Every reference to an entry's
``fullUrl`` (``urn:uuid:...``, or an absolute URL) is replaced by the identity the
server gave that entry — in ``Reference.reference``, in any other element whose value
is exactly that fullUrl (uri/url values in extensions and attachments), inside the
narrative, and inside conditional URLs. ``Type?criteria`` references are resolved by
search; they must match exactly one resource.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from server import errors

_CONDITIONAL = re.compile(r"[A-Z][A-Za-z]+\?.+")
_PLACEHOLDER = re.compile(r"urn:(?:uuid|oid):[A-Za-z0-9.\-]+")


def rewrite(resource: dict, mapping: dict[str, str],
            resolve_conditional: Callable[[str], str] | None) -> bool:
    """Replace, in place, every fullUrl of ``mapping`` used in ``resource``.

    An unresolvable ``urn:uuid:``/``urn:oid:`` reference is a 400; a conditional
    reference is handed to ``resolve_conditional`` (which raises when it does not match
    exactly one resource), or left as it is when that is None. Returns whether the
    resource holds conditional references.
    """
    conditional = False
    stack: list[Any] = [resource]
    while stack:
        node = stack.pop()
        items = node.items() if node.__class__ is dict else enumerate(node)
        for key, value in items:
            if value.__class__ is str:
                replacement = mapping.get(value)
                if replacement is not None:
                    node[key] = replacement
                elif key == "reference":
                    if value.startswith(("urn:uuid:", "urn:oid:")):
                        raise errors.invalid(f"reference {value[:80]} names no entry of "
                                             "this transaction")
                    if _CONDITIONAL.fullmatch(value):
                        conditional = True
                        if resolve_conditional is not None:
                            node[key] = resolve_conditional(value)
                elif key == "div" and "urn:" in value:
                    node[key] = _rewrite_text(value, mapping)
            elif value.__class__ in (dict, list):
                stack.append(value)
    return conditional


def rewrite_params(params: list[tuple[str, str]],
                   mapping: dict[str, str]) -> list[tuple[str, str]]:
    """Search parameters (of a conditional URL or ``ifNoneExist``) with placeholders
    replaced: a whole value equal to a fullUrl, or ``urn:`` placeholders inside one
    (``subject=urn:uuid:...``, ``patient:Patient=urn:uuid:...,urn:uuid:...``)."""
    out = []
    for name, value in params:
        if value in mapping:
            value = mapping[value]
        elif "urn:" in value:
            value = _PLACEHOLDER.sub(lambda m: mapping.get(m.group(0), m.group(0)), value)
        out.append((name, value))
    return out


def _rewrite_text(text: str, mapping: dict[str, str]) -> str:
    for placeholder, identity in mapping.items():
        if placeholder.startswith("urn:") and placeholder in text:
            text = text.replace(placeholder, identity)
    return text
