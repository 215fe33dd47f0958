"""SQL for the conditions of a search (``server.search.query.Condition``), one function
per condition kind, each a fragment on the resource's ``rid`` answered from an index
table (``schema.sql``), never from the stored JSON.

Every value reaches SQLite as a bound parameter; only fixed fragments are concatenated.
"""

from __future__ import annotations

from collections.abc import Callable

from server.search.query import Condition

#: (resource type, condition, rid column, id column) -> (SQL fragment, arguments)
Builder = Callable[[str, Condition, str, str], tuple[str, list]]


def where(type: str, conditions: tuple[Condition, ...], rid: str = "r.rid",
          id_column: str = "r.id") -> tuple[list[str], list]:
    """The AND-ed SQL fragments and their arguments for ``conditions`` on ``type``."""
    fragments, args = [], []
    for condition in conditions:
        builder = BUILDERS.get(condition.kind)
        if builder is None:
            raise ValueError(f"unsupported condition kind {condition.kind!r}")
        sql, values = builder(type, condition, rid, id_column)
        fragments.append(sql)
        args.extend(values)
    return fragments, args


def drives(condition: Condition) -> bool:
    """Whether the condition selects from an index (so the query can start from it
    rather than from every resource of the type)."""
    return condition.modifier != "not" and condition.kind != "missing" or \
        (condition.kind == "missing" and condition.values == (False,))


def _id(type: str, condition: Condition, rid: str, id_column: str) -> tuple[str, list]:
    ids = list(condition.values)
    return f"{id_column} IN ({','.join('?' * len(ids))})", ids


def _token(type: str, condition: Condition, rid: str, id_column: str) -> tuple[str, list]:
    ors, args = [], [type, condition.param]
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
    return (f"{rid} {negate}IN (SELECT rid FROM idx_token WHERE type = ? AND param = ? "
            f"AND ({' OR '.join(ors)}))", args)


def _reference(type: str, condition: Condition, rid: str, id_column: str) -> tuple[str, list]:
    ors, args = [], [type, condition.param]
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
    return (f"{rid} IN (SELECT rid FROM idx_reference WHERE type = ? AND param = ? "
            f"AND ({' OR '.join(ors)}))", args)


BUILDERS: dict[str, Builder] = {
    "id": _id,
    "token": _token,
    "reference": _reference,
}
