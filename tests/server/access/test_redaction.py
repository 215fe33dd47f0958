"""A permit that obliges a redaction shows a copy without those elements, on every read
path: the case-coordination mandate lets the care team know who the survivor is for
COC, not where she lives (``consent/policies/case-coordination.json``,
``survivor-identity``)."""

from __future__ import annotations

from consent import REDACTED
from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution

HIDDEN = ("address", "telecom", "contact")


def her_record(live) -> tuple[Institution, dict]:
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({
        "resourceType": "Patient", "name": [{"family": "Reservada"}],
        "telecom": [{"system": "phone", "value": "+56 9 1234 5678"}],
        "address": [{"line": ["Calle Oculta 123"], "city": "Santiago"}],
        "contact": [{"name": {"family": "Hermana"}}]})
    centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                   "patient": {"reference": f"Patient/{her['id']}"},
                   "managingOrganization": {"reference": f"Organization/{POLICE}"}})
    return centre, her


def redacted(patient: dict) -> bool:
    labels = patient.get("meta", {}).get("security", [])
    return not any(e in patient for e in HIDDEN) and REDACTED in labels


def test_the_care_team_coordinating_sees_who_she_is_but_not_where_she_lives(live):
    centre, her = her_record(live)
    coordinating = Institution(live, POLICE, "COC")
    path = f"Patient/{her['id']}"
    answer = coordinating.get(path)
    assert answer.status_code == 200
    assert redacted(answer.json()) and answer.json()["name"] == her["name"]
    # every other path that returns her: vread, search, history, a batch entry, an include
    assert redacted(coordinating.get(f"{path}/_history/1").json())
    found = coordinating.get("Patient", _id=her["id"]).json()["entry"]
    assert [redacted(e["resource"]) for e in found] == [True]
    versions = coordinating.get(f"{path}/_history").json()["entry"]
    assert all(redacted(e["resource"]) for e in versions)
    batch = coordinating.bundle("batch", {"request": {"method": "GET", "url": path}})
    assert redacted(batch.json()["entry"][0]["resource"])
    included = coordinating.get("EpisodeOfCare", patient=her["id"],
                                _include="EpisodeOfCare:patient").json()["entry"]
    shown = [e["resource"] for e in included if e["resource"]["resourceType"] == "Patient"]
    assert shown and all(redacted(p) for p in shown)


def test_the_author_and_a_purpose_without_redaction_see_all_of_her(live):
    centre, her = her_record(live)
    full = centre.get(f"Patient/{her['id']}").json()
    assert all(e in full for e in HIDDEN) and not redacted(full)
    protecting = Institution(live, POLICE, "THREAT")  # police protection: the whole record
    answer = protecting.get(f"Patient/{her['id']}").json()
    assert answer["address"] == her["address"] and not redacted(answer)
