"""SQL for chained parameters and ``_has`` (``server.search.query.Chain``/``Has``): each
a subquery on the reference index whose inner conditions are built by
``sqlite_conditions.where`` on the other resource type, under the same access filter.
"""

from __future__ import annotations

from server.search.query import Condition
from server.store.sqlite_conditions import Target


def chain(target: Target, condition: Condition) -> tuple[str, list]:
    raise NotImplementedError("chained search parameters")


def has(target: Target, condition: Condition) -> tuple[str, list]:
    raise NotImplementedError("_has")
