"""The early-warning rules over one survivor's facts: pure functions, no store.

Each rule looks at her whole record as it is now (her risk assessments, her incidents)
and says whether its condition holds and which records make it hold (``Finding``).
``engine.py`` turns that into alerts and back: an alert exists exactly while its finding
does, so raising is idempotent and an alert clears itself when its condition does.

1. **riesgo-alto**: her latest assessment is at a high level (``rules.json``: alto,
   vital, the PUIR's vital-alto) or its score reaches its instrument's threshold (DASH:
   14 of 24).
2. **escalamiento**: her latest assessment ranks higher than an earlier one of hers
   made in the 365 days before it, from whatever institutions (ranks in ``rules.json``:
   the PUIR does not tell alto from vital, so both rank 3). Not only the one just before:
   medio, then the PUIR's vital-alto, then vital is an escalation (section 5.4 of the
   institutions' fixtures), which a second top-level assessment does not undo.
3. **reincidencia** (the UK MARAC "repeat" criterion): two or more incidents within any
   365 days, incidents less than 72 hours apart counting as one (the police complaint and
   the emergency-room visit of the same night).
4. **agresor-serial**: the same aggressor in incidents against two or more women
   (``aggressors.py``).
5. **incumplimiento-medida-proteccion**: a new incident of the aggressor a protection
   measure of hers is against, while it is in force (``aggressors.py``).
6. **derivacion-vencida**: a referral's task not accepted, or not completed, by its due
   date (``restriction.period.end``, which the referral workflow sets from the service
   levels); one alert per referral (``Finding.about``).
7. **perdida-contacto**: she left a referral or a service of her plan (drop-out), or,
   at high risk, no institution has seen her for 30 days (lost contact)
   (``engagement.py``).
8. **reevaluacion-pendiente**: her latest assessment is older than the days
   ``rules.json`` gives its level (a vital risk is assessed again within 14 days).

Rules 6 and 8 are time-based: ``engine.py`` sets her timer at the next instant one of
them may change its mind (``next_due``), with no change to her records to trigger it;
so are rule 5 (a measure ends: ``aggressors.breach_ends``) and rule 7's lost contact
(``engagement.lost_contact_due``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from server.warnings.config import Rules

LEVELS = "https://fhir.amparo.cl/CodeSystem/nivel-riesgo"
INSTRUMENTS = "https://fhir.amparo.cl/CodeSystem/instrumento-riesgo"
OBSERVATIONS = "https://fhir.amparo.cl/CodeSystem/observacion-vcm"
INCIDENT = "incidente-violencia"
SCORE = "https://fhir.amparo.cl/StructureDefinition/ext-puntaje-riesgo"
REFERRAL_STATES = "https://fhir.amparo.cl/CodeSystem/estado-derivacion"
_VOID = ("entered-in-error", "cancelled")


@dataclass(frozen=True)
class Assessment:
    ref: str  # RiskAssessment/<id>
    at: datetime
    level: str | None  # nivel-riesgo code
    instrument: str | None  # instrumento-riesgo code
    score: float | None


@dataclass(frozen=True)
class Incident:
    ref: str  # Observation/<id>
    at: datetime
    survivor: str | None = None  # Patient/<id>: whom it was against
    aggressors: tuple[str, ...] = ()  # RelatedPerson/<id> it names (``focus``)


@dataclass(frozen=True)
class Referral:
    ref: str  # Task/<id>
    status: str
    due: datetime | None  # restriction.period.end
    request: str | None  # the ServiceRequest it fulfils
    business: str | None = None  # estado-derivacion code (businessStatus)
    authored: datetime | None = None  # authoredOn: when the referral was made


@dataclass(frozen=True)
class Finding:
    code: str  # tipo-alerta
    evidence: tuple[str, ...]  # the records that make it hold, oldest first
    detail: str  # why, in plain Spanish, for the caseworker
    about: str = ""  # which one, for kinds with one alert per record (a referral's task)
    #: records that are evidence without being ``implicated`` (the guide's AlertEvidence
    #: does not list them there): (reference, servicio-paquete-minimo code) pairs, written
    #: as ``DetectedIssue.evidence`` (a plan's service: rule 7)
    basis: tuple[tuple[str, str], ...] = ()


# -- facts from resources ------------------------------------------------------------------

def assessment(resource: dict) -> Assessment | None:
    """A RiskAssessment as the rules read it (None when it is void or undated)."""
    if resource.get("status") in _VOID:
        return None
    at = instant(resource.get("occurrenceDateTime")
                 or (resource.get("occurrencePeriod") or {}).get("start")
                 or (resource.get("meta") or {}).get("lastUpdated"))
    if at is None:
        return None
    level = next((c.get("code") for p in resource.get("prediction") or []
                  for c in (p.get("qualitativeRisk") or {}).get("coding") or []
                  if c.get("system") == LEVELS), None)
    instrument = next((c.get("code") for c in (resource.get("method") or {}).get("coding")
                       or [] if c.get("system") == INSTRUMENTS), None)
    score = next((e.get("valueDecimal") for e in resource.get("extension") or []
                  if e.get("url") == SCORE and isinstance(e.get("valueDecimal"), int | float)),
                 None)
    return Assessment(f"RiskAssessment/{resource['id']}", at, level, instrument, score)


def incident(resource: dict) -> Incident | None:
    """An Observation that is a violence incident (the guide's ViolenceIncident), dated."""
    if resource.get("status") in _VOID or not is_incident(resource):
        return None
    at = instant(resource.get("effectiveDateTime")
                 or (resource.get("effectivePeriod") or {}).get("start")
                 or resource.get("issued"))
    if at is None:
        return None
    subject = (resource.get("subject") or {}).get("reference")
    parts = subject.split("/") if isinstance(subject, str) else []
    survivor = f"Patient/{parts[-1]}" if len(parts) >= 2 and parts[-2] == "Patient" else None
    return Incident(f"Observation/{resource['id']}", at, survivor, named_aggressors(resource))


def is_incident(resource: dict | None) -> bool:
    """True for an Observation coded as a violence incident, whatever its status."""
    return isinstance(resource, dict) and any(
        c.get("system") == OBSERVATIONS and c.get("code") == INCIDENT
        for c in (resource.get("code") or {}).get("coding") or [])


def named_aggressors(resource: dict) -> tuple[str, ...]:
    """``RelatedPerson/<id>`` of the aggressors an incident names (``focus``), sorted."""
    refs = {"/".join(ref.split("/")[-2:]) for f in resource.get("focus") or []
            if isinstance(f, dict) and isinstance(ref := f.get("reference"), str)
            and ref.split("/")[-2:-1] == ["RelatedPerson"]}
    return tuple(sorted(refs))


def referral(resource: dict) -> Referral | None:
    """A Task that is a referral's (``fulfill`` of a ServiceRequest)."""
    code = {c.get("code") for c in (resource.get("code") or {}).get("coding") or []}
    focus = (resource.get("focus") or {}).get("reference") or ""
    if "fulfill" not in code or not focus.startswith("ServiceRequest/"):
        return None
    due = instant(((resource.get("restriction") or {}).get("period") or {}).get("end"))
    business = next((c.get("code") for c in (resource.get("businessStatus") or {}).get("coding")
                     or [] if c.get("system") == REFERRAL_STATES), None)
    return Referral(f"Task/{resource['id']}", resource.get("status", ""), due, focus, business,
                    instant(resource.get("authoredOn")))


def instant(text: object) -> datetime | None:
    """A FHIR date or dateTime as an aware instant (a date: its first moment, UTC)."""
    if not isinstance(text, str):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- the rules -----------------------------------------------------------------------------

def findings(rules: Rules, assessments: list[Assessment],
             incidents: list[Incident]) -> list[Finding]:
    """Every rule's finding for her, those that hold."""
    ordered = sorted(assessments, key=lambda a: (a.at, a.ref))
    found = (high_risk(rules, ordered), escalation(rules, ordered),
             recurrence(rules, incidents))
    return [f for f in found if f is not None]


def high_risk(rules: Rules, assessments: list[Assessment]) -> Finding | None:
    """Rule 1, on her latest assessment (``assessments`` oldest first)."""
    if not assessments:
        return None
    latest = assessments[-1]
    threshold = rules.score_thresholds.get(latest.instrument or "")
    by_level = latest.level in rules.high_levels
    by_score = threshold is not None and latest.score is not None and latest.score >= threshold
    if not (by_level or by_score):
        return None
    why = f"nivel {latest.level}" if by_level else \
        f"puntaje {latest.score:g} (umbral {threshold:g} de {latest.instrument})"
    return Finding("riesgo-alto", (latest.ref,),
                   f"La evaluación de riesgo más reciente ({day(latest.at)}) dio {why}.")


def escalation(rules: Rules, assessments: list[Assessment]) -> Finding | None:
    """Rule 2: her latest ranked assessment ranks higher than the lowest ranked one of
    ``escalation_window`` before it (the evidence: that one, then the latest)."""
    ranked = [a for a in assessments if a.level in rules.ranks]
    if len(ranked) < 2:
        return None
    latest = ranked[-1]
    earlier = [a for a in ranked[:-1] if latest.at - a.at <= rules.escalation_window]
    before = min(reversed(earlier), key=lambda a: rules.ranks[a.level], default=None)
    if before is None or rules.ranks[latest.level] <= rules.ranks[before.level]:
        return None
    return Finding("escalamiento", (before.ref, latest.ref),
                   f"El riesgo subió de {before.level} ({day(before.at)}) a {latest.level} "
                   f"({day(latest.at)}).")


def recurrence(rules: Rules, incidents: list[Incident]) -> Finding | None:
    """Rule 3: the latest window of ``recurrence_window`` holding ``recurrence_count``
    episodes (incidents closer than ``same_event`` to the one before are one episode)."""
    episodes: list[list[Incident]] = []
    for item in sorted(incidents, key=lambda i: (i.at, i.ref)):
        if episodes and item.at - episodes[-1][-1].at < rules.same_event:
            episodes[-1].append(item)
        else:
            episodes.append([item])
    n = rules.recurrence_count
    for last in range(len(episodes) - 1, n - 2, -1):
        first = last - n + 1
        if episodes[last][0].at - episodes[first][0].at <= rules.recurrence_window:
            while first > 0 and \
                    episodes[last][0].at - episodes[first - 1][0].at <= rules.recurrence_window:
                first -= 1
            chosen = episodes[first:last + 1]
            days = (chosen[-1][0].at.date() - chosen[0][0].at.date()).days  # as written
            dates = ", ".join(day(e[0].at) for e in chosen)
            return Finding("reincidencia", tuple(i.ref for e in chosen for i in e),
                           f"{len(chosen)} hechos de violencia en {days} días ({dates}).")
    return None


#: a referral's task waiting to be accepted, and accepted but not yet done
AWAITING, UNDERWAY = ("requested", "received"), ("accepted", "in-progress", "on-hold")


def overdue(referrals: list[Referral], now: datetime) -> list[Finding]:
    """Rule 6: each referral past its due date, not accepted or not completed."""
    out = []
    for item in referrals:
        if item.due is None or item.due > now or item.status not in AWAITING + UNDERWAY:
            continue
        what = "aceptada" if item.status in AWAITING else "completada"
        out.append(Finding("derivacion-vencida", tuple(r for r in (item.request, item.ref) if r),
                           f"La derivación no fue {what} antes de su plazo ({day(item.due)}).",
                           about=item.ref))
    return out


def reassessment_due(rules: Rules, assessments: list[Assessment], now: datetime
                     ) -> Finding | None:
    """Rule 8, on her latest assessment (``assessments`` oldest first)."""
    due = _reassess_at(rules, assessments)
    if due is None or due > now:
        return None
    latest = assessments[-1]
    return Finding("reevaluacion-pendiente", (latest.ref,),
                   f"La evaluación de riesgo más reciente ({day(latest.at)}, nivel "
                   f"{latest.level}) tiene más de {rules.reassess_after[latest.level].days} "
                   "días: corresponde reevaluar.")


def _reassess_at(rules: Rules, assessments: list[Assessment]) -> datetime | None:
    if not assessments or assessments[-1].level not in rules.reassess_after:
        return None
    return assessments[-1].at + rules.reassess_after[assessments[-1].level]


def next_due(rules: Rules, assessments: list[Assessment], referrals: list[Referral],
             now: datetime) -> datetime | None:
    """The next instant a time-based rule may change its mind about her (for her
    timer): a referral of hers falls due, or her latest assessment needs redoing."""
    instants = [r.due for r in referrals if r.due is not None and r.due > now
                and r.status in AWAITING + UNDERWAY]
    reassess = _reassess_at(rules, assessments)
    if reassess is not None and reassess > now:
        instants.append(reassess)
    return min(instants, default=None)


def day(at: datetime) -> str:
    return at.date().isoformat()
