"""Every count a set of indicators publishes, and the linear relations among them that a
reader of the report knows: what small-cell suppression must protect against.

A count is keyed ``(population, dimension, stratum)``: ``("casos-nuevos", None, None)``
is the number of new cases, ``("casos-nuevos", "comuna", "13110")`` those of La Florida.
The same key in two Measures is the same figure (new cases are the denominator of three
of them), so one ledger holds the whole report. A key is *written* when some Measure
publishes it; the others are *implicit*: never written but derivable, such as the cases
without an assessment (denominator minus numerator), which are counts about women too.

The relations (each ``total = sum of parts``):

1. a population is the sum of its strata, for every stratifier whose strata partition it
   (every one but ``forma-violencia``, where a case has each form its incidents record);
2. a region is the sum of its comunas (both stratify new cases);
3. a denominator is its numerator plus the implicit rest, in total and in each stratum;
4. the new cases with an assessment are the new cases less those ``sin-evaluacion``.

Strata with no member are not listed: a reader knows they are zero, and so does the
ledger (a count of zero is published, never suppressed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from server.indicators.definitions import MeasureDefinition
from server.indicators.populations import Population

__all__ = ["Key", "Ledger", "build_ledger", "strata"]

Key = tuple[str, str | None, str | None]
#: Dimensions whose strata may overlap (a case in several): no sum relation.
OVERLAPPING = frozenset({"forma-violencia"})
#: Relation 4: an implicit count that equals a published one.
IDENTITIES: tuple[tuple[Key, Key], ...] = (
    (("casos-nuevos\\casos-con-evaluacion", None, None),
     ("casos-nuevos", "nivel-riesgo", "sin-evaluacion")),)


@dataclass
class Ledger:
    values: dict[Key, int] = field(default_factory=dict)
    written: set[Key] = field(default_factory=set)
    sums: list[tuple[Key, tuple[Key, ...]]] = field(default_factory=list)

    def add(self, key: Key, value: int, written: bool = True) -> None:
        self.values[key] = value
        if written:
            self.written.add(key)


def strata(population: Population, dimension: str) -> list[str]:
    """The strata of ``population`` for ``dimension`` that have members, sorted."""
    found: set[str] = set()
    for dims in population.members.values():
        value = dims.get(dimension)
        found.update(value if isinstance(value, frozenset) else (value,) if value else ())
    return sorted(found)


def build_ledger(measures: Iterable[MeasureDefinition],
                 populations: dict[str, Population], regions: dict[str, str]) -> Ledger:
    """The ledger of every count ``measures`` publish over ``populations`` (``regions``:
    CUT comuna -> CUT region, for relation 2)."""
    ledger = Ledger()
    stratified: dict[str, set[str]] = {}
    for measure in measures:
        for group in measure.groups:
            base = populations[group.base]
            for name in group.counted:
                _count(ledger, populations[name], name, None, None)
                for dimension in group.stratifiers:
                    stratified.setdefault(name, set()).add(dimension)
                    for value in strata(base, dimension):
                        _count(ledger, populations[name], name, dimension, value)
            numerator, denominator = group.named("numerator"), group.named("denominator")
            if numerator and denominator:
                _rest(ledger, populations, denominator, numerator, group.stratifiers)
    for name, dimensions in stratified.items():
        for dimension in sorted(dimensions - OVERLAPPING):
            _partition(ledger, name, dimension)
        if {"region", "comuna"} <= dimensions:
            _hierarchy(ledger, name, regions)
    for rest, stratum in IDENTITIES:
        if rest in ledger.values:
            if stratum not in ledger.values:
                ledger.add(stratum, 0)  # not listed: known to be zero
            ledger.sums.append((rest, (stratum,)))
    return ledger


def _count(ledger: Ledger, population: Population, name: str, dimension: str | None,
           value: str | None, written: bool = True) -> None:
    if dimension is None:
        count = len(population.members)
    else:
        count = sum(1 for dims in population.members.values() if _in(dims.get(dimension), value))
    ledger.add((name, dimension, value), count, written)


def _in(held: object, value: str | None) -> bool:
    return value in held if isinstance(held, frozenset) else held == value


def _rest(ledger: Ledger, populations: dict[str, Population], denominator: str,
          numerator: str, dimensions: tuple[str, ...]) -> None:
    """Relation 3: the implicit ``denominator\\numerator`` in total and per stratum."""
    rest = f"{denominator}\\{numerator}"
    kept = set(populations[numerator].members)
    remainder = populations[denominator].subset(lambda ref: ref not in kept)
    _count(ledger, remainder, rest, None, None, written=False)
    ledger.sums.append(((denominator, None, None),
                        ((numerator, None, None), (rest, None, None))))
    for dimension in dimensions:
        for value in strata(populations[denominator], dimension):
            _count(ledger, remainder, rest, dimension, value, written=False)
            ledger.sums.append(((denominator, dimension, value),
                                ((numerator, dimension, value), (rest, dimension, value))))


def _partition(ledger: Ledger, name: str, dimension: str) -> None:
    """Relation 1 (a population's listed strata: the others are zero)."""
    parts = tuple(k for k in ledger.values if k[0] == name and k[1] == dimension)
    ledger.sums.append(((name, None, None), parts))


def _hierarchy(ledger: Ledger, name: str, regions: dict[str, str]) -> None:
    """Relation 2: each listed region is the sum of its listed comunas (``sin-dato`` is
    both a region and a comuna: the comuna not known)."""
    by_region: dict[str, list[Key]] = {}
    for key in ledger.values:
        if key[0] == name and key[1] == "comuna":
            region = regions.get(key[2] or "", key[2])
            by_region.setdefault(region, []).append(key)
    for key in [k for k in ledger.values if k[0] == name and k[1] == "region"]:
        ledger.sums.append((key, tuple(by_region.get(key[2], ()))))
