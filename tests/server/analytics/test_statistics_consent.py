"""The rule that leaves a survivor out of statistics (``server/analytics/
statistics_consent.py``): which of her Consents decline statistical use, and the store
scan that finds every such survivor."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from server.analytics.statistics_consent import decliners, declines_statistics
from server.search.extract import extract
from server.store import NewVersion

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
IN_FORCE = {"start": "2025-01-01", "end": "2027-12-31"}


def purpose(*codes: str) -> list[dict]:
    return [{"system": ACT_REASON, "code": code} for code in codes]


def consent(provision: dict, status: str = "active", patient: str = "Patient/p1") -> dict:
    return {"resourceType": "Consent", "status": status, "patient": {"reference": patient},
            "provision": provision}


POLICE = [{"reference": {"reference": "Organization/carabineros-13101"}}]
KIND = {"url": "https://fhir.amparo.cl/StructureDefinition/ext-tipo-institucion",
        "valueCodeableConcept": {"coding": [{"code": "carabineros"}]}}

DECLINED = {
    "a deny of PUBHLTH": {"type": "deny", "period": IN_FORCE, "purpose": purpose("PUBHLTH")},
    "PUBHLTH among other purposes": {"type": "deny", "period": IN_FORCE,
                                     "purpose": purpose("COC", "PUBHLTH")},
    "a deny of PUBHLTH naming an actor": {"type": "deny", "purpose": purpose("PUBHLTH"),
                                          "actor": POLICE},
    "a deny of PUBHLTH for one class": {"type": "deny", "purpose": purpose("PUBHLTH"),
                                        "class": [{"code": "Observation"}]},
    "a nested deny of PUBHLTH": {"type": "permit", "period": IN_FORCE, "purpose": purpose("COC"),
                                 "provision": [{"type": "deny", "purpose": purpose("PUBHLTH")}]},
    "a blanket deny": {"type": "deny", "period": IN_FORCE},
    "a blanket deny nested in a blanket permit": {
        "type": "permit", "provision": [{"type": "deny", "class": [{"code": "Patient"}]}]},
    "an unreadable end": {"type": "deny", "period": {"start": "2025-01-01", "end": "pronto"},
                          "purpose": purpose("PUBHLTH")},
}
NOT_DECLINED = {
    "a permit of everything": {"type": "permit", "period": IN_FORCE},
    "a permit of PUBHLTH": {"type": "permit", "purpose": purpose("PUBHLTH")},
    "a deny of another purpose": {"type": "deny", "purpose": purpose("HLEGAL")},
    "a deny of an institution": {"type": "deny", "actor": POLICE},
    "a deny of an institution kind": {"type": "deny", "extension": [KIND]},
    "a deny nested under an institution": {
        "type": "permit", "actor": POLICE, "provision": [{"type": "deny"}]},
    "a deny nested under another purpose": {
        "type": "permit", "purpose": purpose("COC"),
        "provision": [{"type": "deny", "actor": POLICE}]},
    "a deny of PUBHLTH that has ended": {"type": "deny", "purpose": purpose("PUBHLTH"),
                                          "period": {"start": "2024-01", "end": "2025-12"}},
    "a deny of PUBHLTH not yet begun": {"type": "deny", "purpose": purpose("PUBHLTH"),
                                        "period": {"start": "2026-06-02T00:00:00Z"}},
    "a deny of PUBHLTH inside a permit that ended": {
        "type": "permit", "period": {"end": "2026-05-31"},
        "provision": [{"type": "deny", "purpose": purpose("PUBHLTH")}]},
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_she_declined(name):
    assert declines_statistics([consent(DECLINED[name])], NOW)


@pytest.mark.parametrize("name", sorted(NOT_DECLINED))
def test_she_did_not_decline(name):
    assert not declines_statistics([consent(NOT_DECLINED[name])], NOW)


@pytest.mark.parametrize("status", ["inactive", "draft", "proposed", "rejected",
                                    "entered-in-error"])
def test_only_an_active_consent_counts(status):
    assert not declines_statistics([consent(DECLINED["a deny of PUBHLTH"], status)], NOW)


def test_a_permit_in_another_consent_does_not_undo_her_deny():
    assert declines_statistics([consent({"type": "permit", "purpose": purpose("PUBHLTH")}),
                                consent(DECLINED["a deny of PUBHLTH"])], NOW)


def test_a_month_or_year_period_ends_with_its_last_instant():
    ends = {"type": "deny", "purpose": purpose("PUBHLTH"), "period": {"end": "2026-06"}}
    assert declines_statistics([consent(ends)], NOW)
    assert not declines_statistics([consent(ends)], datetime(2026, 7, 1, tzinfo=UTC))




def test_decliners_are_found_in_the_store_page_by_page(store):
    def put(id: str, resource: dict) -> None:
        body = {**resource, "id": id}
        with store.unit_of_work() as uow:
            uow.write(NewVersion("Consent", id, 1, "2026-01-01T00:00:00+00:00", 0, "PUT",
                                 orjson.dumps(body), extract(body)))
            uow.commit()

    for n in range(1, 1203):  # more than two pages of 500
        put(f"c{n}", consent(NOT_DECLINED["a permit of everything"], patient=f"Patient/p{n}"))
    put("d1", consent(DECLINED["a deny of PUBHLTH"], patient="Patient/p7"))
    put("d2", consent(DECLINED["a blanket deny"], patient="Patient/p1202"))
    put("d3", consent(DECLINED["a deny of PUBHLTH"], status="inactive", patient="Patient/p9"))
    assert decliners(store, NOW) == {"Patient/p7", "Patient/p1202"}
