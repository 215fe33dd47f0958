"""A Measure's evaluation as a FHIR MeasureReport (type ``summary``).

https://hl7.org/fhir/R4B/measurereport.html: one ``group`` per group of the Measure, its
populations with their counts, a ``measureScore`` (a proportion: numerator over
denominator; a continuous variable: the median, in hours) and a ``stratifier`` per
stratifier asked for, with its strata. A hidden count keeps its place in the report with
no value and the data-absent-reason extension ``masked`` ("not available due to
security, privacy or related reasons"), so that a reader sees that something was
withheld rather than a zero; so does a hidden score.
"""

from __future__ import annotations

from server.indicators.definitions import Group, MeasureDefinition
from server.indicators.evaluation import Evaluation
from server.indicators.ledger import strata
from server.indicators.strata import concept

__all__ = ["MASKED", "measure_report"]

_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
MASKED = {"extension": [{"url": _ABSENT, "valueCode": "masked"}]}
_POPULATION = "http://terminology.hl7.org/CodeSystem/measure-population"
_UCUM = "http://unitsofmeasure.org"


def measure_report(evaluation: Evaluation, measure: MeasureDefinition,
                   stratifiers: set[str] | None = None) -> dict:
    """The summary MeasureReport of ``measure``; ``stratifiers``: the stratifier codes to
    report (None: all of them)."""
    period = evaluation.period
    return {
        "resourceType": "MeasureReport",
        "language": "es-CL",
        "status": "complete",
        "type": "summary",
        "measure": measure.url,
        "date": evaluation.now.isoformat(timespec="seconds"),
        "period": {"start": period.first.isoformat(), "end": period.last.isoformat()},
        "group": [_group(evaluation, group, stratifiers) for group in measure.groups],
    }


def _group(evaluation: Evaluation, group: Group, stratifiers: set[str] | None) -> dict:
    out = {"code": {"coding": [{"code": group.code, "display": group.display}]},
           **_figures(evaluation, group, None, None)}
    chosen = [s for s in group.stratifiers if stratifiers is None or s in stratifiers]
    if chosen:
        out["stratifier"] = [{
            "code": [{"coding": [{"code": dimension}]}],
            "stratum": [{"value": concept(dimension, value),
                         **_figures(evaluation, group, dimension, value)}
                        for value in strata(evaluation.populations[group.base], dimension)],
        } for dimension in chosen]
    return out


def _figures(evaluation: Evaluation, group: Group, dimension: str | None,
             value: str | None) -> dict:
    """The populations and score of ``group`` (in one stratum, or overall)."""
    populations = []
    for code, name in group.populations:
        if code == "measure-observation":
            continue
        count = evaluation.count(name, dimension, value)
        entry = {"code": {"coding": [{"system": _POPULATION, "code": code}]}}
        entry.update({"count": count} if count is not None else {"_count": MASKED})
        populations.append(entry)
    out: dict = {"population": populations}
    # no score at all where there is nothing to measure (an empty denominator)
    if group.scoring == "proportion" and evaluation.ledger.values.get(
            (group.base, dimension, value), 0):
        rate = evaluation.rate(group.named("numerator"), group.base, dimension, value)
        out["measureScore"] = MASKED if rate is None else _quantity(round(rate, 4), "1")
    elif group.scoring == "continuous-variable":
        observed, median = evaluation.median(group.base, dimension, value)
        if observed:
            out["measureScore"] = MASKED if median is None else _quantity(round(median, 1), "h")
    return out


def _quantity(value: float, unit: str) -> dict:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}
