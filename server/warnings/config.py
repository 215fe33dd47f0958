"""The early-warning rules file (``rules.json``), checked when it is loaded.

It holds the rules' thresholds and windows, not their logic (``rules.py``): which risk
levels and instrument scores are high risk, the rank of each level for escalation, how
many incidents in how many days make a recurrence, after how many days an assessment of
each level is due to be made again, against how many women one aggressor makes a serial
aggressor, which ends of a referral or of a plan's service are a drop-out, and after how
many days without contact a high-risk woman is lost to contact. It is checked against
``rules.schema.json`` (jsonschema, every error reported) and against the terminology:
every level must be a ``nivel-riesgo`` code, every instrument an ``instrumento-riesgo``
code, every level the instruments report must have a rank, so that no assessment is
left out of an escalation, and every drop-out referral status an ``estado-derivacion``
code whose task status (``estadoTarea``) is an end other than completed. A bad file
raises ``WarningConfigError`` and the server does not start, as with the referral
workflow's files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import terminology
from server.config_files import read_checked

__all__ = ["Rules", "WarningConfigError", "load_rules"]


class WarningConfigError(ValueError):
    def __init__(self, path: str, problems: list[str]):
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path, self.problems = path, problems


@dataclass(frozen=True)
class Rules:
    high_levels: frozenset[str]  # nivel-riesgo codes that are high risk
    score_thresholds: dict[str, float]  # instrumento-riesgo code -> score that is high
    ranks: dict[str, int]  # nivel-riesgo code -> rank, for escalation
    recurrence_count: int  # incidents (episodes) that make a recurrence
    recurrence_window: timedelta
    same_event: timedelta  # incidents closer than this are one episode
    reassess_after: dict[str, timedelta]  # nivel-riesgo code -> age of a due reassessment
    serial_women: int = 2  # women one aggressor's incidents are against: a serial aggressor
    #: estado-derivacion codes of a referral's task that are a drop-out
    dropped_referral: frozenset[str] = frozenset()
    #: CarePlan.activity.detail.status codes of a plan's service that are a drop-out
    dropped_activity: frozenset[str] = frozenset()
    lost_contact: timedelta = timedelta(days=30)  # a high-risk woman's longest silence
    #: how far before her latest assessment a lower one makes it an escalation
    escalation_window: timedelta = timedelta(days=365)


def load_rules(path: str | Path | None = None) -> Rules:
    """The rules of ``path`` (the shipped ``rules.json`` by default), checked."""
    source = Path(path) if path is not None else resources.files(__package__) / "rules.json"
    name = str(path or "server/warnings/rules.json")
    doc, problems = read_checked(source, resources.files(__package__) / "rules.schema.json")
    if doc is not None and not problems:
        problems = _against_terminology(doc)
    if doc is None or problems:
        raise WarningConfigError(name, problems)
    high, rank, repeat = doc["riesgoAlto"], doc["escalamiento"]["rango"], doc["reincidencia"]
    dropped = doc["abandono"]
    return Rules(frozenset(high["niveles"]), dict(high.get("umbralPuntaje", {})), dict(rank),
                 repeat["incidentes"], timedelta(days=repeat["ventanaDias"]),
                 timedelta(hours=repeat["mismoHechoHoras"]),
                 {level: timedelta(days=days)
                  for level, days in doc["reevaluacion"]["diasPorNivel"].items()},
                 doc["agresorSerial"]["mujeres"], frozenset(dropped["estadosDerivacion"]),
                 frozenset(dropped["estadosActividad"]),
                 timedelta(days=doc["perdidaContacto"]["dias"]),
                 timedelta(days=doc["escalamiento"]["ventanaDias"]))


def _against_terminology(doc: dict[str, Any]) -> list[str]:
    levels, instruments = terminology.concepts("nivel-riesgo"), \
        terminology.concepts("instrumento-riesgo")
    problems = [f"riesgoAlto/niveles: {code} is not a nivel-riesgo code"
                for code in doc["riesgoAlto"]["niveles"] if code not in levels]
    problems += [f"riesgoAlto/umbralPuntaje: {code} is not an instrumento-riesgo code"
                 for code in doc["riesgoAlto"].get("umbralPuntaje", {}) if code not in instruments]
    ranked = doc["escalamiento"]["rango"]
    problems += [f"escalamiento/rango: {code} is not a nivel-riesgo code"
                 for code in ranked if code not in levels]
    problems += [f"escalamiento/rango: nivel-riesgo {code} has no rank"
                 for code in levels if code not in ranked]
    problems += [f"reevaluacion/diasPorNivel: {code} is not a nivel-riesgo code"
                 for code in doc["reevaluacion"]["diasPorNivel"] if code not in levels]
    states = terminology.concepts("estado-derivacion")
    for code in doc["abandono"]["estadosDerivacion"]:
        if code not in states:
            problems.append(f"abandono/estadosDerivacion: {code} is not an estado-derivacion code")
        elif _task_status(states[code]) not in _ENDS:
            problems.append(f"abandono/estadosDerivacion: {code} does not end a referral's "
                            f"task unserved (its task status is {_task_status(states[code])})")
    return problems


#: the task statuses that end a referral without the service delivered
_ENDS = ("failed", "rejected", "cancelled")


def _task_status(concept: dict[str, Any]) -> str | None:
    return next(((p.get("valueCoding") or {}).get("code") for p in concept.get("property") or []
                 if p.get("code") == "estadoTarea"), None)
