"""The indicators' definitions, read from the implementation guide's Measures
(``profiles/ig/Measure-*.json``): data, not code. Each group's populations and
stratifiers name in ``criteria.expression`` a population and a dimension of
``populations.py``; loading checks that every name is one the code computes, so a Measure
cannot promise a figure nobody calculates.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from profiles import ig
from server.indicators.populations import DIMENSIONS

__all__ = ["Group", "MeasureDefinition", "OBSERVATIONS", "POPULATIONS", "definitions"]

#: The populations ``populations.populations`` computes.
POPULATIONS = frozenset({
    "casos-nuevos", "casos-con-evaluacion", "casos-contacto-multiple",
    "mujeres-con-incidente", "mujeres-reincidentes", "casos-alto-riesgo",
    "casos-alto-riesgo-sin-medida", "derivaciones-enviadas", "derivaciones-aceptadas",
    "derivaciones-iniciadas", "derivaciones-completadas", "alertas", "alertas-con-accion"})
#: The observations (hours per member) of the continuous-variable Measures, by the
#: population they are measured on.
OBSERVATIONS = {"horas-hasta-aceptacion": "derivaciones-aceptadas",
                "horas-hasta-atencion": "derivaciones-iniciadas",
                "horas-hasta-primera-accion": "alertas-con-accion"}
SCORINGS = ("cohort", "proportion", "continuous-variable")


@dataclass(frozen=True)
class Group:
    """One group of a Measure: ``populations`` maps each population code (``initial-
    population``, ``denominator``, ``numerator``, ``measure-population``,
    ``measure-observation``) to the name in its criteria."""

    code: str
    display: str
    scoring: str
    populations: tuple[tuple[str, str], ...]
    stratifiers: tuple[str, ...]

    def named(self, code: str) -> str | None:
        return next((name for c, name in self.populations if c == code), None)

    @property
    def counted(self) -> tuple[str, ...]:
        """The populations whose counts the group publishes, in its order."""
        return tuple(dict.fromkeys(name for c, name in self.populations
                                   if c != "measure-observation"))

    @property
    def base(self) -> str:
        """The population its strata are taken from (the denominator, or the only one)."""
        return self.named("denominator") or self.named("measure-population") \
            or self.populations[0][1]


@dataclass(frozen=True)
class MeasureDefinition:
    id: str
    url: str
    title: str
    scoring: str
    groups: tuple[Group, ...]


@cache
def definitions() -> dict[str, MeasureDefinition]:
    """Every Measure of the guide, by id, checked (ValueError naming the problem)."""
    return {m["id"]: _definition(m) for m in ig.measures()}


def _definition(measure: dict) -> MeasureDefinition:
    where = f"Measure/{measure.get('id')}"
    scoring = _code(measure.get("scoring"))
    if scoring not in SCORINGS:
        raise ValueError(f"{where}: scoring {scoring!r} is not one of {SCORINGS}")
    groups = []
    for group in measure.get("group") or []:
        populations = tuple((_code(p.get("code")), p["criteria"]["expression"])
                            for p in group.get("population") or [])
        stratifiers = tuple(s["criteria"]["expression"] for s in group.get("stratifier") or [])
        for code, name in populations:
            known = OBSERVATIONS if code == "measure-observation" else POPULATIONS
            if name not in known:
                raise ValueError(f"{where}: population {name!r} is not computed")
        unknown = set(stratifiers) - set(DIMENSIONS)
        if unknown:
            raise ValueError(f"{where}: stratifier {sorted(unknown)} is not computed")
        coding = (group.get("code") or {}).get("coding") or [{}]
        groups.append(Group(coding[0].get("code", ""), coding[0].get("display", ""), scoring,
                            populations, stratifiers))
    if not groups:
        raise ValueError(f"{where} has no group")
    return MeasureDefinition(measure["id"], measure["url"], measure.get("title", ""),
                             scoring, tuple(groups))


def _code(concept: object) -> str | None:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return codings[0].get("code") if codings else None
