"""A case's life, decided by its lead: closed, reopened, handed to another institution;
anyone else is refused, and a case the caller may not see answers like a missing one."""

from __future__ import annotations

from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
)
from tests.server.cases.test_case_opening import cases_of, contact, members, refer_to


def opened(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Díaz"}]})
    centre.create(contact(her, WOMENS_CENTRE))
    refer_to(centre, WOMENS_CENTRE, her, HOTLINE)
    Institution(live, HOTLINE, "TREAT").create(contact(her, HOTLINE))
    [case] = cases_of(Institution(live, WOMENS_CENTRE, "COC"), her)
    return her, case


def test_the_lead_closes_and_reopens_its_case(live):
    her, case = opened(live)
    lead = Institution(live, WOMENS_CENTRE, "COC")
    closed = lead.post(f"EpisodeOfCare/{case['id']}/$close", {"resourceType": "Parameters"})
    assert closed.status_code == 200, closed.text
    closed = closed.json()
    assert closed["status"] == "finished" and closed["period"]["end"]
    assert closed["statusHistory"] == [{"status": "active", "period": {
        "start": case["period"]["start"], "end": closed["period"]["end"]}}]
    assert lead.post(f"EpisodeOfCare/{case['id']}/$close", {}).status_code == 422
    again = lead.post(f"EpisodeOfCare/{case['id']}/$reopen", {}).json()
    assert again["status"] == "active" and "end" not in again["period"]
    assert [h["status"] for h in again["statusHistory"]] == ["active", "finished"]
    assert [c["id"] for c in cases_of(lead, her)] == [case["id"]]


def test_a_closed_case_is_not_reopened_while_she_has_another_open_one(live):
    her, case = opened(live)
    lead = Institution(live, WOMENS_CENTRE, "COC")
    lead.post(f"EpisodeOfCare/{case['id']}/$close", {})
    Institution(live, WOMENS_CENTRE, "TREAT").create(contact(her, WOMENS_CENTRE))  # a new one
    answer = lead.post(f"EpisodeOfCare/{case['id']}/$reopen", {})
    assert answer.status_code == 422, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_the_lead_hands_the_case_to_another_institution(live):
    her, case = opened(live)
    lead = Institution(live, WOMENS_CENTRE, "COC")
    body = {"resourceType": "Parameters", "parameter": [{
        "name": "organization", "valueReference": {"reference": f"Organization/{POLICE}"}}]}
    moved = lead.post(f"EpisodeOfCare/{case['id']}/$transfer", body)
    assert moved.status_code == 200, moved.text
    assert moved.json()["managingOrganization"] == {"reference": f"Organization/{POLICE}"}
    police = Institution(live, POLICE, "COC")
    assert members(police, moved.json()) == {
        f"Organization/{i}" for i in (WOMENS_CENTRE, HOTLINE, POLICE)}
    # the former lead may no longer decide; the new one may
    assert lead.post(f"EpisodeOfCare/{case['id']}/$close", {}).status_code == 403
    assert police.post(f"EpisodeOfCare/{case['id']}/$close", {}).status_code == 200


def test_only_the_lead_decides_and_a_hidden_case_is_missing(live):
    her, case = opened(live)
    member = Institution(live, HOTLINE, "COC")  # on the team, not the lead
    answer = member.post(f"EpisodeOfCare/{case['id']}/$close", {})
    assert answer.status_code == 403
    assert cases_of(member, her)[0]["status"] == "active"  # nothing changed
    outsider = Institution(live, PROSECUTOR, "HLEGAL")
    hidden = outsider.post(f"EpisodeOfCare/{case['id']}/$close", {})
    missing = outsider.post("EpisodeOfCare/no-such-case/$close", {})
    assert hidden.status_code == missing.status_code == 404
    lead = Institution(live, WOMENS_CENTRE, "COC")
    for bad in ({}, {"resourceType": "Parameters", "parameter": [
            {"name": "organization", "valueString": "x"}]},
            {"resourceType": "Parameters", "parameter": [{"name": "organization",
                                                          "valueReference": {
                                                              "reference": "Organization/nope"}}]}):
        answer = lead.post(f"EpisodeOfCare/{case['id']}/$transfer", bad)
        assert answer.status_code in (400, 422), answer.text
    reader = Institution(live, WOMENS_CENTRE, "COC", scope="system/EpisodeOfCare.rs")
    assert reader.post(f"EpisodeOfCare/{case['id']}/$close", {}).status_code == 403
