"""SQL for chained parameters and ``_has`` (``server.search.query.Chain``/``Has``): each
a subquery on the reference index whose inner conditions are built by
``sqlite_conditions.where`` on the other resource type, under the same access filter.

A chain (https://hl7.org/fhir/R4B/search.html#chaining) keeps the resources whose
reference points at a matching resource: the subquery finds the matching targets first
(from their own indexes), then the references to them through ``idx_reference_target``
(target_id, target_type, param, type). ``_has`` (search.html#has) goes the other way:
matching sources first, their reference rows through ``idx_reference_rid``, then the
referenced resources by (type, id). Both only follow relative ``Type/id`` references,
the only ones the index resolves to a resource of this server. ``CROSS JOIN`` fixes
that join order (https://sqlite.org/optoverview.html#crossjoin): left to itself SQLite
may walk every reference of the parameter, or every resource of the referred type.

The other resources are restricted like the searched ones: not deleted, and visible to
the caller (a resource the caller may not see must not make anything match, or a search
would leak its content); visibility is probed per candidate on ``resource_access``'s
primary key (``EXISTS``), rather than listing every visible resource. Each level has
its own aliases (``ref1``/``r1``, ``ref2``/``r2`` ...) so nested subqueries never shadow
each other. Every value is a bound parameter.
"""

from __future__ import annotations

import re

from server.search.query import Condition, SearchQuery
from server.store.port import AccessFilter
from server.store.sqlite_conditions import Target, drives, resource_where

_LEVEL = re.compile(r"r(\d+)")


def chain(target: Target, condition: Condition) -> tuple[str, list]:
    """``target`` refers through ``condition.param`` to a resource matching one of the
    chains' queries (one per target type, OR-ed)."""
    n = _level(target)
    ref, other = f"ref{n}", f"r{n}"
    selects, args = [], []
    for link in condition.values:
        query: SearchQuery = link.query
        inner, inner_args = _inner(query, other, target.access)
        selects.append(
            f"SELECT {ref}.rid FROM resource {other} "
            f"CROSS JOIN idx_reference {ref} ON {ref}.target_id = {other}.id "
            f"AND {ref}.target_type = {other}.type AND {ref}.param = ? AND {ref}.type = ? "
            f"WHERE {' AND '.join(inner)}")
        args += [condition.param, target.type, *inner_args]
    return f"{target.rid} IN ({' UNION '.join(selects)})", args


def has(target: Target, condition: Condition) -> tuple[str, list]:
    """Some resource matching the ``Has`` query refers to ``target`` through its
    reference parameter ``Has.param``."""
    (link,) = condition.values
    n = _level(target)
    ref, other, referred = f"ref{n}", f"r{n}", f"t{n}"
    inner, inner_args = _inner(link.query, other, target.access)
    sql = (f"{target.rid} IN (SELECT {referred}.rid FROM resource {other} "
           f"CROSS JOIN idx_reference {ref} ON {ref}.rid = {other}.rid AND {ref}.param = ? "
           f"AND {ref}.target_type = ? "
           f"CROSS JOIN resource {referred} ON {referred}.type = {ref}.target_type "
           f"AND {referred}.id = {ref}.target_id "
           f"WHERE {' AND '.join(inner)})")
    return sql, [link.param, target.type, *inner_args]


def _inner(query: SearchQuery, alias: str, access: AccessFilter) -> tuple[list[str], list]:
    """The other resource's terms, as for the searched one (``resource_where``)."""
    return resource_where(Target(query.type, alias, access), query.conditions,
                          any(drives(c) for c in query.conditions))


def _level(target: Target) -> int:
    """1 under the searched resource (``r.rid``), one more under each chain level."""
    match = _LEVEL.fullmatch(target.alias)
    return int(match.group(1)) + 1 if match else 1
