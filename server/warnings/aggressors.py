"""The rules about the aggressor (4 and 5): pure functions over the facts ``engine.py``
reads, like ``rules.py``.

An incident (the guide's ViolenceIncident) names its aggressor in ``focus``: an Aggressor
(RelatedPerson), one record per woman he hurt (``RelatedPerson.patient`` is 1..1). Two
aggressor records are **the same man** (rule 5.3 of the institutions' fixtures) when:

- they are the same record;
- they share a certain identifier: a valid RUN (in normal form, ``mappings/run.py``) or
  any other identifier (system and value as written), never an unverified RUN
  (``run-no-verificado``);
- or one of them has no valid RUN and both have the same first given name, first
  surname (normalised: case, accents, spaces) and birth date. Names alone, without a
  birth date, identify nobody (the hotline's, the women's centres').

The test is one hop: two records that only share a third record's identifiers are not
matched.

4. **agresor-serial**: the same man is named by incidents (not void) against
   ``rules.serial_women`` or more women (two). One alert per man on each of them
   (``Finding.about``: the first of her records of him). Its evidence is her records of
   him, the other women's records of him, then every one of those incidents, oldest
   first; its words count the women and say what matched, and never name or date
   the other women's incidents. It clears when the incidents no longer reach the count
   (entered in error, an identifier corrected).
5. **incumplimiento-medida-proteccion**: one of her incidents (not void) dated from the
   start and before the end of one of her protection measures (a ServiceRequest of
   category ``medida-proteccion``) that is ``active``, whose aggressor is the same man
   as the aggressor of an incident the measure is grounded on (``reasonReference``; a
   measure grounded only on her Statement names no aggressor and is never breached).
   One alert per measure (``about``: the measure), its evidence the measure and the
   incidents that breach it. It stays while the measure is in force and clears when the
   measure ends (its period: her timer fires then, ``breach_ends``), is revoked or
   completed, or the incidents are entered in error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from mappings.run import is_valid
from mappings.run import normalize as normal_run
from server.search.values import normalize
from server.warnings.config import Rules
from server.warnings.rules import Finding, Incident, day, instant

RUN_SYSTEM = "http://regcivil.cl/Validacion/RUN"
UNVERIFIED_RUN = "https://fhir.amparo.cl/sid/run-no-verificado"
REQUEST_KINDS = "https://fhir.amparo.cl/CodeSystem/tipo-solicitud"
MEASURE = "medida-proteccion"


@dataclass(frozen=True)
class Aggressor:
    ref: str  # RelatedPerson/<id>
    identifiers: frozenset[tuple[str, str]] = frozenset()  # certain ones, RUNs normal
    #: (first given name, first surname, birth date), normalised; None without all three
    described: tuple[str, str, str] | None = None

    @property
    def has_run(self) -> bool:
        return any(system == RUN_SYSTEM for system, _ in self.identifiers)


@dataclass(frozen=True)
class Measure:
    ref: str  # ServiceRequest/<id>
    status: str
    start: datetime | None  # occurrencePeriod.start
    end: datetime | None  # occurrencePeriod.end, exclusive (a date: the day after)
    grounds: tuple[str, ...]  # Observation/<id> of its reasonReference


# -- facts from resources ------------------------------------------------------------------

def aggressor(resource: dict) -> Aggressor:
    """A RelatedPerson as the rules compare it."""
    return Aggressor(f"RelatedPerson/{resource['id']}", identifiers(resource),
                     described(resource))


def described(resource: dict) -> tuple[str, str, str] | None:
    """(first given name, first surname, birth date) of his official name (else the
    first), normalised; None unless all three are there."""
    names = [n for n in resource.get("name") or [] if isinstance(n, dict)]
    name = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = next((w for g in name.get("given") or [] if isinstance(g, str)
                  for w in normalize(g.replace("-", " ")).split()), None)
    family = name.get("family")
    surname = next(iter(normalize(family.replace("-", " ")).split()), None) \
        if isinstance(family, str) else None
    born = resource.get("birthDate")
    if not given or not surname or not isinstance(born, str) or len(born) != 10:
        return None
    return given, surname, born


def identifiers(resource: dict) -> frozenset[tuple[str, str]]:
    """(system, value) of the identifiers that make two aggressor records one man."""
    found = set()
    for item in resource.get("identifier") or []:
        system, value = item.get("system"), item.get("value")
        if not isinstance(system, str) or not isinstance(value, str) or not value.strip() \
                or system == UNVERIFIED_RUN:
            continue
        if system == RUN_SYSTEM:
            try:
                value = normal_run(value)
            except ValueError:
                continue
            if not is_valid(value):
                continue
        found.add((system, value.strip()))
    return frozenset(found)


def is_measure(resource: dict | None) -> bool:
    """True for a ServiceRequest that is a protection measure (the guide's category)."""
    return isinstance(resource, dict) and resource.get("resourceType") == "ServiceRequest" \
        and any(c.get("system") == REQUEST_KINDS and c.get("code") == MEASURE
                for concept in resource.get("category") or []
                for c in (concept or {}).get("coding") or [])


def measure(resource: dict) -> Measure | None:
    """A protection measure as the rules read it (None for any other ServiceRequest)."""
    if not is_measure(resource):
        return None
    period = resource.get("occurrencePeriod") or {}
    end = instant(period.get("end"))
    if end is not None and len(period["end"]) == 10:  # a date: in force all that day
        end += timedelta(days=1)
    grounds = tuple(sorted({"/".join(ref.split("/")[-2:])
                            for r in resource.get("reasonReference") or []
                            if isinstance(ref := (r or {}).get("reference"), str)
                            and ref.split("/")[-2:-1] == ["Observation"]}))
    return Measure(f"ServiceRequest/{resource['id']}", resource.get("status", ""),
                   instant(period.get("start")), end, grounds)


# -- the rules -----------------------------------------------------------------------------

def same(a: Aggressor, b: Aggressor) -> bool:
    """True when two aggressor records are the same man (see the module docstring)."""
    return a.ref == b.ref or bool(a.identifiers & b.identifiers) or (
        a.described is not None and a.described == b.described
        and not (a.has_run and b.has_run))


def serial_aggressor(rules: Rules, patient: str, incidents: list[Incident],
                     aggressors: dict[str, Aggressor]) -> list[Finding]:
    """Rule 4 for her (``Patient/<id>``): ``incidents`` are hers and every other woman's
    that names a record of her aggressors; ``aggressors`` the records read, by reference."""
    def known(ref: str) -> Aggressor:
        return aggressors.get(ref) or Aggressor(ref)

    men: list[list[str]] = []  # her records of each man
    for ref in sorted({a for i in incidents if i.survivor == patient for a in i.aggressors}):
        joined = [m for m in men if any(same(known(ref), known(o)) for o in m)]
        men = [m for m in men if m not in joined] + [sorted([ref, *(r for m in joined for r in m)])]
    named = {a for i in incidents for a in i.aggressors}
    out = []
    for records in sorted(men):
        his = {r for r in named if any(same(known(r), known(h)) for h in records)}
        involved = sorted((i for i in incidents if his & set(i.aggressors)),
                          key=lambda i: (i.at, i.ref))
        women = {i.survivor for i in involved if i.survivor}
        if len(women) < rules.serial_women or patient not in women:
            continue
        others = sorted(his - set(records))
        out.append(Finding(
            "agresor-serial", (*records, *others, *(i.ref for i in involved)),
            f"El mismo agresor figura en hechos de violencia contra {len(women)} mujeres "
            f"distintas, ella incluida (coincide "
            f"{_matched(patient, records, others, involved, known)}).",
            about=records[0]))
    return out


def _matched(patient: str, records: list[str], others: list[str],
             involved: list[Incident], known: Callable[[str], Aggressor]) -> str:
    """What made the other women's incidents his, in words."""
    systems = {s for o in others for h in records
               for s, _ in known(o).identifiers & known(h).identifiers}
    words = ["su RUN"] if RUN_SYSTEM in systems else []
    if systems - {RUN_SYSTEM}:
        words.append("otro identificador suyo")
    if any(same(known(o), known(h)) and not known(o).identifiers & known(h).identifiers
           and o != h for o in others for h in records):
        words.append("su nombre y fecha de nacimiento")
    if any(set(i.aggressors) & set(records) for i in involved if i.survivor != patient):
        words.append("el registro del agresor")
    return " y ".join(words)


def breaches(patient: str, measures: list[Measure], incidents: list[Incident],
             aggressors: dict[str, Aggressor], now: datetime) -> list[Finding]:
    """Rule 5 for her: ``incidents`` hold hers and the incidents her measures are grounded
    on (whoever they were against); ``aggressors`` the records they name."""
    def known(ref: str) -> Aggressor:
        return aggressors.get(ref) or Aggressor(ref)

    by_ref = {i.ref: i for i in incidents}
    out = []
    for m in sorted(measures, key=lambda m: m.ref):
        if m.status != "active" or m.start is None or m.end is None or now >= m.end:
            continue
        him = [known(a) for g in m.grounds if g in by_ref for a in by_ref[g].aggressors]
        broken = sorted((i for i in incidents if i.survivor == patient
                         and i.ref not in m.grounds and m.start <= i.at < m.end
                         and any(same(known(a), h) for a in i.aggressors for h in him)),
                        key=lambda i: (i.at, i.ref))
        if not broken:
            continue
        what = "un hecho de violencia ocurrido" if len(broken) == 1 else \
            f"{len(broken)} hechos de violencia ocurridos"
        dates = ", ".join(day(i.at) for i in broken)
        out.append(Finding(
            "incumplimiento-medida-proteccion", (m.ref, *(i.ref for i in broken)),
            f"El agresor contra quien rige la medida de protección (del {day(m.start)} al "
            f"{day(m.end - timedelta(microseconds=1))}) figura en {what} mientras "
            f"está vigente ({dates}).", about=m.ref))
    return out


def breach_ends(found: list[Finding], measures: list[Measure], now: datetime
                ) -> datetime | None:
    """The next end of a measure a breach alert of hers is about (for her timer: the
    alert clears when the measure ends)."""
    ends = {m.ref: m.end for m in measures}
    return min((end for f in found if f.code == "incumplimiento-medida-proteccion"
                if (end := ends.get(f.about)) is not None and end > now), default=None)
