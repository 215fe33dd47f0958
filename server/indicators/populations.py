"""The populations the Measures count, for one period: which cases, women, referrals and
alerts each holds, with the strata (dimensions) of each member and, for the
continuous-variable Measures, each member's observation (hours).

A Measure's population names one of these in its ``criteria.expression``, a stratifier
one of the dimensions (``profiles/ig/Measure-*.json``; ``measures.py`` checks that every
name it meets is defined here). The definitions are those the Measures' ``definition``
texts state; README, "Indicators", lists them too.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from server.indicators.facts import Facts
from server.indicators.period import CHILE, Period
from server.indicators.records import Case
from server.warnings.config import Rules, load_rules
from server.warnings.rules import Assessment as RuleAssessment
from server.warnings.rules import high_risk
from terminology import comunas

__all__ = ["DIMENSIONS", "NONE", "Population", "populations", "regions"]

#: The value of a dimension that is not known.
NONE = "sin-dato"
#: Every dimension a stratifier may name; ``forma-violencia`` is the only one where a
#: member may fall in several strata (so its strata do not add up to the total).
DIMENSIONS = ("region", "comuna", "mes", "forma-violencia", "tramo-edad",
              "institucion-ingreso", "nivel-riesgo", "estado-derivacion", "tipo-alerta")
_BANDS = ((18, "menor-18"), (30, "18-29"), (45, "30-44"), (60, "45-59"))
_CLOSED = ("cancelled", "entered-in-error")
_IN_FORCE = ("active", "completed")


@dataclass
class Population:
    """Members (a case, a woman, a referral or an alert, by reference) with the value of
    each dimension (a frozenset for ``forma-violencia``), and ``observations``: hours
    per member, for a continuous-variable Measure."""

    members: dict[str, dict[str, str | frozenset[str]]] = field(default_factory=dict)
    observations: dict[str, float] = field(default_factory=dict)

    def subset(self, keep: Callable[[str], bool]) -> Population:
        """The members for which ``keep(ref)`` holds, with their dimensions."""
        return Population({ref: dims for ref, dims in self.members.items() if keep(ref)})


def populations(facts: Facts, period: Period, now: datetime) -> dict[str, Population]:
    """Every population of the Measures for ``period`` (evaluated at ``now``)."""
    as_of = period.as_of(now)
    found: dict[str, Population] = {}
    found.update(_cases(facts, period, as_of))
    found.update(_recurrence(facts, period))
    found.update(_high_risk(facts, as_of))
    found.update(_referrals(facts, period))
    found.update(_alerts(facts, period))
    return found


# -- cases ---------------------------------------------------------------------------------

def _cases(facts: Facts, period: Period, as_of: datetime) -> dict[str, Population]:
    by_patient, incidents = _grouped(facts.assessments), _grouped(facts.incidents)
    new = Population()
    with_assessment, multiple = set(), set()
    institutions = defaultdict(set)
    for contact in facts.contacts:
        if contact.institution is not None:
            institutions[contact.patient].add((contact.at, contact.institution))
    for case in facts.cases:
        if case.status in _CLOSED or not period.holds(case.day):
            continue
        mine = [a for a in by_patient.get(case.patient, ())
                if a.day >= case.day and a.at <= as_of]
        level = (max(mine, key=lambda a: (a.at, a.ref)).level or NONE) if mine \
            else "sin-evaluacion"
        new.members[case.ref] = _case_strata(facts, case, level,
                                             incidents.get(case.patient, ()))
        if mine:
            with_assessment.add(case.ref)
        if len({org for at, org in institutions[case.patient] if at <= case.start}) >= 2:
            multiple.add(case.ref)
    return {"casos-nuevos": new,
            "casos-con-evaluacion": new.subset(with_assessment.__contains__),
            "casos-contacto-multiple": new.subset(multiple.__contains__)}


def _case_strata(facts: Facts, case: Case, level: str,
                 incidents) -> dict[str, str | frozenset[str]]:
    survivor = facts.survivors.get(case.patient)
    comuna = survivor.comuna if survivor is not None and survivor.comuna in regions() \
        else None
    end = case.end.date() if case.end is not None else None
    forms = frozenset(f for i in incidents if (
        i.case == case.ref or (i.case is None and case.day <= i.day
                               and (end is None or i.day <= end))) for f in i.forms)
    return {"region": regions()[comuna] if comuna else NONE, "comuna": comuna or NONE,
            "mes": f"{case.day:%Y-%m}", "forma-violencia": forms or frozenset({"sin-incidente"}),
            "tramo-edad": _band(_age(survivor, case.day)),
            "institucion-ingreso": facts.kinds.get(case.entry or "", NONE),
            "nivel-riesgo": level}


@cache
def regions() -> dict[str, str]:
    """CUT comuna -> CUT region (the 346 comunas of ``terminology``)."""
    return {c.code: c.region_code for c in comunas()}


def _age(survivor, day: date) -> int | None:
    """Her age on ``day``: by her birth date, else her latest stated age carried to it."""
    if survivor is None:
        return None
    if survivor.birth is not None:
        return _years(survivor.birth, day)
    if survivor.stated:
        said, age = survivor.stated[-1]
        return age + _years(said, day) if day >= said else age - _years(day, said)
    return None


def _years(since: date, day: date) -> int:
    return day.year - since.year - ((day.month, day.day) < (since.month, since.day))


def _band(age: int | None) -> str:
    if age is None or age < 0:
        return NONE
    return next((name for below, name in _BANDS if age < below), "60-mas")


# -- women: recurrence, high risk ----------------------------------------------------------

@cache
def _rules() -> Rules:
    return load_rules()


def _recurrence(facts: Facts, period: Period) -> dict[str, Population]:
    """Rule 3 of early warning, asked at each incident of the period: incidents less
    than ``same_event`` apart are one episode; she recurred when an episode that begins
    in the period has ``recurrence_count`` episodes (itself included) beginning within
    ``recurrence_window`` up to it."""
    rules = _rules()
    women, recurrent = Population(), set()
    for patient, incidents in _grouped(facts.incidents).items():
        starts = [incidents[0]]  # each episode's first incident
        for before, incident in zip(incidents, incidents[1:], strict=False):
            if incident.at - before.at >= rules.same_event:
                starts.append(incident)
        for i, episode in enumerate(starts):
            if not period.holds(episode.day):
                continue
            women.members[patient] = {}
            within = [e for e in starts[:i + 1] if episode.at - e.at <= rules.recurrence_window]
            if len(within) >= rules.recurrence_count:
                recurrent.add(patient)
    return {"mujeres-con-incidente": women,
            "mujeres-reincidentes": women.subset(recurrent.__contains__)}


def _high_risk(facts: Facts, as_of: datetime) -> dict[str, Population]:
    rules = _rules()
    assessed = _grouped(facts.assessments)
    protected = {m.patient for m in facts.measures if m.status in _IN_FORCE
                 and (m.start is None or m.start <= as_of) and (m.end is None or as_of < m.end)}
    cases, unprotected = Population(), set()
    for case in facts.cases:
        if case.status in _CLOSED or case.start > as_of or (
                case.end is not None and case.end <= as_of):
            continue
        known = [RuleAssessment(a.ref, a.at, a.level, a.instrument, a.score)
                 for a in assessed.get(case.patient, ()) if a.at <= as_of]
        if high_risk(rules, known) is not None:
            cases.members[case.ref] = {}
            if case.patient not in protected:
                unprotected.add(case.ref)
    return {"casos-alto-riesgo": cases,
            "casos-alto-riesgo-sin-medida": cases.subset(unprotected.__contains__)}


# -- referrals and alerts ------------------------------------------------------------------

def _referrals(facts: Facts, period: Period) -> dict[str, Population]:
    sent, accepted, started, completed = Population(), Population(), Population(), Population()
    for r in facts.referrals:
        t = r.times
        if t.sent is None or not period.holds(t.sent.astimezone(CHILE).date()):
            continue
        dims = {"estado-derivacion": r.state}
        sent.members[r.ref] = dims
        if t.accepted is not None:
            accepted.members[r.ref] = dims
            accepted.observations[r.ref] = _hours(t.sent, t.accepted)
            if t.outcome == "completed":
                completed.members[r.ref] = dims
        if t.started is not None:
            started.members[r.ref] = dims
            started.observations[r.ref] = _hours(t.sent, t.started)
    return {"derivaciones-enviadas": sent, "derivaciones-aceptadas": accepted,
            "derivaciones-iniciadas": started, "derivaciones-completadas": completed}


def _alerts(facts: Facts, period: Period) -> dict[str, Population]:
    actions = defaultdict(list)
    for action in facts.actions:
        actions[action.patient].append(action.at)
    for times in actions.values():
        times.sort()
    raised, acted = Population(), Population()
    for alert in facts.alerts:
        if not period.holds(alert.day):
            continue
        dims = {"tipo-alerta": alert.kind}
        raised.members[alert.ref] = dims
        times = actions.get(alert.patient, [])
        after = bisect.bisect_left(times, alert.at)
        if after < len(times):
            acted.members[alert.ref] = dims
            acted.observations[alert.ref] = _hours(alert.at, times[after])
    return {"alertas": raised, "alertas-con-accion": acted}


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _grouped(records) -> dict[str, list]:
    """Records (with ``patient``, ``at``, ``ref``) by survivor, oldest first."""
    out = defaultdict(list)
    for record in records:
        out[record.patient].append(record)
    for found in out.values():
        found.sort(key=lambda r: (r.at, r.ref))
    return out
