"""How well each risk instrument's levels predicted a new incident: the deployment's own
check of its instruments (published police instruments reach an AUC of only 0.71-0.80).

For each instrument (``RiskAssessment.method``, ``instrumento-riesgo``) and each
follow-up window (3 months = 90 days, 12 months = 365 days):

- **Sample**: each woman's first assessment with that instrument dated in the period
  (one per woman, so that the observations are independent), whose window has fully
  elapsed by the evaluation (an assessment of the last weeks has no 12-month outcome
  yet); its score is the level the instrument gave (``ext-nivel-instrumento``, not a
  professional's later raise), ordered as the instrument's ``nivel`` properties list its
  levels (bajo < medio < alto < vital; the PUIR's vital-alto is its top).
- **Outcome**: a new incident of hers (ViolenceIncident, not void) dated after the
  assessment and within the window; an incident less than 72 hours after one dated at
  or before the assessment is that same episode (early warning's rule 3), not a new one.
- **AUC**: the probability that a woman with a new incident had a higher level than one
  without (ties count one half: the Mann-Whitney statistic over the levels), with a 95%
  confidence interval by Hanley & McNeil (Radiology 1982;143:29-36), clipped to [0, 1].
- **Sensitivity and specificity at each level**: the level as a threshold (a woman at
  that level or above is "high"): TP / positives and TN / negatives.

Small cells: the counts (assessed, with and without a new incident, and the true
positives and negatives behind each rate) go through the same suppression as the other
indicators (``suppression.py``), in a ledger of their own per instrument and window; an
AUC is published only when both groups are published and have at least k women, a rate
only when its numerator and denominator are published and the denominator has k.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import numpy as np

import terminology
from server.indicators.facts import Facts
from server.indicators.ledger import Ledger
from server.indicators.period import Period
from server.indicators.suppression import suppress

__all__ = ["Performance", "Threshold", "WINDOWS", "performance"]

#: follow-up windows: label -> days
WINDOWS = {"3 meses": 90, "12 meses": 365}
_SAME_EVENT = timedelta(hours=72)
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class Threshold:
    level: str
    sensitivity: float | None
    specificity: float | None


@dataclass(frozen=True)
class Performance:
    instrument: str
    window: str
    assessed: int | None
    positives: int | None
    negatives: int | None
    auc: float | None
    low: float | None
    high: float | None
    thresholds: tuple[Threshold, ...]


def performance(facts: Facts, period: Period, now: datetime, k: int) -> list[Performance]:
    """Every instrument's performance over ``period`` for each window, protected."""
    incidents = defaultdict(list)
    for incident in facts.incidents:
        incidents[incident.patient].append(incident.at)
    first: dict[tuple[str, str], tuple[datetime, str]] = {}
    for a in sorted(facts.assessments, key=lambda a: (a.at, a.ref)):
        if a.instrument in _scales() and a.instrument_level in _scales()[a.instrument] \
                and period.holds(a.day):
            first.setdefault((a.instrument, a.patient), (a.at, a.instrument_level))
    out = []
    for instrument in sorted({i for i, _ in first}):
        for window, days in WINDOWS.items():
            sample = [(level, _new_incident(incidents[patient], at, days))
                      for (i, patient), (at, level) in first.items()
                      if i == instrument and at + timedelta(days=days) <= now]
            if sample:
                out.append(_assess(instrument, window, sample, k))
    return out


def _new_incident(times: list[datetime], at: datetime, days: int) -> bool:
    before = [t for t in times if t <= at]
    episode_end = max(before) + _SAME_EVENT if before else at
    return any(at < t <= at + timedelta(days=days) and t >= episode_end for t in times)


def _assess(instrument: str, window: str, sample: list[tuple[str, bool]],
            k: int) -> Performance:
    scale = _scales()[instrument]
    rank = {level: i for i, level in enumerate(scale)}
    pos = np.array([rank[level] for level, new in sample if new])
    neg = np.array([rank[level] for level, new in sample if not new])
    ledger, counts = _ledger(scale, rank, pos, neg)
    hidden = suppress(ledger, k)

    def shown(name: str) -> int | None:
        return None if (name, None, None) in hidden else counts[name]

    def rate(part: str, whole: str) -> float | None:
        a, b = shown(part), shown(whole)
        return None if a is None or b is None or b < k else a / b

    auc = low = high = None
    if shown("P") is not None and shown("N") is not None and min(len(pos), len(neg)) >= k:
        auc, low, high = _auc(pos, neg)
    thresholds = tuple(Threshold(level, rate(f"TP:{level}", "P"), rate(f"TN:{level}", "N"))
                       for level in scale)
    return Performance(instrument, window, shown("n"), shown("P"), shown("N"), auc, low, high,
                       thresholds)


def _ledger(scale, rank, pos, neg) -> tuple[Ledger, dict[str, int]]:
    """n = P + N; at each level, P = TP + FN and N = TN + FP; the rates publish TP and TN,
    FN and FP are never written (but are counts about women too)."""
    counts = {"n": len(pos) + len(neg), "P": len(pos), "N": len(neg)}
    ledger = Ledger()
    for name in ("n", "P", "N"):
        ledger.add((name, None, None), counts[name])
    ledger.sums.append((("n", None, None), (("P", None, None), ("N", None, None))))
    for level in scale:
        cut = rank[level]
        parts = {f"TP:{level}": int((pos >= cut).sum()), f"FN:{level}": int((pos < cut).sum()),
                 f"TN:{level}": int((neg < cut).sum()), f"FP:{level}": int((neg >= cut).sum())}
        counts.update(parts)
        for name, value in parts.items():
            ledger.add((name, None, None), value, written=name[:2] in ("TP", "TN"))
        ledger.sums.append((("P", None, None), ((f"TP:{level}", None, None),
                                                (f"FN:{level}", None, None))))
        ledger.sums.append((("N", None, None), ((f"TN:{level}", None, None),
                                                (f"FP:{level}", None, None))))
    return ledger, counts


def _auc(pos: np.ndarray, neg: np.ndarray) -> tuple[float, float, float]:
    """AUC (Mann-Whitney, ties one half) and its Hanley-McNeil 95% interval."""
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    n1, n2 = len(pos), len(neg)
    a = float((greater + 0.5 * ties) / (n1 * n2))
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n2 - 1) * (q2 - a * a))
                   / (n1 * n2))
    return a, max(0.0, a - _Z95 * se), min(1.0, a + _Z95 * se)


@cache
def _scales() -> dict[str, tuple[str, ...]]:
    """Each instrument's levels, lowest first (its ``nivel`` properties, in order)."""
    return {code: tuple(p["valueCoding"]["code"] for p in concept.get("property", [])
                        if p.get("code") == "nivel")
            for code, concept in terminology.concepts("instrumento-riesgo").items()}
