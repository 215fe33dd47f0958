"""Who gets an export and what is in it, over real HTTP: the status URL and the files
answer only the client that asked, with a token of the same purpose
(``server/bulk/access.py``); every exported resource passed the consent gate as a
search would, so an institution exports exactly what it could search and nothing of a
hidden resource shows in files, counts or errors; and the export is audited
(``server/bulk/audit.py``)."""

from __future__ import annotations

import base64
from urllib.parse import unquote

from tests.conftest import assert_outcome
from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    consent_permit,
)
from tests.server.bulk.conftest import exported, finished, ids, manifest, started

AUDITORS = "sernameg"


def her_record(centre) -> tuple[dict, list[dict]]:
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}],
                         "telecom": [{"system": "phone", "value": "+56 9 1234 5678"}],
                         "address": [{"line": ["Calle Oculta 123"], "city": "Santiago"}]})
    incidents = [centre.create({"resourceType": "Observation", "status": "final",
                                "code": {"text": f"incidente {n}"},
                                "subject": {"reference": f"Patient/{her['id']}"}})
                 for n in range(3)]
    return her, incidents


def searched(who, type: str) -> list[dict]:
    """Every resource of ``type`` a search by ``who`` returns, over all its pages."""
    found, answer = [], who.get(type, _count=5)
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += [e["resource"] for e in page.get("entry", [])]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            return found
        answer = who.request("GET", following[0].removeprefix(who.live.base + "/"))


def test_another_client_gets_404_on_the_status_the_files_and_delete(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT", purposes=("TREAT", "COC"))
    her_record(centre)
    status = started(bulk, centre, _type="Patient,Observation")
    result = finished(centre, status).json()
    strangers = [bulk.institution(POLICE, "THREAT"),  # another institution
                 bulk.institution(WOMENS_CENTRE, "TREAT"),  # another client of hers
                 centre.with_token(purpose="COC")]  # the same client, another purpose
    for stranger in strangers:
        assert_outcome(stranger.get(status), 404, "not-found")
        assert_outcome(stranger.delete(status), 404, "not-found")
        for item in result["output"]:
            assert_outcome(stranger.get(bulk.path(item["url"])), 404, "not-found")
    missing = status.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    assert strangers[0].get(status).json() == strangers[0].get(missing).json()
    # a new token of the same client and purpose (the kick-off's has long expired in
    # real life) is the requester: status and files answer, and a stranger's DELETE
    # removed nothing
    again = centre.with_token(purpose="TREAT")
    assert again.get(status).status_code == 200
    assert exported(bulk, again, result)


def test_files_need_a_token_and_one_whose_scopes_cover_their_type(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her_record(centre)
    result = manifest(bulk, centre, _type="Patient,Observation")
    url = next(o["url"] for o in result["output"] if o["type"] == "Observation")
    answer = centre.request("GET", bulk.path(url), headers={"Authorization": ""})
    assert_outcome(answer, 401, "login")
    narrow = centre.with_token(scope="system/Patient.rs")
    assert_outcome(narrow.get(bulk.path(url)), 403, "forbidden")
    patients = next(o["url"] for o in result["output"] if o["type"] == "Patient")
    assert narrow.get(bulk.path(patients)).status_code == 200


def test_an_institution_exports_exactly_what_it_could_search(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = her_record(centre)
    mine = bulk.institution(POLICE, "THREAT")
    own = mine.create({"resourceType": "Observation", "status": "final",
                       "code": {"text": "parte"},
                       "subject": {"reference": f"Patient/{her['id']}"}})
    # the police is outside her case: only its own record of her, no Patient
    found = exported(bulk, mine, manifest(bulk, mine, _type="Patient,Observation"))
    assert ids(found, "Observation") == [own["id"]] and "Patient" not in found
    # her consent lets the police read her whole record: now it exports all of it
    centre.create(consent_permit(f"Patient/{her['id']}", POLICE))
    found = exported(bulk, mine, manifest(bulk, mine, _type="Patient,Observation,Consent"))
    for type in ("Patient", "Observation", "Consent"):
        assert sorted(map(_key, found.get(type, []))) == sorted(map(_key, searched(mine, type)))
    assert ids(found, "Observation") == sorted([own["id"], *(o["id"] for o in incidents)])


def test_nothing_hidden_shows_in_counts_or_files(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, _ = her_record(centre)
    prosecutor = bulk.institution(PROSECUTOR, "HLEGAL")
    result = manifest(bulk, prosecutor, _type="Patient,Observation")
    assert result["output"] == [] and result["error"] == []
    everything = manifest(bulk, prosecutor)
    text = "".join(prosecutor.get(bulk.path(o["url"])).text for o in everything["output"])
    assert her["id"] not in text and "Reservada" not in text
    assert {o["type"] for o in everything["output"]} <= {"Organization"}


def test_a_redacted_record_is_exported_redacted_as_a_search_shows_it(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, _ = her_record(centre)
    centre.create({"resourceType": "EpisodeOfCare", "status": "active",
                   "patient": {"reference": f"Patient/{her['id']}"},
                   "managingOrganization": {"reference": f"Organization/{POLICE}"}})
    coordinating = bulk.institution(POLICE, "COC")
    found = exported(bulk, coordinating, manifest(bulk, coordinating, _type="Patient"))
    assert found["Patient"] == searched(coordinating, "Patient")
    (shown,) = found["Patient"]
    assert "address" not in shown and "telecom" not in shown and "name" in shown


def test_a_care_service_outside_her_case_exports_nothing_of_hers(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, _ = her_record(centre)
    hotline = bulk.institution(HOTLINE, "TREAT")
    assert manifest(bulk, hotline, "Patient/$export")["output"] == []


def test_the_export_is_audited_with_its_basis_counts_and_downloads(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her_record(centre)
    status = started(bulk, centre, _type="Patient,Observation")
    result = finished(centre, status).json()
    job = status.rsplit("/", 1)[1]
    for item in result["output"]:
        assert centre.get(bulk.path(item["url"])).status_code == 200
    auditor = bulk.institution(AUDITORS, "TREAT", scope="system/AuditEvent.rs")
    answer = auditor.get("AuditEvent", agent=f"Organization/{WOMENS_CENTRE}", _count=200)
    events = [e["resource"] for e in answer.json()["entry"]]
    (done,) = [e for e in events if any(
        x.get("what", {}).get("identifier", {}).get("value") == job
        for x in e.get("entity", []))]
    assert done["outcome"] == "0" and done["action"] == "E"
    assert "author" in done["agent"][0]["policy"]
    (entity,) = [x for x in done["entity"] if "identifier" in x.get("what", {})]
    details = {d["type"]: d["valueString"] for d in entity["detail"]}
    assert details == {"nivel": "system", "modo": "identificado", "Observation": "3",
                       "Patient": "1"}
    query = next(x["query"] for x in done["entity"] if "query" in x)
    assert base64.b64decode(query).decode() == "_type=Patient,Observation"
    assert "Reservada" not in str(done)
    downloads = [e for e in events if any(
        "query" in x and f"export={job}" in base64.b64decode(x["query"]).decode()
        for x in e.get("entity", []))]
    assert len(downloads) == len(result["output"])
    assert all(e["outcome"] == "0" for e in downloads)
    kick_offs = [e for e in events if e is not done and any(
        "query" in x and unquote(base64.b64decode(x["query"]).decode())
        == "_type=Patient,Observation" for x in e.get("entity", []))]
    assert len(kick_offs) == 1 and kick_offs[0]["outcome"] == "0"


def _key(resource: dict) -> str:
    return f"{resource['resourceType']}/{resource['id']}/{resource['meta']['versionId']}"

