"""What each stratum is called: the CodeableConcept a MeasureReport gives it (the code
system its values come from, when there is one) and the Spanish label an analyst reads
in the CSV files and charts."""

from __future__ import annotations

from functools import cache

import terminology
from server.indicators.populations import NONE

__all__ = ["concept", "label"]

_BASE = "https://fhir.amparo.cl/CodeSystem/"
#: dimension -> our CodeSystem its codes come from
_SYSTEMS = {"forma-violencia": "formas-violencia", "institucion-ingreso": "tipo-institucion",
            "nivel-riesgo": "nivel-riesgo", "estado-derivacion": "estado-derivacion",
            "tipo-alerta": "tipo-alerta", "instrumento-riesgo": "instrumento-riesgo"}
_TASK_STATUS = "http://hl7.org/fhir/task-status"
_SPECIAL = {NONE: "Sin dato", "sin-evaluacion": "Sin evaluación",
            "sin-incidente": "Sin hechos registrados", "menor-18": "Menor de 18",
            "60-mas": "60 o más"}


def label(dimension: str, value: str) -> str:
    """The Spanish name of ``value`` in ``dimension``."""
    return concept(dimension, value).get("text") or value


def concept(dimension: str, value: str) -> dict:
    """``value`` of ``dimension`` as a CodeableConcept (``text``: its Spanish name)."""
    if value in _SPECIAL:
        return {"text": _SPECIAL[value]}
    if dimension in ("region", "comuna"):
        system, names = ((terminology.REGIONES_SYSTEM, _regions()) if dimension == "region"
                         else (terminology.COMUNAS_SYSTEM, _comunas()))
        if value in names:
            return _coded(system, value, names[value])
    elif dimension in _SYSTEMS:
        names = _displays(_SYSTEMS[dimension])
        if value in names:
            return _coded(_BASE + _SYSTEMS[dimension], value, names[value])
        if dimension == "estado-derivacion":  # no businessStatus: the Task.status
            return _coded(_TASK_STATUS, value, value)
    elif dimension == "tramo-edad":
        return {"text": f"{value} años"}
    return {"text": value}


def _coded(system: str, code: str, display: str) -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


@cache
def _displays(name: str) -> dict[str, str]:
    return {code: c.get("display", code) for code, c in terminology.concepts(name).items()}


@cache
def _comunas() -> dict[str, str]:
    return {c.code: c.display for c in terminology.comunas()}


@cache
def _regions() -> dict[str, str]:
    return {c.region_code: c.region for c in terminology.comunas()}
