"""Small-cell protection of a report: which published counts to hide.

The rule (README, "Indicators"; every Measure's ``guidance`` says it too):

1. **Primary suppression.** Every count from 1 to k-1 is sensitive (k: the threshold,
   ``AMPARO_INDICATOR_MIN_CELL``, 5 by default): a written one is hidden. Zero is
   published: it says nothing about anyone.
2. **Complementary suppression.** A reader knows the published counts and the relations
   among them (``ledger.py``: strata add up to their total, comunas to their region,
   numerator and rest to their denominator) and that every hidden count is at least 1.
   For each sensitive count the reader cannot see (a hidden one, or an implicit one such
   as a denominator minus its numerator) we compute, with an integer program over those
   relations, the least and the greatest value it could have. While one of them has a
   single possible value, another published count is hidden: the smallest non-zero
   count of a relation it takes part in (a stratum before a total). Repeat until no
   sensitive count can be pinned down.
3. Rates and medians are hidden when computed over a hidden count or fewer than k
   members (``measures.py``).

The check is exact for what it models: linear relations of one report. It does not
model differences between reports of overlapping periods (``period.py`` only allows
whole months) nor outside knowledge.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from server.indicators.ledger import Key, Ledger

__all__ = ["suppress"]



def suppress(ledger: Ledger, k: int) -> frozenset[Key]:
    """The written counts to hide (see the module docstring)."""
    sensitive = {key for key, value in ledger.values.items() if 1 <= value < k}
    hidden = sensitive & ledger.written
    while True:
        pinned = _pinned(ledger, hidden, sensitive)
        if not pinned:
            return frozenset(hidden)
        before, fresh = len(hidden), set()
        for key in sorted(pinned, key=str):
            if any(fresh & {total, *parts} for total, parts in ledger.sums
                   if key == total or key in parts):
                continue  # a relation of it just lost a count: look again first
            added = _complement(ledger, hidden, key)
            hidden |= added
            fresh |= added
        if len(hidden) == before:  # nothing left to hide near them: hide every count
            return frozenset(k for k in ledger.written if ledger.values[k])


def _unknown(ledger: Ledger, hidden: set[Key]) -> set[Key]:
    return hidden | (ledger.values.keys() - ledger.written)


def _pinned(ledger: Ledger, hidden: set[Key], sensitive: set[Key]) -> set[Key]:
    """The sensitive unknown counts that have one possible value."""
    unknown = _unknown(ledger, hidden)
    found = set()
    for members, relations in _components(ledger, unknown):
        targets = [key for key in members if key in sensitive]
        if targets and relations:  # a count in no relation is only what is published
            found |= _single_valued(ledger, hidden, members, relations, targets)
    return found


def _components(ledger: Ledger, unknown: set[Key]):
    """Groups of unknown counts tied by relations, each with its relations."""
    parent: dict[Key, Key] = {key: key for key in unknown}

    def root(key: Key) -> Key:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for total, parts in ledger.sums:
        tied = [key for key in (total, *parts) if key in unknown]
        for key in tied[1:]:
            parent[root(key)] = root(tied[0])
    members: dict[Key, list[Key]] = defaultdict(list)
    for key in unknown:
        members[root(key)].append(key)
    relations: dict[Key, list] = defaultdict(list)
    for total, parts in ledger.sums:
        tied = [key for key in (total, *parts) if key in unknown]
        if tied:
            relations[root(tied[0])].append((total, parts))
    return [(sorted(keys, key=str), relations[r]) for r, keys in members.items()]


def _single_valued(ledger: Ledger, hidden: set[Key], members: list[Key], relations: list,
                   targets: list[Key]) -> set[Key]:
    """Which ``targets`` the relations, with the published counts, fix to one value:
    their least and greatest integer values under those relations, hidden counts >= 1
    and implicit ones >= 0."""
    index = {key: i for i, key in enumerate(members)}
    rows, rhs = [], []
    for total, parts in relations:
        row, known = np.zeros(len(members)), 0
        for key, sign in ((total, 1), *((p, -1) for p in parts)):
            if key in index:
                row[index[key]] += sign
            else:
                known += sign * ledger.values[key]
        rows.append(row)
        rhs.append(-known)
    lower = np.array([1.0 if key in hidden else 0.0 for key in members])
    constraint = LinearConstraint(np.array(rows), np.array(rhs), np.array(rhs))
    integral, bounds = np.ones(len(members)), Bounds(lower, np.inf)
    pinned = set()
    for key in targets:
        least, greatest = (_optimum(sign, index[key], len(members), constraint, integral,
                                    bounds) for sign in (1.0, -1.0))
        if least is not None and greatest is not None and greatest - least < 0.5:
            pinned.add(key)
    return pinned


def _optimum(sign: float, i: int, n: int, constraint, integral, bounds) -> float | None:
    """min (``sign`` 1) or max (-1) of variable ``i``; None when unbounded or unsolved."""
    objective = np.zeros(n)
    objective[i] = sign
    result = milp(objective, constraints=constraint, integrality=integral, bounds=bounds)
    return None if result.status != 0 else float(result.x[i])


def _complement(ledger: Ledger, hidden: set[Key], key: Key) -> set[Key]:
    """One more count to hide so that ``key`` is no longer pinned: the smallest published
    non-zero count of a relation ``key`` is in (a part before a total); failing that,
    every published count of its relations."""
    candidates = []
    for total, parts in ledger.sums:
        if key == total or key in parts:
            for other, is_total in ((total, 1), *((p, 0) for p in parts)):
                if other in ledger.written and other not in hidden and ledger.values[other]:
                    candidates.append((ledger.values[other], is_total, str(other), other))
    if candidates:
        return {min(candidates)[3]}
    unknown = _unknown(ledger, hidden)
    return {other for total, parts in ledger.sums if key == total or key in parts
            for other in (total, *parts) if other not in unknown and ledger.values[other]} \
        or _neighbours(ledger, hidden, key, unknown)


def _neighbours(ledger: Ledger, hidden: set[Key], key: Key, unknown: set[Key]) -> set[Key]:
    """Every published non-zero count tied to ``key`` through unknown ones (the last
    resort: the relations that pin it do not name it directly)."""
    reached, frontier, found = {key}, [key], set()
    while frontier:
        current = frontier.pop()
        for total, parts in ledger.sums:
            if current == total or current in parts:
                for other in (total, *parts):
                    if other in unknown and other not in reached:
                        reached.add(other)
                        frontier.append(other)
                    elif other not in unknown and ledger.values[other]:
                        found.add(other)
    return found
