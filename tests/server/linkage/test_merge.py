"""``Patient/$merge`` and ``Patient/$unmerge`` over HTTP: one woman's two records become
one, visibly, audibly and reversibly, and never two women's."""

from __future__ import annotations

from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution, consent_permit
from tests.server.audit.test_recording import auditor, subtype, whats
from tests.server.linkage.test_candidates import candidates, phone
from tests.server.linkage.test_compare import LA_FLORIDA, patient
from tests.server.linkage.test_same_identity import new_run

LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"


def parameters(**given) -> dict:
    out = []
    for name, value in given.items():
        name = name.replace("_", "-")
        if isinstance(value, bool):
            out.append({"name": name, "valueBoolean": value})
        elif isinstance(value, str):
            out.append({"name": name, "valueReference": {"reference": value}})
        else:
            out.append({"name": name, **value})
    return {"resourceType": "Parameters", "parameter": out}


def outputs(answer) -> dict:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resourceType"] == "Parameters"
    return {p["name"]: p["resource"] for p in body["parameter"]}


def contact(institution: Institution, patient_id: str) -> dict:
    return institution.create({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                  "code": "AMB"},
        "subject": {"reference": f"Patient/{patient_id}"}})


def two_records(centre: Institution) -> tuple[dict, dict, dict]:
    """Her record with a RUN, then a second one without it (a probable match, so a
    candidate link), with a contact of its own (which opens a case); the target, the
    source and the contact."""
    number = phone()
    target = centre.create(patient("Rosa", "Pérez", "Soto", run=new_run(), comuna=LA_FLORIDA,
                                   phone=number))
    source = centre.create(patient("Rosa", "Perez", comuna=LA_FLORIDA, phone=number))
    return target, source, contact(centre, source["id"])


def test_a_merge_moves_her_records_to_the_target_and_is_undone_exactly(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    target, source, encounter = two_records(centre)
    assert len(candidates(centre, source["id"])) == 1
    coordinator = Institution(live, WOMENS_CENTRE, "COC")  # sees her case, as its lead
    [case] = coordinator.ids("EpisodeOfCare", patient=f"Patient/{source['id']}")

    done = outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    result = done["result"]
    assert result["id"] == target["id"]
    assert {"other": {"reference": f"Patient/{source['id']}"}, "type": "replaces"} \
        in result["link"]
    # the contact moved; her case too, as the platform's, uncounted (TREAT does not show it)
    assert "1 registro(s)" in done["outcome"]["issue"][1]["diagnostics"]
    merged = centre.get(f"Patient/{source['id']}").json()
    assert merged["active"] is False
    assert merged["link"] == [{"other": {"reference": f"Patient/{target['id']}"},
                               "type": "replaced-by"}]
    moved = centre.get(f"Encounter/{encounter['id']}").json()
    assert moved["subject"]["reference"] == f"Patient/{target['id']}"
    assert coordinator.ids("EpisodeOfCare", patient=f"Patient/{target['id']}") == {case}
    assert candidates(centre, source["id"]) == []  # the candidate is settled
    [provenance] = [e["resource"] for e in centre.get(
        "Provenance", entity=f"Patient/{source['id']}").json()["entry"]]
    assert provenance["activity"]["coding"][0]["code"] == "merge"
    assert f"Encounter/{encounter['id']}/_history/1" in \
        {e["what"]["reference"] for e in provenance["entity"]}
    assert Institution(live, POLICE, "THREAT").ids(
        "Provenance", entity=f"Patient/{source['id']}") == set()
    # and audited: one event of the operation, naming everything it wrote
    [event] = [e for e in auditor(live).events(patient=f"Patient/{source['id']}")
               if subtype(e) == "operation"]
    assert event["outcome"] == "0"
    assert {f"Patient/{source['id']}", f"Patient/{target['id']}",
            f"Encounter/{encounter['id']}", f"Provenance/{provenance['id']}"} <= set(whats(event))

    # a later change to the moved contact survives the undoing
    moved["status"] = "cancelled"
    assert centre.put(f"Encounter/{encounter['id']}", moved).status_code == 200
    undone = outputs(centre.post("Patient/$unmerge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    assert undone["result"]["id"] == source["id"]
    restored = centre.get(f"Patient/{source['id']}").json()
    assert "link" not in restored and restored.get("active") == source.get("active")
    assert "link" not in centre.get(f"Patient/{target['id']}").json()
    back = centre.get(f"Encounter/{encounter['id']}").json()
    assert (back["subject"]["reference"], back["status"]) == \
        (f"Patient/{source['id']}", "cancelled")
    assert coordinator.ids("EpisodeOfCare", patient=f"Patient/{source['id']}") == {case}
    codes = [e["resource"]["activity"]["coding"][0]["code"] for e in centre.get(
        "Provenance", entity=f"Patient/{source['id']}", _sort="-_lastUpdated").json()["entry"]]
    assert codes == ["unmerge", "merge"]
    # undone once: there is no merge left to undo
    again = centre.post("Patient/$unmerge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}"))
    assert again.status_code == 422


def test_her_two_cases_become_one_and_the_undoing_parts_them_again(live):
    """One woman has one case: merging two records that each have an open case keeps
    the one opened first and folds the other into it (cancelled, its contacts moved);
    the undoing reopens it with its contacts."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    coordinator = Institution(live, WOMENS_CENTRE, "COC")  # sees the cases, as their lead
    target, source, hers_first = two_records(centre)  # the source's contact, then:
    hers_then = contact(centre, target["id"])
    older = coordinator.get(f"Encounter/{hers_first['id']}").json()["episodeOfCare"]
    newer = coordinator.get(f"Encounter/{hers_then['id']}").json()["episodeOfCare"]
    keep, fold = older[0]["reference"], newer[0]["reference"]
    assert keep != fold
    outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    cases = {e["resource"]["id"]: e["resource"] for e in coordinator.get(
        "EpisodeOfCare", patient=f"Patient/{target['id']}").json()["entry"]}
    assert {id: c["status"] for id, c in cases.items()} == {
        keep.split("/")[1]: "active", fold.split("/")[1]: "cancelled"}
    assert cases[fold.split("/")[1]]["statusHistory"][-1]["status"] == "active"
    for encounter in (hers_first, hers_then):
        assert coordinator.get(f"Encounter/{encounter['id']}").json()["episodeOfCare"] == \
            [{"reference": keep}]

    outputs(centre.post("Patient/$unmerge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    assert coordinator.get(f"Encounter/{hers_first['id']}").json()["episodeOfCare"] == older
    assert coordinator.get(f"Encounter/{hers_then['id']}").json()["episodeOfCare"] == newer
    reopened = coordinator.get(fold).json()
    assert reopened["status"] == "active" and "end" not in reopened["period"]
    assert "statusHistory" not in reopened
    assert coordinator.get(keep).json()["patient"]["reference"] == f"Patient/{source['id']}"


def test_the_source_identifiers_move_to_the_target_as_old_ones(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    source = centre.create(patient("Luz", "Araya", run=run))
    target = centre.create(patient("Luz", "Araya", passport=("PER", "X1234567")))
    result = outputs(centre.post("Patient/$merge", parameters(
        source_patient_identifier={"valueIdentifier": {
            "system": "http://regcivil.cl/Validacion/RUN", "value": run}},
        target_patient=f"Patient/{target['id']}")))["result"]
    assert {"system": "http://regcivil.cl/Validacion/RUN", "value": run, "use": "old"} \
        in result["identifier"]
    outputs(centre.post("Patient/$unmerge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    assert [i["value"] for i in centre.get(f"Patient/{target['id']}").json()["identifier"]] \
        == ["X1234567"]


def test_once_merged_her_run_finds_the_target_only(live):
    """Both records carry her RUN after a merge (the target as an old identifier): a
    create with it is her target, not two matches (412)."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    run = new_run()
    source = centre.create(patient("Luz", "Araya", run=run))
    target = centre.create(patient("Luz", "Araya", passport=("PER", "X7654321")))
    outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    again = centre.post("Patient", patient("Luz", "Araya", run=run))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == target["id"]


def test_a_preview_writes_nothing(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    target, source, encounter = two_records(centre)
    done = outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}",
        preview=True)))
    assert done["result"]["link"][-1]["type"] == "replaces"
    assert "link" not in centre.get(f"Patient/{source['id']}").json()
    assert centre.get(f"Encounter/{encounter['id']}").json()["meta"]["versionId"] == "1"
    assert len(candidates(centre, source["id"])) == 1


def test_two_women_are_never_merged(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    one = centre.create(patient("Rosa", "Pérez", run=new_run()))
    other = centre.create(patient("Rosa", "Pérez", run=new_run()))
    answer = centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{one['id']}", target_patient=f"Patient/{other['id']}"))
    assert answer.status_code == 422 and "RUN distinto" in answer.text
    assert "link" not in centre.get(f"Patient/{one['id']}").json()


def test_what_the_caller_may_not_see_or_change_is_refused(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    police = Institution(live, POLICE, "THREAT")
    target, source, _ = two_records(centre)
    hidden = police.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}"))
    assert hidden.status_code == 404
    reader = Institution(live, WOMENS_CENTRE, "TREAT", scope="system/*.rs")
    assert reader.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}",
        target_patient=f"Patient/{target['id']}")).status_code == 403
    same = centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{source['id']}"))
    assert same.status_code == 422
    for body in ({"resourceType": "Parameters", "parameter": [{"name": "source-patient",
                                                               "valueString": "x"}]},
                 {"resourceType": "Patient"}, parameters(preview=True),
                 parameters(source_patient="Organization/x", target_patient="Patient/y")):
        answer = centre.post("Patient/$merge", body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    assert "link" not in centre.get(f"Patient/{source['id']}").json()


def test_a_record_merged_once_is_not_merged_again(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    target, source, _ = two_records(centre)
    outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    third = centre.create(patient("Rosa", "Pérez", comuna=LA_FLORIDA))
    answer = centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{third['id']}"))
    assert answer.status_code == 422 and "already merged" in answer.text


def test_another_institutions_record_she_shared_is_left_and_counted(live):
    """A record the caller sees (her Consent shares it) but may not change still names
    the source after the merge; the source's replaced-by link says where she is now."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    target, source, _ = two_records(centre)
    police = Institution(live, POLICE, "THREAT")
    theirs = contact(police, source["id"])
    centre.create(consent_permit(f"Patient/{source['id']}", WOMENS_CENTRE, "Encounter"))
    assert centre.get(f"Encounter/{theirs['id']}").status_code == 200
    done = outputs(centre.post("Patient/$merge", parameters(
        source_patient=f"Patient/{source['id']}", target_patient=f"Patient/{target['id']}")))
    assert any("1 registro(s) de otras instituciones" in i["diagnostics"]
               for i in done["outcome"]["issue"])
    assert centre.get(f"Encounter/{theirs['id']}").json()["subject"]["reference"] == \
        f"Patient/{source['id']}"
