"""One evaluation of every indicator over one period: the figures and which are hidden.

Every Measure of the guide is evaluated together, whichever one was asked for, because
small-cell suppression must see every figure a reader could combine: new cases are the
denominator of three Measures, and a count hidden in one must be hidden in all
(``ledger.py``). ``$evaluate-measure`` and ``amparo report`` both read an ``Evaluation``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from server.indicators.definitions import definitions
from server.indicators.facts import read_facts
from server.indicators.instruments import Performance, performance
from server.indicators.ledger import Key, Ledger, build_ledger
from server.indicators.period import Period
from server.indicators.populations import Population, populations, regions
from server.indicators.suppression import suppress
from server.store import Reader

__all__ = ["Evaluation", "evaluate"]


@dataclass(frozen=True)
class Evaluation:
    period: Period
    now: datetime
    threshold: int
    populations: dict[str, Population]
    ledger: Ledger
    hidden: frozenset[Key]
    excluded: int  # survivors left out: they declined statistical use
    #: each risk instrument's performance (``instruments.py``), protected likewise
    instruments: tuple[Performance, ...] = ()

    def count(self, name: str, dimension: str | None = None,
              value: str | None = None) -> int | None:
        """A published count (None when hidden)."""
        key = (name, dimension, value)
        return None if key in self.hidden else self.ledger.values.get(key, 0)

    def rate(self, numerator: str, denominator: str, dimension: str | None = None,
             value: str | None = None) -> float | None:
        """numerator / denominator, when both are published and the denominator has at
        least ``threshold`` members."""
        n = self.count(numerator, dimension, value)
        d = self.count(denominator, dimension, value)
        if n is None or d is None or d < self.threshold:
            return None
        return n / d

    def median(self, name: str, dimension: str | None = None,
               value: str | None = None) -> tuple[int, float | None]:
        """(how many observations, their median: None under ``threshold`` of them)."""
        population = self.populations[name]
        hours = [h for ref, h in population.observations.items()
                 if dimension is None or _in(population.members[ref].get(dimension), value)]
        if len(hours) < self.threshold:
            return len(hours), None
        return len(hours), statistics.median(hours)


def evaluate(reader: Reader, period: Period, now: datetime, threshold: int) -> Evaluation:
    """Every indicator over ``period``, as of ``now``, with counts under ``threshold``
    protected."""
    facts = read_facts(reader, now)
    found = populations(facts, period, now)
    ledger = build_ledger(definitions().values(), found, regions())
    return Evaluation(period, now, threshold, found, ledger, suppress(ledger, threshold),
                      facts.excluded, tuple(performance(facts, period, now, threshold)))


def _in(held: object, value: str | None) -> bool:
    return value in held if isinstance(held, frozenset) else held == value
