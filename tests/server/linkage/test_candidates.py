"""Candidate links: a new survivor probably known already is recorded as a ``Linkage``
(``active`` false) for the creating institution's caseworker, over HTTP."""

from __future__ import annotations

import random

from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution
from tests.server.linkage.test_compare import LA_FLORIDA, patient
from tests.server.linkage.test_same_identity import new_run


def phone() -> str:
    return f"+56 9 {random.randrange(1000, 9999)} {random.randrange(1000, 9999)}"


def candidates(institution: Institution, patient_id: str) -> list[dict]:
    answer = institution.get("Linkage", item=f"Patient/{patient_id}")
    assert answer.status_code == 200, answer.text
    return [e["resource"] for e in answer.json().get("entry", [])]


def test_a_probable_match_is_recorded_for_a_caseworker_to_confirm(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = phone()
    known = centre.create(patient("Rosa", "Pérez", "Soto", comuna=LA_FLORIDA, phone=number))
    new = centre.create(patient("rosa", "PEREZ", comuna=LA_FLORIDA, phone=number))
    [link] = candidates(centre, new["id"])
    assert link["active"] is False
    assert link["author"]["reference"] == f"Organization/{WOMENS_CENTRE}"
    assert [(i["type"], i["resource"]["reference"]) for i in link["item"]] == [
        ("source", f"Patient/{known['id']}"), ("alternate", f"Patient/{new['id']}")]
    assert candidates(centre, known["id"]) == [link]
    # another institution sees nothing of it, not even that it exists
    assert candidates(Institution(live, POLICE, "THREAT"), new["id"]) == []
    # the caseworker rejects it: deleted, its history keeps what was proposed
    assert centre.delete(f"Linkage/{link['id']}").status_code == 204
    assert candidates(centre, new["id"]) == []
    assert len(centre.get(f"Linkage/{link['id']}/_history").json()["entry"]) == 2


def test_a_possible_match_or_a_different_woman_is_no_candidate(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = phone()
    centre.create(patient("Inés", "Cárcamo", comuna=LA_FLORIDA, phone=number, born="1980-01-01"))
    one_fact = centre.create(patient("Inés", "Cárcamo", comuna=LA_FLORIDA))
    assert candidates(centre, one_fact["id"]) == []
    contradicted = centre.create(patient("Inés", "Cárcamo", comuna=LA_FLORIDA, phone=number,
                                         born="1999-12-31"))
    assert candidates(centre, contradicted["id"]) == []


def test_a_survivor_hidden_from_the_creator_is_never_a_candidate(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = phone()
    centre.create(patient("Elsa", "Millán", comuna=LA_FLORIDA, phone=number))
    police = Institution(live, POLICE, "THREAT")
    new = police.create(patient("Elsa", "Millán", comuna=LA_FLORIDA, phone=number))
    assert candidates(police, new["id"]) == []
    assert candidates(centre, new["id"]) == []  # and nobody else was told of her


def test_two_identified_records_are_linked_by_their_documents_only(live):
    """Rule 5.2.2: probabilistic linkage is for a record with no valid RUN or document;
    two records that carry them are the same woman only when they are the same."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = phone()
    centre.create(patient("Nora", "Pailalef", comuna=LA_FLORIDA, phone=number,
                          passport=("862", "V1234567")))
    identified = centre.create(patient("Nora", "Pailalef", comuna=LA_FLORIDA, phone=number,
                                       run=new_run()))
    assert candidates(centre, identified["id"]) == []


def test_a_record_with_a_run_is_linked_to_a_known_one_without(live):
    """The pair, not the order it came in, decides: the woman a neighbour named to the
    hotline is proposed when her own record with her RUN arrives, and the record with
    the RUN is the one to keep (``source``)."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = phone()
    named = centre.create(patient("Nora", "Pailalef", comuna=LA_FLORIDA, phone=number))
    identified = centre.create(patient("Nora", "Pailalef", comuna=LA_FLORIDA, phone=number,
                                       run=new_run()))
    [link] = candidates(centre, identified["id"])
    assert [(i["type"], i["resource"]["reference"]) for i in link["item"]] == [
        ("source", f"Patient/{identified['id']}"), ("alternate", f"Patient/{named['id']}")]
