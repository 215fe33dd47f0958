"""``Patient/$match`` over HTTP: graded, ranked, only among the survivors the caller may
see, and bad requests refused with an OperationOutcome."""

from __future__ import annotations

import pytest

from server.linkage.match import BLOCK
from tests.server.access.institutions import HOTLINE, POLICE, WOMENS_CENTRE, Institution
from tests.server.linkage.test_compare import LA_FLORIDA, patient

MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"


def ask(institution: Institution, resource: dict, **parameters) -> list[tuple[str, str, float]]:
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": resource},
        *({"name": name, key: value} for name, (key, value) in parameters.items())]}
    answer = institution.post("Patient/$match", body)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle.get("entry", []))
    return [(e["resource"]["id"], e["search"]["extension"][0]["valueCode"], e["search"]["score"])
            for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
            and e["search"]["extension"][0]["url"] == MATCH_GRADE]


def test_matches_are_graded_and_ranked_certain_then_probable_then_possible(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    camila = centre.create(patient("Camila Andrea", "Rojas", "Fuentes", run="41382204-1",
                                   born="1992-02-11", comuna=LA_FLORIDA, phone="987654321"))
    twin = centre.create(patient("Camila", "Rojas Fuentes", born="1992-02-11",
                                 comuna=LA_FLORIDA))
    namesake = centre.create(patient("Camila", "Rojas", comuna="01101"))
    centre.create(patient("Camila", "Rojas", born="2006-05-01"))  # contradicted: never shown
    call = patient("Camila", "Rojas", "Fuentes", run="41.382.204-1", born="1992-02-11",
                   comuna=LA_FLORIDA)
    found = ask(centre, call)
    assert [(id, grade) for id, grade, _ in found] == [
        (camila["id"], "certain"), (twin["id"], "probable"), (namesake["id"], "possible")]
    assert found[0][2] == 1.0 > found[1][2] > found[2][2]
    assert ask(centre, call, onlyCertainMatches=("valueBoolean", True)) == found[:1]
    assert ask(centre, call, count=("valueInteger", 2)) == found[:2]
    assert ask(centre, patient("Javiera", "Tapia", born="1990-01-01")) == []


def test_the_patient_alone_as_the_body_is_accepted(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create(patient("Yasna", "Tapia", run="40611189-K"))
    answer = centre.post("Patient/$match", patient(run="40611189-k"))
    assert answer.status_code == 200
    assert [e["resource"]["id"] for e in answer.json()["entry"]] == [her["id"]]


def test_a_survivor_the_caller_may_not_see_is_never_a_match(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    centre.create(patient("Rosa", "Huenchumilla", run="40150627-6"))
    for outsider in (Institution(live, POLICE, "THREAT"), Institution(live, HOTLINE, "TREAT")):
        assert ask(outsider, patient(run="40150627-6")) == []


def test_a_common_name_still_finds_her_by_her_other_facts(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": patient("María", f"Muñoz{n}"), "request": {"method": "POST",
                                                                "url": "Patient"}}
        for n in range(BLOCK + 5)]}
    assert centre.bundle("transaction", *bundle["entry"]).status_code == 200
    her = centre.create(patient("María", "Soto", born="1970-07-07", comuna="13101"))
    found = ask(centre, patient("María", "Soto", born="1970-07-07", comuna="13101"))
    assert found[0][:2] == (her["id"], "probable")


@pytest.mark.parametrize("body, status", [
    ({"resourceType": "Parameters", "parameter": []}, 400),
    ({"resourceType": "Parameters", "parameter": [{"name": "count", "valueInteger": 0}]}, 400),
    ({"resourceType": "Parameters", "parameter": [{"name": "oops", "valueString": "x"}]}, 400),
    ({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Observation"}}]}, 400),
    ({"resourceType": "Parameters", "parameter": [
        {"name": "resource", "resource": {"resourceType": "Patient", "name": {"family": 1}}}]},
     422),
    ([1, 2], 400),
])
def test_bad_requests_are_refused_with_an_outcome(live, body, status):
    answer = Institution(live, WOMENS_CENTRE, "TREAT").post("Patient/$match", body)
    assert answer.status_code == status, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_the_capability_statement_lists_match_on_patient(live):
    statement = Institution(live, WOMENS_CENTRE, "TREAT").get("metadata").json()
    patient_ = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/"
            "Patient-match"} in patient_["operation"]


def test_matching_needs_the_search_permission_on_patient(live):
    reader = Institution(live, WOMENS_CENTRE, "TREAT", scope="system/Patient.r")
    answer = reader.post("Patient/$match", patient(run="40611189-K"))
    assert answer.status_code == 403
