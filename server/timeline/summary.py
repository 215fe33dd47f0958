"""What a caseworker needs of a case on one screen, from the part of it the caller sees.

``case_summary`` takes the case's part (``record.case_part``: only what the consent gate
let the caller see) and answers a ``Parameters`` resource. Nothing is counted or hinted
that is not among those records: a part with nothing visible is left out, never given
as empty with a reason. Its parameters (each absent when there is nothing to say):

- ``case`` (valueReference): the EpisodeOfCare.
- ``risk``: the current risk level, from the latest assessment (RiskAssessment, by the
  date it was made, ``occurrence[x]``) that gives a ``nivel-riesgo`` level; parts
  ``level`` (valueCoding), ``date`` (valueDateTime), ``instrument``
  (valueCodeableConcept, its ``method``), ``assessment`` (valueReference) and, when an
  earlier assessment gives a level too, ``trend`` (valueCode ``up``, ``down`` or
  ``same``: the levels' ``rango`` in nivel-riesgo, so alto, vital and vital-alto are the
  same rank) and ``previousLevel`` (valueCoding). Entered in error or cancelled
  assessments do not count.
- ``referral``, one per open referral (a ReferralTask whose status is not final in
  ``server/referrals/transitions.json``), the soonest due first: parts ``task`` and
  ``request`` (valueReference: the Task and its ``focus``), ``owner`` (valueReference,
  the receiving institution), ``status`` (valueCode), ``businessStatus``
  (valueCodeableConcept), ``due`` (valueDateTime, ``restriction.period.end``) and
  ``overdue`` (valueBoolean: the due date has passed).
- ``protectionMeasure``, one per active measure (a ServiceRequest claiming
  ProtectionMeasure or of category ``tipo-solicitud#medida-proteccion``, status
  ``active``, whose ``occurrencePeriod`` covers now), the latest start first: parts
  ``measure`` (valueReference), ``code`` and ``detail`` (valueCodeableConcept: ``code``,
  then each ``orderDetail``, the measures ordered) and ``period`` (valuePeriod).
- ``alert``, one per open alert (a Flag ``active`` whose period has not ended), the
  latest first: parts ``flag`` (valueReference), ``code`` (valueCodeableConcept) and
  ``date`` (valueDateTime, ``period.start``).
- ``institution``, one per institution involved: the lead (``managingOrganization``)
  then the members of the care teams the caller sees, each once: parts
  ``organization`` (valueReference, with the institution's name as ``display`` when the
  caller may read it) and ``role`` (valueCode ``lead`` or ``member``).
- ``lastContact``: the latest contact (Encounter, by ``period.start``; cancelled or
  entered in error ones aside): parts ``encounter`` (valueReference), ``date``
  (valueDateTime) and ``institution`` (valueReference, ``serviceProvider``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cache

from profiles import scoring
from server.referrals import is_referral_task, load_transitions
from server.timeline.dates import bounds, clinical_date
from server.timeline.record import Entry

__all__ = ["case_summary"]

PROTECTION_MEASURE = "https://fhir.amparo.cl/StructureDefinition/ProtectionMeasure"
REQUEST_KIND = ("https://fhir.amparo.cl/CodeSystem/tipo-solicitud", "medida-proteccion")
_VOID = frozenset({"entered-in-error", "cancelled"})
#: Looks up an institution's name (``Organization/<id>`` -> its name, None if unknown
#: or not for the caller to read).
NameOf = Callable[[str], str | None]


def case_summary(case: Entry, part: Iterable[Entry], name_of: NameOf, now: int) -> dict:
    """The ``Parameters`` of the module docstring, as of ``now`` (microseconds)."""
    records = [e for e in part if e.ref != case.ref]
    by_type: dict[str, list[Entry]] = {}
    for item in records:
        by_type.setdefault(item.version.type, []).append(item)
    parameters = [{"name": "case", "valueReference": {"reference": case.ref}}]
    risk = _risk(by_type.get("RiskAssessment", []))
    if risk:
        parameters.append({"name": "risk", "part": risk})
    parameters += [{"name": "referral", "part": p}
                   for p in _referrals(by_type.get("Task", []), name_of, now)]
    parameters += [{"name": "protectionMeasure", "part": p}
                   for p in _measures(by_type.get("ServiceRequest", []), now)]
    parameters += [{"name": "alert", "part": p} for p in _alerts(by_type.get("Flag", []), now)]
    parameters += [{"name": "institution", "part": p}
                   for p in _institutions(case, by_type.get("CareTeam", []), name_of)]
    contact = _last_contact(by_type.get("Encounter", []), name_of)
    if contact:
        parameters.append({"name": "lastContact", "part": contact})
    return {"resourceType": "Parameters", "parameter": parameters}


def _risk(assessments: list[Entry]) -> list[dict]:
    rated = sorted(((e, level) for e in assessments
                    if e.resource.get("status") not in _VOID
                    and (level := _level(e.resource)) is not None),
                   key=lambda pair: (pair[0].date, pair[0].version.last_updated))
    if not rated:
        return []
    (latest, level), previous = rated[-1], rated[-2] if len(rated) > 1 else None
    parts = [{"name": "level", "valueCoding": level}]
    parts += _date_part("date", clinical_date(latest.resource))
    if latest.resource.get("method"):
        parts.append({"name": "instrument", "valueCodeableConcept": latest.resource["method"]})
    parts.append({"name": "assessment", "valueReference": {"reference": latest.ref}})
    if previous is not None:
        now_rank, then_rank = _rank(level["code"]), _rank(previous[1]["code"])
        if now_rank is not None and then_rank is not None:
            trend = "up" if now_rank > then_rank else "down" if now_rank < then_rank else "same"
            parts.append({"name": "trend", "valueCode": trend})
        parts.append({"name": "previousLevel", "valueCoding": previous[1]})
    return parts


def _referrals(tasks: list[Entry], name_of: NameOf, now: int) -> list[list[dict]]:
    open_tasks = [e for e in tasks if is_referral_task(e.resource)
                  and e.resource.get("status") in _open_statuses()]
    found = []
    for item in sorted(open_tasks, key=lambda e: (_due(e.resource) is None,
                                                  _due(e.resource) or 0, e.date)):
        task, due = item.resource, _due(item.resource)
        parts = [{"name": "task", "valueReference": {"reference": item.ref}}]
        if isinstance(task.get("focus"), dict):
            parts.append({"name": "request", "valueReference": _plain(task["focus"])})
        if isinstance(task.get("owner"), dict):
            parts.append({"name": "owner", "valueReference": _named(task["owner"], name_of)})
        parts.append({"name": "status", "valueCode": task["status"]})
        if task.get("businessStatus"):
            parts.append({"name": "businessStatus",
                          "valueCodeableConcept": task["businessStatus"]})
        if due is not None:
            parts += [{"name": "due", "valueDateTime": task["restriction"]["period"]["end"]},
                      {"name": "overdue", "valueBoolean": due < now}]
        found.append(parts)
    return found


def _measures(requests: list[Entry], now: int) -> list[list[dict]]:
    active = [e for e in requests if _is_measure(e.resource)
              and e.resource.get("status") == "active" and _covers(
                  e.resource.get("occurrencePeriod"), now)]
    found = []
    for item in sorted(active, key=lambda e: -e.date):
        request = item.resource
        parts = [{"name": "measure", "valueReference": {"reference": item.ref}}]
        if request.get("code"):
            parts.append({"name": "code", "valueCodeableConcept": request["code"]})
        parts += [{"name": "detail", "valueCodeableConcept": d}
                  for d in request.get("orderDetail") or []]
        parts.append({"name": "period", "valuePeriod": request["occurrencePeriod"]})
        found.append(parts)
    return found


def _alerts(flags: list[Entry], now: int) -> list[list[dict]]:
    active = [e for e in flags if e.resource.get("status") == "active"
              and _covers(e.resource.get("period") or {}, now, need_start=False)]
    found = []
    for item in sorted(active, key=lambda e: -e.date):
        flag = item.resource
        parts = [{"name": "flag", "valueReference": {"reference": item.ref}}]
        if flag.get("code"):
            parts.append({"name": "code", "valueCodeableConcept": flag["code"]})
        parts += _date_part("date", (flag.get("period") or {}).get("start"))
        found.append(parts)
    return found


def _institutions(case: Entry, teams: list[Entry], name_of: NameOf) -> list[list[dict]]:
    named: dict[str, tuple[dict, str]] = {}
    lead = case.resource.get("managingOrganization")
    if isinstance(lead, dict) and str(lead.get("reference", "")).startswith("Organization/"):
        named[lead["reference"]] = (lead, "lead")
    order = [r.get("reference") for r in case.resource.get("team") or [] if isinstance(r, dict)]
    for team in sorted(teams, key=lambda t: order.index(t.ref) if t.ref in order else len(order)):
        for participant in team.resource.get("participant") or []:
            for element in ("member", "onBehalfOf"):
                ref = (participant or {}).get(element)
                if isinstance(ref, dict) and str(ref.get("reference", "")) \
                        .startswith("Organization/") and ref["reference"] not in named:
                    named[ref["reference"]] = (ref, "member")
    return [[{"name": "organization", "valueReference": _named(ref, name_of)},
             {"name": "role", "valueCode": role}] for ref, role in named.values()]


def _last_contact(encounters: list[Entry], name_of: NameOf) -> list[dict]:
    contacts = [e for e in encounters if e.resource.get("status") not in _VOID]
    if not contacts:
        return []
    latest = max(contacts, key=lambda e: (e.date, e.version.last_updated))
    parts = [{"name": "encounter", "valueReference": {"reference": latest.ref}}]
    parts += _date_part("date", clinical_date(latest.resource))
    provider = latest.resource.get("serviceProvider")
    if isinstance(provider, dict) and provider.get("reference"):
        parts.append({"name": "institution", "valueReference": _named(provider, name_of)})
    return parts


# -- helpers ---------------------------------------------------------------------------------

@cache
def _open_statuses() -> frozenset[str]:
    """The Task statuses of a referral still under way (the workflow's, not final)."""
    return frozenset(code for code, status in load_transitions().statuses.items()
                     if not status.final)


def _level(assessment: dict) -> dict | None:
    for prediction in assessment.get("prediction") or []:
        for coding in ((prediction or {}).get("qualitativeRisk") or {}).get("coding") or []:
            if coding.get("system") == scoring.LEVEL_SYSTEM and coding.get("code"):
                return coding
    return None


def _rank(code: str) -> int | None:
    try:
        return scoring.level_rank(code)
    except ValueError:
        return None


def _is_measure(request: dict) -> bool:
    profiles = (request.get("meta") or {}).get("profile") or []
    return PROTECTION_MEASURE in profiles or any(
        (coding.get("system"), coding.get("code")) == REQUEST_KIND
        for concept in request.get("category") or [] for coding in concept.get("coding") or [])


def _covers(period: object, now: int, need_start: bool = True) -> bool:
    """Whether ``period`` has started at ``now`` (without ``need_start``, a period with no
    start has) and has not ended (no end: it has not)."""
    if not isinstance(period, dict):
        return False
    if period.get("start") is not None:
        start = bounds(period["start"])
        if start is None or start[0] > now:
            return False
    elif need_start:
        return False
    if period.get("end") is None:
        return True
    end = bounds(period["end"])
    return end is not None and end[1] >= now


def _due(task: dict) -> int | None:
    """The last instant of the referral's due date (``restriction.period.end``)."""
    found = bounds(((task.get("restriction") or {}).get("period") or {}).get("end"))
    return found[1] if found is not None else None


def _date_part(name: str, value: str | None) -> list[dict]:
    return [{"name": name, "valueDateTime": value}] if bounds(value) is not None else []


def _plain(reference: dict) -> dict:
    return {k: reference[k] for k in ("reference", "display") if k in reference}


def _named(reference: dict, name_of: NameOf) -> dict:
    """``reference`` with the institution's name as ``display`` when the caller may read
    it (else the display the record carries, if any)."""
    out = _plain(reference)
    name = name_of(reference["reference"]) if reference.get("reference") else None
    if name:
        out["display"] = name
    return out
