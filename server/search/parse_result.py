"""The result parameters of a search: which page, how many, counted or not, in which
order, with what included, and how much of each resource.

See https://hl7.org/fhir/R4B/search.html#return
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server import errors
from server.search.query import Include, SortKey
from server.search.syntax import Unsupported

#: Parameters that shape the result rather than select resources.
RESULT_PARAMS = frozenset({"_count", "_total", "_page"})


@dataclass
class ResultParams:
    """Collects the result parameters of one search as they are read."""

    count: int
    max_count: int
    total: bool = True
    cursor: tuple | None = None
    before: tuple | None = None
    sort: tuple[SortKey, ...] = ()
    includes: list[Include] = field(default_factory=list)

    def read(self, type: str, code: str, modifier: str, value: str) -> None:
        """Apply ``code[:modifier]=value``; ``Unsupported`` or 400 as for conditions."""
        from server.search.parse import read_page_token

        if modifier:
            raise Unsupported
        if code == "_count":
            self.count = _count(value, self.max_count)
        elif code == "_total":
            if value not in ("none", "estimate", "accurate"):
                raise errors.invalid("_total must be none, estimate or accurate")
            self.total = value != "none"
        elif code == "_page":
            self.cursor, self.before = read_page_token(value)
            if not isinstance(self.cursor or self.before, tuple):
                raise errors.invalid("_page is not a search page token")
        else:
            raise Unsupported


def _count(value: str, max_count: int) -> int:
    if not value.isdigit():
        raise errors.invalid("_count must be a non-negative integer")
    number = int(value)
    if number > max_count:
        raise errors.invalid(f"_count may not exceed {max_count}")
    return number
