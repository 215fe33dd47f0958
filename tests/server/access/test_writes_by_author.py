"""Seeing a resource is not changing it: only its author institution updates, patches or
deletes it, or an institution a grant gives the update to (the receiving institution of
a referral updates its task)."""

from __future__ import annotations

from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution


def test_an_institution_that_sees_her_record_may_not_change_what_another_wrote(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
    centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                   "patient": {"reference": f"Patient/{her['id']}"},
                   "managingOrganization": {"reference": f"Organization/{POLICE}"}})
    police = Institution(live, POLICE, "THREAT")
    path = f"Patient/{her['id']}"
    seen = police.get(path)
    assert seen.status_code == 200
    changed = {**seen.json(), "name": [{"family": "Cambiada"}]}
    for answer in (police.put(path, changed),
                   police.patch(path, [{"op": "add", "path": "/gender", "value": "female"}]),
                   police.delete(path)):
        assert answer.status_code == 403, answer.text
        assert answer.json()["issue"][0]["code"] == "forbidden"
    assert centre.get(path).json()["name"] == her["name"]  # nothing changed
    assert centre.put(path, {**her, "gender": "female"}).status_code == 200  # the author may


def test_the_receiving_institution_updates_the_referral_task(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient"})
    task = centre.create({"resourceType": "Task", "status": "requested", "intent": "order",
                          "for": {"reference": f"Patient/{her['id']}"},
                          "owner": {"reference": f"Organization/{POLICE}"}})
    police = Institution(live, POLICE, "COC")
    seen = police.get(f"Task/{task['id']}")
    assert seen.status_code == 200
    accepted = police.put(f"Task/{task['id']}", {**seen.json(), "status": "accepted"})
    assert accepted.status_code == 200, accepted.text
    assert police.delete(f"Task/{task['id']}").status_code == 403  # updating is not deleting
