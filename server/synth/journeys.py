"""Survivor journeys as transaction bundles: one bundle per contact, in load order.

Each contact is sent as the institution would send it: the survivor, her case and the
aggressor again (POST with ``ifNoneExist``, so the first contact creates them and later ones
find them), then what this contact adds. A later bundle points at a resource of an earlier
bundle only by a conditional reference (``ServiceRequest?identifier=...``) or, for
institutions, by ``Organization/<id>``. The one kind of update is a referral Task whose
receiving institution moves it one status on (conditional PUT): her contact's bundle when
she arrives, else a bundle with that one entry (an acceptance, a refusal, a no-show, a
closing), so that every change is a legal step of the referral workflow made by the
Task's owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from faker import Faker

from .ids import ident, post, put_conditional
from .institutions import catalogue, institutions_bundle
from .plan import Case, Change, Step
from .planner import plan_case
from .records import Records
from .terms import terms

__all__ = ["case_bundles", "journeys", "named_bundles"]


def _step_bundle(case: Case, b: Records, step: Step) -> list[dict[str, Any]]:
    """Return a contact's entries: who she is (again), the contact, then what it adds."""
    entries = [
        post(b.patient(), b.patient_id),
        post(b.episode(), b.episode_id),
        post(b.related_person(), b.aggressor_id),
    ]
    encounter_id = b.step_id("contacto", step)
    encounter = b.urn_of("Encounter", encounter_id)
    incident = risk = None
    extra: list[dict[str, Any]] = []
    if step.reports and step.event:
        incident_id = b.step_id("incidente", step)
        incident = b.urn_of("Observation", incident_id)
        extra.append(post(b.incident(step, encounter), incident_id))
    if step.instrument == "dash":  # the answers: the platform scores them
        answers_id = b.step_id("respuestas-riesgo", step)
        risk = b.urn_of("QuestionnaireResponse", answers_id)
        extra.append(post(b.dash_answers(step, encounter), answers_id))
    elif step.instrument:
        risk_id = b.step_id("evaluacion-riesgo", step)
        risk = b.urn_of("RiskAssessment", risk_id)
        extra.append(post(b.risk(step, encounter, [incident] if incident else []), risk_id))
    if step.document:
        extra.append(post(b.statement(step, encounter), b.step_id("documento", step)))
    for referral in step.referrals_out:
        extra.append(
            post(b.service_request(referral, encounter, incident, risk), b.referral_id(referral))
        )
        extra.append(
            post(b.task(referral, "enviada", step.end, True, b.patient_urn), b.task_id(referral))
        )
    for change in step.arrivals:  # one change of each Task: a transaction changes it once
        task = b.task_change(change, b.patient_urn)
        extra.append(put_conditional(task, b.task_id(change.referral)))
    if step.consent:
        police = next((s.org for s in case.steps if s.org.kind in ("carabineros", "pdi")), None)
        extra.append(post(b.consent(step, police), b.consent_id(step)))
    entries.append(post(b.encounter(step, incident), encounter_id))
    return entries + extra


def _response_bundle(b: Records, change: Change) -> list[dict[str, Any]]:
    """Return the one entry of a change without a contact: the referral Task's next status
    (its owner sends it alone, so the bundle's writer is plain)."""
    return [put_conditional(b.task_change(change), b.task_id(change.referral))]


def case_bundles(case: Case) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (number within the case, transaction Bundle) for each contact or response."""
    b = Records(case, terms())
    for item in case.emissions():
        if isinstance(item, Step):
            entries, at = _step_bundle(case, b, item), b.stamp(item.end, item.org)
        else:
            entries = _response_bundle(b, item)
            at = b.stamp(item.at, item.referral.target)
        number = f"{item.number:02d}"
        yield (
            number,
            {
                "resourceType": "Bundle",
                "identifier": ident("envio", f"{case.key}-{number}"),
                "type": "transaction",
                "timestamp": at,
                "entry": entries,
            },
        )


def cases(count: int, seed: int) -> Iterator[Case]:
    """Yield the planned cases 1..count for ``seed``."""
    if count < 0:
        raise ValueError(f"cases must be zero or more, not {count}")
    t, cat, fake = terms(), catalogue(), Faker("es_CL")
    for index in range(1, count + 1):
        yield plan_case(index, seed, fake, t, cat)


def named_bundles(count: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (file stem, Bundle): institutions first, then every journey, case by case.

    The stems are the file names ``write`` uses (``00-institutions``, ``01-0001``...):
    contact number first, then case, so that SORTED stems give every survivor's first
    contact, then every second contact, and so on. That load order keeps each contact
    after the ones it refers back to even when several clients replay the files
    concurrently (a case's contacts are never neighbours in it). This iteration order
    (case by case) is a valid load order too, for a single loader.
    """
    width = max(4, len(str(count)))
    yield "00-institutions", institutions_bundle()
    for case in cases(count, seed):
        for number, bundle in case_bundles(case):
            yield f"{number}-{case.index:0{width}d}", bundle


def journeys(cases: int, seed: int) -> Iterator[dict[str, Any]]:
    """Yield the transaction Bundles of ``cases`` survivor journeys, in load order.

    The institutions bundle is not included (see ``institutions_bundle``); load it first.
    The same (cases, seed) gives the same bundles; case *i* does not depend on ``cases``.
    """
    for name, bundle in named_bundles(cases, seed):
        if not name.endswith("-institutions"):
            yield bundle
