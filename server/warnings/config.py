"""The early-warning rules file (``rules.json``), checked when it is loaded.

It holds the rules' thresholds and windows, not their logic (``rules.py``): which risk
levels and instrument scores are high risk, the rank of each level for escalation, how
many incidents in how many days make a recurrence, and after how many days an
assessment of each level is due to be made again. It is checked against
``rules.schema.json`` (jsonschema, every error reported) and against the terminology:
every level must be a ``nivel-riesgo`` code, every instrument an ``instrumento-riesgo``
code, and every level the instruments report must have a rank, so that no assessment is
left out of an escalation. A bad file raises ``WarningConfigError`` and the server does
not start, as with the referral workflow's files.
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
    return Rules(frozenset(high["niveles"]), dict(high.get("umbralPuntaje", {})), dict(rank),
                 repeat["incidentes"], timedelta(days=repeat["ventanaDias"]),
                 timedelta(hours=repeat["mismoHechoHoras"]),
                 {level: timedelta(days=days)
                  for level, days in doc["reevaluacion"]["diasPorNivel"].items()})


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
    return problems
