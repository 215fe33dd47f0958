"""A survivor's record as the early-warning rules read it: the searches ``engine.py``
makes, as the platform (unrestricted), in the unit of work of the event or timer.

``read`` makes, for one survivor, the searches every reconciliation needs (her risk
assessments, incidents, referral tasks, CarePlans) and the others only when a rule
can use them: her ServiceRequests when she has incidents (protection measures, rule 5)
or a referral or plan service that ended unserved (the services of her referrals, rule
7); her
Encounters when she is high risk (lost contact, rule 7); and the aggressor group of
her incidents when they name an aggressor (rule 4: ``group``). Records are read by id
where an id is known (the aggressors her incidents name, the incidents her measures
are grounded on).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import orjson

from server.access import survivor_of
from server.repository import Write
from server.search.parse import parse_criteria
from server.search.syntax import escape
from server.warnings.aggressors import (
    RUN_SYSTEM,
    Aggressor,
    Measure,
    aggressor,
    measure,
    same,
)
from server.warnings.config import Rules
from server.warnings.engagement import (
    LEFT,
    Activity,
    Contact,
    activities,
    contact,
    service_code,
)
from server.warnings.rules import (
    INCIDENT,
    OBSERVATIONS,
    Assessment,
    Incident,
    Referral,
    assessment,
    high_risk,
    incident,
    named_aggressors,
    referral,
)

MAX = 1000  # records of one kind read per search
_CHUNK = 50  # OR-ed values per search (the parser allows 100, and 4 KiB)
_INCIDENTS = ("code", f"{OBSERVATIONS}|{INCIDENT}")


@dataclass
class Facts:
    """What the rules read of her record (and of the records it shares an aggressor with)."""

    assessments: list[Assessment] = field(default_factory=list)  # oldest first
    #: her incidents, those of other women naming the same men, and those her measures
    #: are grounded on; none void
    incidents: list[Incident] = field(default_factory=list)
    aggressors: dict[str, Aggressor] = field(default_factory=dict)
    referrals: list[Referral] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)  # ServiceRequest ref -> service
    measures: list[Measure] = field(default_factory=list)
    plans: list[Activity] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    #: the other women whose incidents (void ones too) name the same men as hers
    peers: frozenset[str] = frozenset()


def read(w: Write, patient: str, rules: Rules) -> Facts:
    """Her facts (``patient`` is ``Patient/<id>``)."""
    facts = Facts()
    facts.assessments = sorted((a for a in map(assessment, records(
        w, "RiskAssessment", [("subject", patient)])) if a), key=lambda a: (a.at, a.ref))
    raw = records(w, "Observation", [("subject", patient), _INCIDENTS])
    hers = [i for i in map(incident, raw) if i]
    named = {a for r in raw for a in named_aggressors(r)}
    found: dict[str, Incident] = {i.ref: i for i in hers}
    if named:
        facts.aggressors, involved = group(w, named)
        facts.peers = frozenset(s for r in involved if (s := survivor_of(r)) != patient and s)
        found.update((i.ref, i) for i in map(incident, involved) if i)
    facts.referrals = [r for r in map(referral, records(w, "Task", [("patient", patient)])) if r]
    facts.plans = [a for plan in records(w, "CarePlan", [("subject", patient)])
                   for a in activities(plan)]
    if hers or any(r.status in LEFT for r in facts.referrals) \
            or any(a.status in rules.dropped_activity for a in facts.plans):
        for request in records(w, "ServiceRequest", [("subject", patient)]):
            ref = f"ServiceRequest/{request['id']}"
            if (m := measure(request)) is not None:
                facts.measures.append(m)
            elif (code := service_code(request.get("code"))) is not None:
                facts.services[ref] = code
    for ref in sorted({g for m in facts.measures for g in m.grounds} - found.keys()):
        ground = _read(w, ref)
        if ground is not None and (i := incident(ground)) is not None:
            found[i.ref] = i
    missing = {a for i in found.values() for a in i.aggressors} - facts.aggressors.keys()
    facts.aggressors.update(_aggressors(w, missing))
    facts.incidents = sorted(found.values(), key=lambda i: (i.at, i.ref))
    if high_risk(rules, facts.assessments) is not None:
        facts.contacts = [c for c in map(contact, records(w, "Encounter",
                                                         [("subject", patient)])) if c]
    return facts


def group(w: Write, refs: Iterable[str], extra: Iterable[tuple[str, str]] = ()
          ) -> tuple[dict[str, Aggressor], list[dict]]:
    """The aggressor records that are the same men as ``refs`` (``RelatedPerson/<id>``)
    or carry one of the identifiers ``extra`` (one hop: the same record, or sharing an
    identifier, or his name and birth date: ``same``), and every incident, void ones too,
    that names one of them. Searches: by identifier, by name and birth date, then
    incidents by ``focus``."""
    known = _aggressors(w, set(refs))
    wanted = sorted({(s, form) for s, v in {*extra, *(i for a in known.values()
                                                       for i in a.identifiers)}
                     for form in (run_forms(v) if s == RUN_SYSTEM else (v,))})
    for chunk in _chunks([f"{escape(s)}|{escape(v)}" for s, v in wanted]):
        for person in records(w, "RelatedPerson", [("identifier", ",".join(chunk))]):
            found = aggressor(person)
            known.setdefault(found.ref, found)
    for man in [a for a in known.values() if a.described is not None]:
        _, surname, born = man.described
        for person in records(w, "RelatedPerson", [("name", escape(surname)),
                                                   ("birthdate", born)]):
            if same(found := aggressor(person), man):
                known.setdefault(found.ref, found)
    incidents = [r for chunk in _chunks(sorted(known))
                 for r in records(w, "Observation", [("focus", ",".join(chunk)), _INCIDENTS])]
    return known, incidents


def run_forms(run: str) -> list[str]:
    """The ways institutions write a RUN (normal form ``9876543-3``): identifier search
    matches exact strings, so a RUN is looked for as ``9876543-3``, ``9.876.543-3`` and
    ``98765433`` (and with a lower-case ``k``). The Aggressor profile asks for the normal
    form; these find the records of systems that did not use it."""
    body, _, digit = run.partition("-")
    dotted = f"{int(body):,}".replace(",", ".")
    forms = [f"{body}-{digit}", f"{dotted}-{digit}", f"{body}{digit}"]
    return forms + [f.replace("K", "k") for f in forms if digit == "K"]


def records(w: Write, type: str, criteria: list[tuple[str, str]]) -> list[dict]:
    """The current resources of ``type`` matching ``criteria`` (at most ``MAX``)."""
    query = replace(parse_criteria(type, criteria), count=MAX, total=False)
    return [orjson.loads(v.body) for v in w.uow.search(query).matches]


def _aggressors(w: Write, refs: set[str]) -> dict[str, Aggressor]:
    """Aggressor records by reference (one that cannot be read matches by reference only)."""
    out = {}
    for ref in sorted(refs):
        person = _read(w, ref)
        out[ref] = aggressor(person) if person is not None else Aggressor(ref)
    return out


def _read(w: Write, ref: str) -> dict | None:
    type, _, id = ref.partition("/")
    found = w.uow.read(type, id)
    return orjson.loads(found.body) if found is not None and not found.deleted else None


def _chunks(values: list[str]) -> list[list[str]]:
    values = [v for v in values if len(v) <= 200]  # no identifier is longer
    return [values[i:i + _CHUNK] for i in range(0, len(values), _CHUNK)]
