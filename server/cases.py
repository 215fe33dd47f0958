"""One case per survivor, found or opened at her first contact with any institution.

A contact is an Encounter about her written by an institution (the guide's
InstitutionalContact). In the unit of work of that write, this rule finds her open case
(an EpisodeOfCare of hers in status planned, waitlist, active or on hold; the oldest when
there are several) or opens one (the guide's VAWCase) led by the institution that met
her, with a care team (CareTeam) of the institutions that take part. The institution of
each contact joins that team, and the contact is linked to the case
(``Encounter.episodeOfCare``, unless it names one), when it has a reason to take part
(``_takes_part``: it created her, may read her record, is on her case, or has an open
referral of hers); anyone else's contact is recorded and nothing more, so that knowing
her id is no way into her case. The other records an institution on her case writes
about her are linked to it as the guide's ``caso`` search parameter reads them:
incidents, referrals, plans and answers by the ``workflow-episodeOfCare`` extension, a
statement (DocumentReference) by ``context.encounter``. An update that leaves the link
out keeps it (the server keeps it, as it keeps the author tag).

The case and its team are written by the platform (author ``plataforma``) rather than by
the institution that happened to come first: every institution of the team sees them
through the legal mandate (``consent/policies/case-coordination.json``, for case
coordination), and no institution's authorship stands in the way of the next one
joining. Because they are her context (``server/access.py``), writing them recomputes
the access keys of her whole record in the same unit, so an institution that joins the
team is given, on the same request, what the mandate gives a team member.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import orjson

from server import clock, errors
from server.access import ANONYMOUS, survivor_of
from server.search.parse import parse_criteria
from server.validation import validate

if TYPE_CHECKING:
    from server.repository import Repository, Write
    from server.store import Reader, StoredVersion

CASE_PROFILE = "https://fhir.amparo.cl/StructureDefinition/VAWCase"
OPEN = ("planned", "waitlist", "active", "onhold")
#: A referral's task still awaiting its receiving institution (``server/referrals/``).
_AWAITED = ("requested", "received", "accepted", "in-progress", "on-hold")
WORKFLOW_EPISODE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
#: The records that link to her case besides contacts (the guide's ``caso`` search
#: parameter): by the workflow-episodeOfCare extension, a statement by its context.
LINKED = ("Observation", "ServiceRequest", "CarePlan", "QuestionnaireResponse",
          "DocumentReference")


class CaseOpening:
    """The write rule (``Repository`` runs it on every write of a type that links to the
    case)."""

    types = frozenset({"Encounter", *LINKED})

    def before_write(self, repo: Repository, w: Write, resource: dict,
                     previous: dict | None) -> None:
        if previous is not None:  # the link is kept unless the update names another case
            if not _cases_named(resource) and (named := _cases_named(previous)):
                _link(resource, named[0])
            return
        institution = w.principal.institution
        patient = survivor_of(resource)
        if institution is None or patient is None:
            return  # only what an institution records about a survivor
        platform = replace(w, principal=ANONYMOUS)
        memo = w.memo.setdefault("open-case", {})  # her case, once found, per unit of work
        case = memo.get(patient) or open_case(repo, platform, patient)
        memo[patient] = case
        if resource["resourceType"] == "Encounter":
            if not _takes_part(repo, w, patient, institution, case):
                return  # a contact with a woman it has no reason to know: no case, no team
            case = case or _open(repo, platform, patient, institution, _met(resource, w))
            memo[patient] = case = _join(repo, platform, case, patient, institution)
        else:
            if case is not None and not _on_case(w, case, institution):
                return  # not on her case: its id is not the institution's to learn
        if case is not None and not _cases_named(resource):
            _link(resource, f"EpisodeOfCare/{case['id']}")

    def after_write(self, repo: Repository, w: Write, written: dict,
                    previous: dict | None) -> None:
        """Nothing follows once the record is written."""

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        """A deleted record leaves her case as it is."""


def _takes_part(repo: Repository, w: Write, patient: str, institution: str,
                case: dict | None) -> bool:
    """Whether a contact by ``institution`` makes it one of her case's institutions: it
    created her in this unit, it may already read her record, it is on her case, or an
    open referral of hers is addressed to it (``case``: her open case, if any). Otherwise
    a contact naming her id would be a way into her record for anyone who learnt the id.
    A platform-linked ingestion's contact takes part: the platform itself found her the
    woman the institution met (``Principal.platform_links``)."""
    if patient in w.fresh or w.principal.platform_links:
        return True
    filter = repo.gate.query_filter(w.principal, "Patient")
    if w.uow.readable("Patient", patient.split("/", 1)[1], filter):
        return True
    if case is not None and _on_case(w, case, institution):
        return True
    query = replace(parse_criteria("Task", [("patient", patient), ("owner", institution),
                                            ("status", ",".join(_AWAITED))]),
                    count=1, total=False)
    return bool(w.uow.search(query).matches)


def _on_case(w: Write, case: dict, institution: str) -> bool:
    """Whether ``institution`` leads ``case`` or is on one of its care teams (the lead
    is asked first: most records are written by it, with no team to read)."""
    if (case.get("managingOrganization") or {}).get("reference") == institution:
        return True
    return institution in institutions_of(case, w.uow)


def open_case(repo: Repository, w: Write, patient: str) -> dict | None:
    """Her open case (the oldest, if there are several), read in ``w``'s unit."""
    return min(_open_cases(repo, w, patient), key=_age, default=None)


def _open_cases(repo: Repository, w: Write, patient: str) -> list[dict]:
    query = replace(parse_criteria("EpisodeOfCare", [("patient", patient),
                                                     ("status", ",".join(OPEN))]),
                    count=50, total=False)
    return [orjson.loads(v.body) for v in repo.search(w.principal, query, w.uow).matches]


def _age(case: dict) -> tuple[int, str]:
    """Cases in the order they were opened (an unreadable start last)."""
    start = (case.get("period") or {}).get("start")
    return (clock.parse_instant(start) if isinstance(start, str) else None) or 2**62, case["id"]


def _met(contact: dict, w: Write) -> str:
    """When the case a contact opens starts: when she was met (``period.start``; a
    record loaded from an institution's file tells of an earlier day), else now."""
    start = (contact.get("period") or {}).get("start")
    at = clock.parse_instant(start) if isinstance(start, str) else None
    return start if at is not None and at <= w.at[1] else w.at[0]


def to_fold(repo: Repository, w: Write, *patients: str) -> tuple[dict | None, list[dict]]:
    """Her open cases across ``patients`` (her records about to become one, in a merge),
    read as the platform: the oldest, which stays her case, and the others, to fold into
    it, since she has one case (``server/linkage/merge.py`` does the folding)."""
    platform = replace(w, principal=ANONYMOUS)
    cases = [case for patient in patients
             for case in _open_cases(repo, platform, patient)]
    cases.sort(key=_age)
    return (cases[0], cases[1:]) if cases else (None, [])


def folded(case: dict, at: str) -> dict:
    """``case`` folded into another of hers: ``cancelled`` from ``at`` (its records and
    its institutions are the other's now), the status it leaves kept in its history."""
    changed = _moved(case, "cancelled", at)
    changed["period"] = {**(case.get("period") or {}), "end": at}
    return changed


def institutions_of(case: dict, reader: Reader) -> list[str]:
    """The institutions taking part in ``case``: its lead, then its care teams' members."""
    found = [(case.get("managingOrganization") or {}).get("reference")]
    for ref in case.get("team") or []:
        team_id = str(ref.get("reference", "")).partition("CareTeam/")[2]
        team = reader.read("CareTeam", team_id) if team_id else None
        if team is not None and not team.deleted:
            found += [(p.get("member") or {}).get("reference")
                      for p in orjson.loads(team.body).get("participant") or []]
    return [i for i in dict.fromkeys(found) if isinstance(i, str)]


def _open(repo: Repository, w: Write, patient: str, institution: str, since: str) -> dict:
    team = _new_team(repo, w, patient, institution)
    return _create(repo, w, {
        "resourceType": "EpisodeOfCare", "meta": {"profile": [CASE_PROFILE]},
        "status": "active", "patient": {"reference": patient},
        "managingOrganization": {"reference": institution},
        "period": {"start": since},
        "team": [{"reference": f"CareTeam/{team['id']}"}]})


def _join(repo: Repository, w: Write, case: dict, patient: str, institution: str) -> dict:
    """Put ``institution`` on the case's care team (the first the case names; one is
    made for a case that has none when another institution than its lead joins); returns
    the case as it is now."""
    found = _team(case, w.uow)
    lead = (case.get("managingOrganization") or {}).get("reference")
    if found is None and institution == lead:
        return case  # a case without a team, met again by its lead: nobody new takes part
    if found is None:
        team = _new_team(repo, w, patient, lead, institution)
        case = {**case, "team": [*(case.get("team") or []),
                                 {"reference": f"CareTeam/{team['id']}"}]}
        _update(repo, w, case)
        return case
    team = orjson.loads(found.body)
    members = {(p.get("member") or {}).get("reference") for p in team.get("participant") or []}
    if institution not in members:
        team["participant"] = [*(team.get("participant") or []),
                               {"member": {"reference": institution}}]
        _update(repo, w, team)
    return case


def _team(case: dict, reader: Reader) -> StoredVersion | None:
    """The care team the case names first, if it exists."""
    team_ref = next((t["reference"] for t in case.get("team") or []
                     if str(t.get("reference", "")).startswith("CareTeam/")), None)
    found = reader.read("CareTeam", team_ref.split("/", 1)[1]) if team_ref else None
    return found if found is not None and not found.deleted else None


def team_joined(repo: Repository, w: Write, case: dict, institutions: list[str]
                ) -> tuple[dict, dict] | None:
    """(her case's care team, the team with ``institutions`` on it) for the caller to
    write, or None when they all are already on the case (one without a team gets one,
    written here)."""
    joining = [i for i in dict.fromkeys(institutions) if i not in institutions_of(case, w.uow)]
    if not joining:
        return None
    found = _team(case, w.uow)
    if found is None:
        patient = (case.get("patient") or {}).get("reference", "")
        for institution in joining:
            case = _join(repo, w, case, patient, institution)
        return None
    team = orjson.loads(found.body)
    return team, {**team, "participant": [*(team.get("participant") or []),
                                          *({"member": {"reference": i}} for i in joining)]}


def _new_team(repo: Repository, w: Write, patient: str, *institutions: str | None) -> dict:
    return _create(repo, w, {
        "resourceType": "CareTeam", "status": "active", "name": "Equipo del caso",
        "subject": {"reference": patient},
        "participant": [{"member": {"reference": i}} for i in dict.fromkeys(institutions) if i]})


def _create(repo: Repository, w: Write, resource: dict) -> dict:
    outcome = repo.create(w, validate(resource, resource["resourceType"],
                                      profiles=repo.profiles))
    return orjson.loads(outcome.version.body)


def _update(repo: Repository, w: Write, resource: dict) -> None:
    repo.update(w, resource["resourceType"], resource["id"],
                validate(resource, resource["resourceType"], profiles=repo.profiles))


def _cases_named(resource: dict) -> list[str]:
    """The cases (``EpisodeOfCare/<id>``) ``resource`` links to."""
    type = resource.get("resourceType")
    if type == "Encounter":
        refs = resource.get("episodeOfCare") or []
    elif type == "DocumentReference":
        refs = (resource.get("context") or {}).get("encounter") or []
    else:
        refs = [e.get("valueReference") or {} for e in resource.get("extension") or []
                if isinstance(e, dict) and e.get("url") == WORKFLOW_EPISODE]
    return [r["reference"] for r in refs if isinstance(r, dict)
            and str(r.get("reference", "")).startswith("EpisodeOfCare/")]


def _link(resource: dict, case: str) -> None:
    """Make ``resource`` name ``case`` where its type names one."""
    type = resource.get("resourceType")
    if type == "Encounter":
        resource["episodeOfCare"] = [*(resource.get("episodeOfCare") or []),
                                     {"reference": case}]
    elif type == "DocumentReference":
        context = resource.setdefault("context", {})
        context["encounter"] = [*(context.get("encounter") or []), {"reference": case}]
    else:
        resource["extension"] = [*(resource.get("extension") or []),
                                 {"url": WORKFLOW_EPISODE, "valueReference": {"reference": case}}]


# -- the case's life: closed, reopened, led by another institution ---------------------

def close(repo: Repository, w: Write, case: dict) -> dict:
    """Close ``case`` (its lead's decision, checked by the caller): ``finished`` from now,
    the status it leaves kept in ``statusHistory``."""
    if case.get("status") not in OPEN:
        raise errors.unprocessable(f"el caso está '{case.get('status')}': no está abierto")
    changed = _moved(case, "finished", w.at[0])
    changed["period"] = {**(case.get("period") or {}), "end": w.at[0]}
    return _save(repo, w, changed)


def reopen(repo: Repository, w: Write, case: dict) -> dict:
    """Reopen a finished ``case``, unless she already has another open one (one case
    per survivor): ``active`` again, its period open."""
    if case.get("status") != "finished":
        raise errors.unprocessable(f"el caso está '{case.get('status')}': solo se reabre "
                                   "un caso cerrado (finished)")
    patient = (case.get("patient") or {}).get("reference", "")
    other = open_case(repo, w, patient)
    if other is not None:
        raise errors.unprocessable(f"ella ya tiene un caso abierto: EpisodeOfCare/{other['id']}")
    changed = _moved(case, "active", w.at[0])
    changed["period"] = {k: v for k, v in (case.get("period") or {}).items() if k != "end"}
    return _save(repo, w, changed)


def transfer(repo: Repository, w: Write, case: dict, to: str) -> dict:
    """Make ``to`` (``Organization/<id>``) the lead of ``case``; it joins the care team if
    it is not on it yet, and the former lead stays on it."""
    if not to.startswith("Organization/") or w.uow.read("Organization", to[13:]) is None:
        raise errors.unprocessable(f"{to[:80]} no es una institución conocida")
    lead = (case.get("managingOrganization") or {}).get("reference")
    if to == lead:
        raise errors.unprocessable("esa institución ya lidera el caso")
    patient = (case.get("patient") or {}).get("reference", "")
    case = _join(repo, w, case, patient, lead) if lead else case  # the former lead stays
    case = _join(repo, w, case, patient, to)
    return _save(repo, w, {**case, "managingOrganization": {"reference": to}})


def _moved(case: dict, status: str, at: str) -> dict:
    history = [*(case.get("statusHistory") or []),
               {"status": case["status"], "period": {
                   "start": _since(case), "end": at}}]
    return {**case, "status": status, "statusHistory": history}


def _since(case: dict) -> str:
    """When ``case`` entered its current status: the end of its last recorded one, else
    the start of its period."""
    history = case.get("statusHistory") or []
    if history:
        return (history[-1].get("period") or {}).get("end") or ""
    return (case.get("period") or {}).get("start") or ""


def _save(repo: Repository, w: Write, case: dict) -> dict:
    _update(repo, w, case)
    found = w.uow.read("EpisodeOfCare", case["id"])
    return orjson.loads(found.body)
