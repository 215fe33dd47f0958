"""The access gate enforces the consent library over real HTTP: several institutions'
clients (registered like ``tests/server/auth/``) on one live server whose store holds
the institutions ``amparo init`` loads, each reading the same survivor's record
(fixtures: ``conftest.py``; clients: ``institutions.py``)."""

from __future__ import annotations

from server.access import AUTHOR_SYSTEM
from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
)


def test_the_author_is_tagged_on_create_and_kept_when_a_client_sends_another(live, record):
    centre, her, _ = record
    assert {"system": AUTHOR_SYSTEM, "code": WOMENS_CENTRE} in her["meta"]["tag"]
    forged = {**her, "meta": {"tag": [{"system": AUTHOR_SYSTEM, "code": POLICE}]},
              "active": True}
    updated = centre.put(f"Patient/{her['id']}", forged).json()
    assert [t for t in updated["meta"]["tag"] if t["system"] == AUTHOR_SYSTEM] == [
        {"system": AUTHOR_SYSTEM, "code": WOMENS_CENTRE}]


def test_an_institution_outside_the_case_finds_nothing_of_her_record(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    pid, oid = her["id"], incident["id"]
    assert police.get(f"Patient/{pid}").status_code == 404
    assert police.get(f"Patient/{pid}/_history/1").status_code == 404
    assert police.get(f"Patient/{pid}/_history").status_code == 404
    assert police.get(f"Observation/{oid}").status_code == 404
    assert police.ids("Patient", _id=pid) == set()
    assert police.total("Patient", _id=pid) == 0
    assert police.total("Observation") == 0
    assert police.ids("Observation", subject=f"Patient/{pid}") == set()
    assert police.ids("Observation", **{"subject:Patient.name": "Reservada"}) == set()
    assert police.ids("Patient", **{"_has:Observation:subject:status": "final"}) == set()
    assert police.ids("Patient") == set()
    assert police.ids("Patient/_history") == set()
    assert not {pid, oid} & police.ids("_history")  # the directory is public
    # and the author sees all of it, includes and totals too
    assert centre.get(f"Patient/{pid}").status_code == 200
    assert centre.ids("Observation", _id=oid, _include="Observation:subject") == {oid, pid}
    assert centre.ids("Patient", _id=pid, _revinclude="Observation:subject") == {oid, pid}
    assert centre.total("Patient", _id=pid) == 1
    assert centre.ids("Observation", **{"subject:Patient.name": "Reservada"}) == {oid}


def test_includes_never_bring_what_the_caller_may_not_see(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    own = police.create({"resourceType": "Observation", "status": "final",
                         "code": {"text": "parte"},
                         "subject": {"reference": f"Patient/{her['id']}"}})
    assert police.ids("Observation", _include="Observation:subject") == {own["id"]}
    assert police.total("Observation") == 1
    assert police.ids("Observation", _id=own["id"],
                      _include="Observation:subject") == {own["id"]}


def test_writes_to_a_hidden_resource_look_like_writes_to_a_missing_one(live, record):
    centre, her, _ = record
    police = Institution(live, POLICE, "THREAT")
    path = f"Patient/{her['id']}"
    assert police.put(path, {**her, "active": False}).status_code == 404
    assert police.delete(path).status_code == 204  # like deleting what does not exist
    assert centre.get(path).json()["meta"]["versionId"] == "1"


def test_joining_the_case_grants_what_the_mandate_gives_on_the_next_request(live, record):
    centre, her, incident = record
    police = Institution(live, POLICE, "THREAT")
    assert police.get(f"Patient/{her['id']}").status_code == 404
    centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                   "patient": {"reference": f"Patient/{her['id']}"},
                   "managingOrganization": {"reference": f"Organization/{POLICE}"}})
    # police-protection: the survivor, with THREAT, for cases they take part in
    assert police.get(f"Patient/{her['id']}").status_code == 200
    assert police.total("Patient", _id=her["id"]) == 1
    # not the incident (police see incidents with HLEGAL only)
    assert police.get(f"Observation/{incident['id']}").status_code == 404
    assert police.ids("Patient", _id=her["id"], _revinclude="Observation:subject") == {
        her["id"]}


def test_her_consent_deny_hides_her_record_from_a_care_service_on_the_next_request(
        live, record):
    centre, her, _ = record
    hotline = Institution(live, HOTLINE, "TREAT")
    subject = {"reference": f"Patient/{her['id']}"}
    centre.create({"resourceType": "CareTeam", "status": "active", "subject": subject,
                   "participant": [{"member": {"reference": f"Organization/{HOTLINE}"}}]})
    assert hotline.get(f"Patient/{her['id']}").status_code == 200  # care-record grant
    deny = centre.create({
        "resourceType": "Consent", "status": "active", "patient": subject,
        "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                              "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                                   "code": "OPTOUT"}]},
        "provision": {"type": "deny", "actor": [{
            "role": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "IRCP"}]},
            "reference": {"reference": f"Organization/{HOTLINE}"}}]}})
    assert hotline.get(f"Patient/{her['id']}").status_code == 404
    assert hotline.total("Patient", _id=her["id"]) == 0
    # revoked: shared again on the next request
    assert centre.put(f"Consent/{deny['id']}", {**deny, "status": "inactive"}).status_code == 200
    assert hotline.get(f"Patient/{her['id']}").status_code == 200


def test_break_the_glass_with_a_justification_reads_her_record(live, record):
    _, her, incident = record
    assert Institution(live, PROSECUTOR, "HLEGAL").get(f"Patient/{her['id']}").status_code \
        == 404
    glass = Institution(live, PROSECUTOR, "BTG", justification="riesgo vital inminente")
    assert glass.get(f"Patient/{her['id']}").status_code == 200
    assert glass.ids("Observation", subject=f"Patient/{her['id']}") == {incident["id"]}


def test_the_directory_and_the_definitions_are_read_by_everyone_but_the_shelters(live):
    police = Institution(live, POLICE, "THREAT")
    assert police.get(f"Organization/{HOTLINE}").status_code == 200
    assert police.get("Organization/casa-de-acogida-13101").status_code == 404
    shelters = police.ids("Organization", type="casa-de-acogida")
    assert shelters == set()
