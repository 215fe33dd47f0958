"""The adversary of the small-cell tests: given what a report publishes (some counts
known, some withheld) and the linear relations a reader knows, the least and greatest
value each withheld count can have, by integer programming (scipy's ``milp``). A
withheld count with one possible value has been recovered.

Written apart from ``server/indicators/suppression.py`` on purpose: it takes its facts
from the published report (``relations_of_reports``), not from the server's ledger.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

Name = Hashable


def ranges(known: dict[Name, int], unknown: dict[Name, int],
           relations: list[tuple[Name, list[Name]]]) -> dict[Name, tuple[float, float]]:
    """Per unknown count (its least possible value as the lower bound the reader knows:
    1 for a withheld count, which is never zero, 0 for one never published), its least
    and greatest value (inf: unbounded) under ``total = sum(parts)`` relations. Raises
    AssertionError if the relations are inconsistent with the known counts."""
    names = sorted(unknown, key=str)
    index = {name: i for i, name in enumerate(names)}
    rows, rhs = [], []
    for total, parts in relations:
        row, constant = np.zeros(len(names)), 0.0
        for name, sign in ((total, 1), *((p, -1) for p in parts)):
            if name in index:
                row[index[name]] += sign
            else:
                constant += sign * known.get(name, 0)  # never listed: zero
        if row.any():
            rows.append(row)
            rhs.append(-constant)
        else:
            assert constant == 0, f"published counts contradict {total} = {parts}"
    if not rows:
        return {name: (unknown[name], np.inf) for name in names}
    constraint = LinearConstraint(np.array(rows), rhs, rhs)
    bounds = Bounds([unknown[n] for n in names], np.inf)
    out = {}
    for name in names:
        extreme = []
        for sign in (1, -1):
            c = np.zeros(len(names))
            c[index[name]] = sign
            result = milp(c, constraints=constraint, integrality=np.ones(len(names)),
                          bounds=bounds)
            if result.status != 0:  # HiGHS may not tell unbounded from infeasible
                feasible = milp(np.zeros(len(names)), constraints=constraint,
                                integrality=np.ones(len(names)), bounds=bounds)
                assert feasible.status == 0, f"infeasible: {feasible.message}"
                extreme.append(-sign * np.inf)  # a max without bound
                continue
            extreme.append(sign * result.fun)
        out[name] = (extreme[0], extreme[1])
    return out


def recovered(known: dict[Name, int], unknown: dict[Name, int],
              relations: list[tuple[Name, list[Name]]]) -> dict[Name, float]:
    """The unknown counts that have a single possible value, with it."""
    return {name: low for name, (low, high) in ranges(known, unknown, relations).items()
            if high - low < 0.5}
