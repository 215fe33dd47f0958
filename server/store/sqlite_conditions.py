"""SQL for the conditions of a search (``server.search.query.Condition``), one function
per condition kind, each a fragment on the resource's ``rid`` answered from an index
table (``schema.sql``), never from the stored JSON.

Every value reaches SQLite as a bound parameter; only fixed fragments are concatenated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from server.search.query import Condition
from server.store.port import UNRESTRICTED, AccessFilter


@dataclass(frozen=True, slots=True)
class Target:
    """What a condition's SQL is about: the resource type, the SQL expressions of the
    resource's ``rid`` and ``id``, and the caller's access filter (which subqueries over
    other resources, as in chains and ``_has``, must apply too)."""

    type: str
    rid: str = "r.rid"
    id: str = "r.id"
    access: AccessFilter = UNRESTRICTED


#: (target, condition) -> (SQL fragment, arguments)
Builder = Callable[[Target, Condition], tuple[str, list]]


def where(target: Target, conditions: tuple[Condition, ...]) -> tuple[list[str], list]:
    """The AND-ed SQL fragments and their arguments for ``conditions`` on ``target``."""
    fragments, args = [], []
    for condition in conditions:
        builder = BUILDERS.get(condition.kind)
        if builder is None:
            raise ValueError(f"unsupported condition kind {condition.kind!r}")
        sql, values = builder(target, condition)
        fragments.append(sql)
        args.extend(values)
    return fragments, args


def drives(condition: Condition) -> bool:
    """Whether the condition selects from an index (so the query can start from it
    rather than from every resource of the type)."""
    return condition.modifier != "not" and condition.kind != "missing" or \
        (condition.kind == "missing" and condition.values == (False,))


def _id(target: Target, condition: Condition) -> tuple[str, list]:
    ids = list(condition.values)
    return f"{target.id} IN ({','.join('?' * len(ids))})", ids


def _token(target: Target, condition: Condition) -> tuple[str, list]:
    ors, args = [], [target.type, condition.param]
    for value in condition.values:
        parts = []
        if value.code is not None:
            parts.append("code = ?")
            args.append(value.code)
        if value.system == "":
            parts.append("system IS NULL")
        elif value.system is not None:
            parts.append("system = ?")
            args.append(value.system)
        ors.append("(" + " AND ".join(parts or ["1"]) + ")")
    negate = "NOT " if condition.modifier == "not" else ""
    return (f"{target.rid} {negate}IN (SELECT rid FROM idx_token WHERE type = ? AND param = ? "
            f"AND ({' OR '.join(ors)}))", args)


def _reference(target: Target, condition: Condition) -> tuple[str, list]:
    ors, args = [], [target.type, condition.param]
    for value in condition.values:
        if value.url is not None:
            ors.append("url = ?")
            args.append(value.url)
        elif value.type is None:
            ors.append("target_id = ?")
            args.append(value.id)
        else:
            ors.append("(target_id = ? AND target_type = ?)")
            args.extend((value.id, value.type))
    return (f"{target.rid} IN (SELECT rid FROM idx_reference WHERE type = ? AND param = ? "
            f"AND ({' OR '.join(ors)}))", args)


def _chain(target: Target, condition: Condition) -> tuple[str, list]:
    from server.store import sqlite_chain  # it builds its inner conditions with ``where``

    return sqlite_chain.chain(target, condition)


def _has(target: Target, condition: Condition) -> tuple[str, list]:
    from server.store import sqlite_chain

    return sqlite_chain.has(target, condition)


BUILDERS: dict[str, Builder] = {
    "id": _id,
    "token": _token,
    "reference": _reference,
    "chain": _chain,
    "has": _has,
}
