"""The facts the indicators count, read from the whole store as the platform.

``read_facts(reader, now)`` scans, a page at a time and without any access filter, the
records the indicators need and keeps of each only what they count (a dataclass per
kind, no resource contents): cases (EpisodeOfCare), survivors (Patient), incidents
(ViolenceIncident Observations), risk assessments, referral tasks with the times of
their history, protection measures, contacts (Encounter), alerts (Flag) and the kind of
each institution. Indicators are aggregates across institutions, so they are computed
over every record, never over what one caller may read; only suppressed aggregates
leave (``suppression.py``).

Every record of a survivor who declined the statistical use of her data
(``server.analytics.statistics_consent.decliners``) is dropped here, before anything is
counted: she is left out of every indicator, numerators and denominators alike.
Records entered in error (and cancelled incidents, assessments) are left out too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime

import orjson

from server.access import kind_in, survivor_of
from server.analytics.statistics_consent import decliners
from server.indicators.period import local_day
from server.indicators.records import (
    Action,
    Alert,
    Assessment,
    Case,
    Contact,
    Incident,
    ProtectionMeasure,
    Referral,
    Survivor,
)
from server.referrals import referral_times
from server.search.parse import parse_criteria
from server.search.query import HistoryQuery, SearchQuery
from server.store import UNRESTRICTED, Reader
from server.warnings import rules as warning_rules
from server.warnings.aggressors import measure

__all__ = ["Facts", "read_facts"]

_PAGE = 500
FORMS = "https://fhir.amparo.cl/CodeSystem/formas-violencia"
ALERT_KINDS = "https://fhir.amparo.cl/CodeSystem/tipo-alerta"
WORKFLOW_EPISODE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
STATED_AGE = "https://fhir.amparo.cl/StructureDefinition/ext-edad-declarada"
INSTRUMENT_LEVEL = "https://fhir.amparo.cl/StructureDefinition/ext-nivel-instrumento"
_VOID = ("entered-in-error",)


@dataclass
class Facts:
    survivors: dict[str, Survivor] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    measures: list[ProtectionMeasure] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    kinds: dict[str, str] = field(default_factory=dict)  # Organization/<id> -> kind
    excluded: int = 0  # survivors left out for declining statistical use


def read_facts(reader: Reader, now: datetime) -> Facts:
    """Every fact the indicators count, without the survivors who declined statistics
    at ``now``."""
    out = decliners(reader, now)
    facts = Facts(excluded=len(out))
    for org in _current(reader, "Organization"):
        if (kind := kind_in(org)) is not None:
            facts.kinds[f"Organization/{org['id']}"] = kind
    for patient in _current(reader, "Patient"):
        if (s := _survivor(patient)).ref not in out:
            facts.survivors[s.ref] = s
    for resource in _current(reader, "EpisodeOfCare"):
        if (case := _case(resource)) is not None and case.patient not in out:
            first = reader.vread("EpisodeOfCare", resource["id"], 1)
            body = orjson.loads(first.body) if first is not None and first.body else {}
            facts.cases.append(replace(case, entry=_ref(body.get("managingOrganization"))))
    incidents = [("code", f"{warning_rules.OBSERVATIONS}|{warning_rules.INCIDENT}")]
    for resource in _current(reader, "Observation", incidents):
        if (i := _incident(resource)) is not None and i.patient not in out:
            facts.incidents.append(i)
    for resource in _current(reader, "RiskAssessment"):
        if (a := _assessment(resource)) is not None and a.patient not in out:
            facts.assessments.append(a)
            facts.actions.append(Action(a.patient, a.at))
    for r in _referrals(reader):
        if r.patient is not None and r.patient not in out:
            facts.referrals.append(r)
            if r.times.sent is not None:
                facts.actions.append(Action(r.patient, r.times.sent))
    kind = [("category", "https://fhir.amparo.cl/CodeSystem/tipo-solicitud|medida-proteccion")]
    for resource in _current(reader, "ServiceRequest", kind):
        m, patient = measure(resource), survivor_of(resource)
        if m is not None and patient is not None and patient not in out \
                and m.status not in _VOID:
            facts.measures.append(ProtectionMeasure(patient, m.status, m.start, m.end))
            at, _ = local_day(resource.get("authoredOn"))
            if (at := at or m.start) is not None:
                facts.actions.append(Action(patient, at))
    for resource in _current(reader, "Encounter"):
        if (c := _contact(resource)) is not None and c.patient not in out:
            facts.contacts.append(c)
            facts.actions.append(Action(c.patient, c.at))
    for resource in _current(reader, "Flag"):
        if (alert := _alert(resource)) is not None and alert.patient not in out:
            facts.alerts.append(alert)
    return facts


# -- one record each -----------------------------------------------------------------------

def _survivor(patient: dict) -> Survivor:
    birth = local_day(patient.get("birthDate"))[1] if len(
        patient.get("birthDate") or "") == 10 else None
    stated = []
    for ext in patient.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == STATED_AGE:
            parts = {e.get("url"): e for e in ext.get("extension") or [] if isinstance(e, dict)}
            age = (parts.get("edad") or {}).get("valueAge", {}).get("value")
            day = local_day((parts.get("fecha") or {}).get("valueDate"))[1]
            if isinstance(age, int | float) and day is not None:
                stated.append((day, int(age)))
    return Survivor(f"Patient/{patient['id']}", birth, tuple(sorted(stated)), _comuna(patient))


def _comuna(patient: dict) -> str | None:
    """The CUT code of her home address (else of any address)."""
    addresses = sorted((a for a in patient.get("address") or [] if isinstance(a, dict)),
                       key=lambda a: a.get("use") != "home")
    for address in addresses:
        for ext in (address.get("_city") or {}).get("extension") or []:
            if isinstance(ext, dict) and ext.get("url") == COMUNA:
                for coding in (ext.get("valueCodeableConcept") or {}).get("coding") or []:
                    if isinstance(coding.get("code"), str):
                        return coding["code"]
    return None


def _case(resource: dict) -> Case | None:
    patient = _ref(resource.get("patient"))
    start, day = local_day((resource.get("period") or {}).get("start"))
    if patient is None or start is None or resource.get("status") in _VOID:
        return None
    end, _ = local_day((resource.get("period") or {}).get("end"))
    return Case(f"EpisodeOfCare/{resource['id']}", patient, start, day, end,
                resource.get("status", ""))


def _incident(resource: dict) -> Incident | None:
    parsed = warning_rules.incident(resource)
    if parsed is None or parsed.survivor is None:
        return None
    at, day = local_day(resource.get("effectiveDateTime")
                        or (resource.get("effectivePeriod") or {}).get("start")
                        or resource.get("issued"))
    forms = frozenset(c.get("code") for comp in resource.get("component") or []
                      for c in (comp.get("code") or {}).get("coding") or []
                      if c.get("system") == FORMS and comp.get("valueBoolean") is True)
    case = next((_ref(e.get("valueReference")) for e in resource.get("extension") or []
                 if isinstance(e, dict) and e.get("url") == WORKFLOW_EPISODE), None)
    return Incident(parsed.ref, parsed.survivor, at or parsed.at, day or parsed.at.date(),
                    forms, case)


def _assessment(resource: dict) -> Assessment | None:
    parsed = warning_rules.assessment(resource)
    patient = survivor_of(resource)
    if parsed is None or patient is None:
        return None
    at, day = local_day(resource.get("occurrenceDateTime")
                        or (resource.get("occurrencePeriod") or {}).get("start")
                        or (resource.get("meta") or {}).get("lastUpdated"))
    given = next((e.get("valueCoding", {}).get("code") for e in resource.get("extension") or []
                  if isinstance(e, dict) and e.get("url") == INSTRUMENT_LEVEL), None)
    return Assessment(parsed.ref, patient, at or parsed.at, day or parsed.at.date(),
                      parsed.instrument, parsed.level, given or parsed.level, parsed.score)


def _contact(resource: dict) -> Contact | None:
    patient = survivor_of(resource)
    at, _ = local_day((resource.get("period") or {}).get("start"))
    if patient is None or resource.get("status") in ("entered-in-error", "cancelled"):
        return None
    if at is None:
        at, _ = local_day((resource.get("meta") or {}).get("lastUpdated"))
    return Contact(patient, _ref(resource.get("serviceProvider")), at) if at else None


def _alert(resource: dict) -> Alert | None:
    kind = next((c.get("code") for c in (resource.get("code") or {}).get("coding") or []
                 if c.get("system") == ALERT_KINDS), None)
    patient = _ref(resource.get("subject"))
    at, day = local_day((resource.get("period") or {}).get("start"))
    if kind is None or at is None or resource.get("status") in _VOID \
            or patient is None or not patient.startswith("Patient/"):
        return None
    return Alert(f"Flag/{resource['id']}", patient, kind, at, day)


def _referrals(reader: Reader) -> Iterator[Referral]:
    """Each referral task (its current version, not deleted) with the times of its
    history, read from the Task type's history in one pass."""
    versions: dict[str, list[dict]] = {}
    deleted: set[str] = set()
    latest: dict[str, int] = {}
    cursor = None
    while True:
        page = reader.history(HistoryQuery("Task", count=_PAGE, cursor=cursor), UNRESTRICTED)
        for v in page.versions:
            if v.version > latest.get(v.id, 0):
                latest[v.id] = v.version
                if v.deleted:
                    deleted.add(v.id)
                else:
                    deleted.discard(v.id)
            if v.body is not None:
                versions.setdefault(v.id, []).append(orjson.loads(v.body))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    for id, found in versions.items():
        current = max(found, key=lambda r: int(r["meta"]["versionId"]))
        if id in deleted or int(current["meta"]["versionId"]) != latest[id] \
                or current.get("status") in _VOID:
            continue
        parsed = warning_rules.referral(current)
        if parsed is None:
            continue
        yield Referral(parsed.ref, survivor_of(current), parsed.business or parsed.status,
                       referral_times(found))


# -- reading -------------------------------------------------------------------------------

def _current(reader: Reader, type: str,
             criteria: list[tuple[str, str]] | None = None) -> Iterator[dict]:
    """Every current resource of ``type`` (matching ``criteria``), keyset-paged."""
    base = parse_criteria(type, criteria) if criteria else SearchQuery(type)
    for found in reader.scan(replace(base, count=_PAGE, total=False)):
        yield orjson.loads(found.body)


def _ref(element: object) -> str | None:
    """``Type/id`` of a Reference (its last two segments)."""
    ref = element.get("reference") if isinstance(element, dict) else None
    if not isinstance(ref, str) or ref.count("/") < 1:
        return None
    return "/".join(ref.split("/")[-2:])
