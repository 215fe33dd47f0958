"""One woman, one Patient: creating a survivor who certainly matches one the caller may
see (the same valid RUN or identity document) returns that survivor, alone or in a
transaction, and writes nothing; a survivor hidden from the caller is no match."""

from __future__ import annotations

import random

from mappings.run import format_run
from tests.server.access.institutions import HOTLINE, POLICE, WOMENS_CENTRE, Institution
from tests.server.linkage.test_compare import LA_FLORIDA, patient


def new_run() -> str:
    """A valid RUN nobody else in this live server has (synthetic: 40,000,000 and up)."""
    return format_run(random.randrange(40_000_000, 99_999_999))


def history(institution: Institution, id: str) -> int:
    answer = institution.get(f"Patient/{id}/_history")
    assert answer.status_code == 200, answer.text
    return len(answer.json().get("entry", []))


def test_a_survivor_created_again_is_the_same_patient(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    first = centre.create(patient("Rosa", "Pérez", run=run, comuna=LA_FLORIDA))
    again = centre.post("Patient", patient("Rosa Elena", "Pérez", "Soto", run=run))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first["id"]
    assert again.headers["Location"].endswith(f"Patient/{first['id']}/_history/1")
    assert history(centre, first["id"]) == 1  # nothing written: she is as she was
    assert centre.total("Patient", identifier=f"http://regcivil.cl/Validacion/RUN|{run}") == 1


def test_the_same_passport_is_the_same_woman(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    number = f"P{random.randrange(10**7, 10**8)}"
    first = centre.create(patient("Yuleisy", "Mendoza", passport=("VEN", number)))
    again = centre.post("Patient", patient("Yuleisy", "Mendoza", passport=("VEN", number)))
    assert (again.status_code, again.json()["id"]) == (200, first["id"])
    other = centre.post("Patient", patient("Yuleisy", "Mendoza", passport=("COL", number)))
    assert other.status_code == 201  # another country's passport is another document


def test_what_is_not_certain_creates_a_new_patient(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    named = patient("Ana", "Quispe", comuna=LA_FLORIDA, phone="+56 9 5555 0101")
    assert centre.post("Patient", named).status_code == 201
    assert centre.post("Patient", named).status_code == 201  # probable at most: not merged
    wrong_digit = patient("Ana", "Quispe", unverified="40000000-1")
    assert centre.post("Patient", wrong_digit).status_code == 201
    assert centre.post("Patient", wrong_digit).status_code == 201


def test_a_survivor_hidden_from_the_caller_is_no_match(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    hers = centre.create(patient("Rosa", "Huenchumilla", run=run))
    police = Institution(live, POLICE, "THREAT")
    answer = police.post("Patient", patient("Rosa", "Huenchumilla", run=run))
    assert answer.status_code == 201  # as if she did not exist: nothing of hers is told
    assert answer.json()["id"] != hers["id"]
    assert "Rosa" not in str(answer.json().get("extension", ""))


def test_an_explicit_if_none_exist_is_the_clients(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    first = centre.create(patient("Rosa", "Pérez", run=run, born="1985-09-30"))
    # the client's own criteria decide: no Patient born that day has this phone
    answer = centre.post("Patient", patient("Rosa", "Pérez", run=run),
                         {"If-None-Exist": "phone=+56911112222"})
    assert answer.status_code == 201 and answer.json()["id"] != first["id"]


def test_in_a_transaction_her_references_point_at_the_existing_patient(live):
    hotline = Institution(live, HOTLINE, "TREAT")
    run = new_run()
    first = hotline.create(patient("Carla", "Soto", run=run))
    answer = hotline.bundle("transaction", {
        "fullUrl": "urn:uuid:0b7c9d30-56c4-4b0e-9a55-1f5f0f2b1d11",
        "resource": patient("Carla", "Soto", run=run),
        "request": {"method": "POST", "url": "Patient"},
    }, {
        "fullUrl": "urn:uuid:5f3f0e6e-8d4c-4c4e-b0b8-8b8e5d8f9a22",
        "resource": {"resourceType": "Encounter", "status": "finished",
                     "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                               "code": "VR"},
                     "subject": {"reference": "urn:uuid:0b7c9d30-56c4-4b0e-9a55-1f5f0f2b1d11"}},
        "request": {"method": "POST", "url": "Encounter"},
    })
    assert answer.status_code == 200, answer.text
    patient_entry, encounter_entry = answer.json()["entry"]
    assert patient_entry["response"]["status"].startswith("200")
    assert patient_entry["response"]["location"].startswith(f"Patient/{first['id']}/")
    encounter_id = encounter_entry["response"]["location"].split("/")[1]
    encounter = hotline.get(f"Encounter/{encounter_id}").json()
    assert encounter["subject"]["reference"] == f"Patient/{first['id']}"
    assert history(hotline, first["id"]) == 1


def test_two_entries_of_one_transaction_for_the_same_woman_are_one_patient(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    answer = centre.bundle("transaction", *({
        "fullUrl": f"urn:uuid:{n}c1e2d3f-0000-4000-8000-00000000000{n}",
        "resource": patient("Marta", "Lagos", run=run),
        "request": {"method": "POST", "url": "Patient"}} for n in (1, 2)))
    assert answer.status_code == 200, answer.text
    locations = [e["response"]["location"].split("/")[1] for e in answer.json()["entry"]]
    assert locations[0] == locations[1]
    assert centre.total("Patient", identifier=f"http://regcivil.cl/Validacion/RUN|{run}") == 1


def test_a_caller_that_may_not_search_survivors_finds_nobody(live):
    """The implied match is a search: without ``s`` on Patient there is none, so a create
    never tells such a caller that a woman with this RUN exists."""
    writer = Institution(live, WOMENS_CENTRE, "TREAT", scope="system/Patient.cr")
    run = new_run()
    first = writer.create(patient("Rosa", "Pérez", run=run))
    again = writer.post("Patient", patient("Rosa", "Pérez", run=run))
    assert again.status_code == 201 and again.json()["id"] != first["id"]
