"""Starts-with as an index range, shared by the store adapters."""

from __future__ import annotations


def after_prefix(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix``: a
    starts-with becomes the index range ``[prefix, after_prefix(prefix))``.

    SQLite and MongoDB (with its default simple collation) compare text as UTF-8
    bytes, which orders like code points.
    """
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if last + 1 != 0xD800 else 0xE000  # skip surrogates
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return "\U0010ffff" * 2
