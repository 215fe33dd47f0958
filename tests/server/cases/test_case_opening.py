"""One case per survivor over HTTP: her first contact with any institution opens it, each
institution she meets joins its care team, and every contact links to it."""

from __future__ import annotations

from server.cases import CASE_PROFILE, WORKFLOW_EPISODE
from tests.server.access.institutions import HOTLINE, POLICE, WOMENS_CENTRE, Institution


def contact(her: dict, institution: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": f"Patient/{her['id']}"},
            "serviceProvider": {"reference": f"Organization/{institution}"}}


def refer_to(sender: Institution, sender_org: str, her: dict, to: str) -> dict:
    """A referral of hers from ``sender_org`` to ``to``, waiting in its inbox: what lets
    ``to`` take part in her case when it meets her."""
    subject = {"reference": f"Patient/{her['id']}"}
    request = sender.create({
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "code": {"text": "derivación"}, "subject": subject,
        "requester": {"reference": f"Organization/{sender_org}"},
        "performer": [{"reference": f"Organization/{to}"}]})
    return sender.create({
        "resourceType": "Task", "status": "requested", "intent": "order",
        "businessStatus": {"coding": [{
            "system": "https://fhir.amparo.cl/CodeSystem/estado-derivacion",
            "code": "enviada"}]},
        "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                             "code": "fulfill"}]},
        "focus": {"reference": f"ServiceRequest/{request['id']}"}, "for": subject,
        "requester": {"reference": f"Organization/{sender_org}"},
        "owner": {"reference": f"Organization/{to}"}})


def cases_of(institution: Institution, her: dict) -> list[dict]:
    answer = institution.get("EpisodeOfCare", patient=f"Patient/{her['id']}")
    assert answer.status_code == 200, answer.text
    return [e["resource"] for e in answer.json().get("entry", [])]


def members(institution: Institution, case: dict) -> set[str]:
    team = institution.get(case["team"][0]["reference"]).json()
    return {p["member"]["reference"] for p in team["participant"]}


def test_her_first_contact_opens_her_case_led_by_that_institution(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Rojas"}]})
    assert cases_of(Institution(live, WOMENS_CENTRE, "COC"), her) == []  # no contact yet
    met = centre.create(contact(her, WOMENS_CENTRE))
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    [case] = cases_of(coordinator, her)
    assert case["status"] == "active" and case["meta"]["profile"] == [CASE_PROFILE]
    assert case["managingOrganization"]["reference"] == f"Organization/{WOMENS_CENTRE}"
    assert case["period"]["start"] == met["meta"]["lastUpdated"]
    assert met["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{case['id']}"}]
    assert members(coordinator, case) == {f"Organization/{WOMENS_CENTRE}"}


def test_every_institution_she_meets_joins_the_one_case(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Soto"}]})
    hotline = Institution(live, HOTLINE, "TREAT")
    assert hotline.get(f"Patient/{her['id']}").status_code == 404  # not on her team yet
    first = centre.create(contact(her, WOMENS_CENTRE))
    refer_to(centre, WOMENS_CENTRE, her, HOTLINE)
    second = hotline.create(contact(her, HOTLINE))
    police = Institution(live, POLICE, "THREAT")
    refer_to(centre, WOMENS_CENTRE, her, POLICE)
    third = police.create(contact(her, POLICE))
    [case] = cases_of(Institution(live, WOMENS_CENTRE, "COC"), her)
    assert {c["episodeOfCare"][0]["reference"] for c in (first, second, third)} == {
        f"EpisodeOfCare/{case['id']}"}
    assert members(Institution(live, POLICE, "COC"), case) == {
        f"Organization/{i}" for i in (WOMENS_CENTRE, HOTLINE, POLICE)}
    # on her team, the hotline now reads what the mandate gives a care service
    assert hotline.get(f"Patient/{her['id']}").status_code == 200
    assert len(cases_of(Institution(live, HOTLINE, "COC"), her)) == 1
    hotline.create(contact(her, HOTLINE))  # met again: still one case, one membership
    [again] = cases_of(Institution(live, WOMENS_CENTRE, "COC"), her)
    assert again["id"] == case["id"]
    assert len(Institution(live, WOMENS_CENTRE, "COC").get(
        case["team"][0]["reference"]).json()["participant"]) == 3


def test_a_contact_that_names_its_case_keeps_it_and_a_closed_case_is_not_reused(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Tapia"}]})
    subject = {"reference": f"Patient/{her['id']}"}
    old = centre.create({"resourceType": "EpisodeOfCare", "status": "finished",
                         "patient": subject, "period": {"start": "2024-01-01",
                                                        "end": "2024-06-01"},
                         "managingOrganization": {"reference": f"Organization/{WOMENS_CENTRE}"}})
    named = centre.create({**contact(her, WOMENS_CENTRE),
                           "episodeOfCare": [{"reference": f"EpisodeOfCare/{old['id']}"}]})
    assert named["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{old['id']}"}]
    opened = [c for c in cases_of(Institution(live, WOMENS_CENTRE, "COC"), her)
              if c["id"] != old["id"]]
    assert [c["status"] for c in opened] == ["active"]  # the finished one was not reused


def test_a_transaction_that_fails_after_the_contact_leaves_no_case(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Vera"}]})
    answer = centre.bundle("transaction", {
        "resource": contact(her, WOMENS_CENTRE),
        "request": {"method": "POST", "url": "Encounter"}}, {
        "resource": her, "request": {"method": "PUT", "url": f"Patient/{her['id']}",
                                     "ifMatch": 'W/"99"'}})
    assert answer.status_code == 412, answer.text
    assert cases_of(Institution(live, WOMENS_CENTRE, "COC"), her) == []
    assert centre.total("Encounter", subject=f"Patient/{her['id']}") == 0


def test_an_update_that_leaves_the_link_out_keeps_it(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Lagos"}]})
    sent = contact(her, WOMENS_CENTRE)
    met = centre.create(sent)
    same = centre.put(f"Encounter/{met['id']}", {**sent, "id": met["id"]})
    assert same.status_code == 200 and same.json()["meta"]["versionId"] == "1"  # no-op
    changed = centre.put(f"Encounter/{met['id']}", {**sent, "id": met["id"],
                                                     "status": "cancelled"}).json()
    assert changed["meta"]["versionId"] == "2"
    assert changed["episodeOfCare"] == met["episodeOfCare"]


def test_a_case_an_institution_opened_itself_gets_a_team_when_another_joins(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Bravo"}]})
    own = centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                         "patient": {"reference": f"Patient/{her['id']}"},
                         "managingOrganization": {"reference": f"Organization/{WOMENS_CENTRE}"}})
    centre.create(contact(her, WOMENS_CENTRE))  # its lead: nobody new, no team made
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    [case] = cases_of(coordinator, her)
    assert case["id"] == own["id"] and "team" not in case
    refer_to(centre, WOMENS_CENTRE, her, POLICE)
    Institution(live, POLICE, "THREAT").create(contact(her, POLICE))
    [case] = cases_of(coordinator, her)
    assert members(coordinator, case) == {f"Organization/{WOMENS_CENTRE}",
                                          f"Organization/{POLICE}"}


def test_what_institutions_record_about_her_links_to_her_case(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Araya"}]})
    subject = {"reference": f"Patient/{her['id']}"}
    before = centre.create({"resourceType": "Observation", "status": "final",
                            "code": {"text": "incidente"}, "subject": subject})
    assert "extension" not in before  # no case yet: nothing to link
    centre.create(contact(her, WOMENS_CENTRE))
    [case] = cases_of(Institution(live, WOMENS_CENTRE, "COC"), her)
    ref = {"reference": f"EpisodeOfCare/{case['id']}"}
    incident = centre.create({"resourceType": "Observation", "status": "final",
                              "code": {"text": "incidente"}, "subject": subject})
    assert incident["extension"] == [{"url": WORKFLOW_EPISODE, "valueReference": ref}]
    statement = centre.create({"resourceType": "DocumentReference", "status": "current",
                               "subject": subject, "content": [{"attachment": {
                                   "contentType": "text/plain", "data": "cmVsYXRv"}}]})
    assert statement["context"]["encounter"] == [ref]
    found = centre.get("Observation", caso=f"EpisodeOfCare/{case['id']}").json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == [incident["id"]]
    # an update that leaves the link out keeps it
    kept = centre.put(f"Observation/{incident['id']}", {
        "resourceType": "Observation", "id": incident["id"], "status": "amended",
        "code": {"text": "incidente"}, "subject": subject}).json()
    assert kept["extension"] == incident["extension"]


def test_knowing_her_id_is_no_way_into_her_case(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Oyarzún"}]})
    centre.create(contact(her, WOMENS_CENTRE))
    police = Institution(live, POLICE, "THREAT")  # no referral, not on her case
    met = police.create(contact(her, POLICE))
    assert "episodeOfCare" not in met  # her case's id is not given away
    incident = police.create({"resourceType": "Observation", "status": "final",
                              "code": {"text": "incidente"},
                              "subject": {"reference": f"Patient/{her['id']}"}})
    assert "extension" not in incident
    assert police.get(f"Patient/{her['id']}").status_code == 404  # still hidden
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    [case] = cases_of(coordinator, her)
    assert members(coordinator, case) == {f"Organization/{WOMENS_CENTRE}"}  # nobody joined
