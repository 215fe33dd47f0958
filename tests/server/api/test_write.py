"""create, update, delete and their conditional forms over HTTP.

See: https://hl7.org/fhir/R4B/http.html#create, #update, #delete, #ccreate, #cond-update,
#3.1.0.7.1 (conditional delete) and #ops (Prefer: return).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import assert_outcome, patient

SYSTEM = "https://amparo.example/run"



def ident(value: str) -> list[dict]:
    return [{"system": SYSTEM, "value": value}]


def create(live, **fields) -> dict:
    response = live.post("Patient", json=patient(**fields))
    assert response.status_code == 201, response.text
    return response.json()


def duplicate(live, **fields) -> dict:
    """A second Patient with the identifier of another: a create would return the first
    (one woman, one Patient: see test_a_survivor_created_again_is_the_same_patient), so
    it is written by id, as an update that creates."""
    pid = f"duplicate-{uuid.uuid4()}"
    response = live.put(f"Patient/{pid}", json=patient(id=pid, **fields))
    assert response.status_code == 201, response.text
    return response.json()


def versions(live, type: str = "Patient") -> list[dict]:
    """Every version ever written of ``type`` (type history, newest first)."""
    response = live.get(f"{type}/_history", params={"_count": "1000"})
    assert response.status_code == 200
    return response.json().get("entry", [])


# create ---------------------------------------------------------------------------------

def test_create_assigns_an_id_and_returns_201_with_the_location_of_version_1(live):
    response = live.post("Patient", json=patient(active=True))
    assert response.status_code == 201
    body = response.json()
    assert body["id"]
    assert response.headers["Location"] == f"{live.base}/Patient/{body['id']}/_history/1"
    assert response.headers["ETag"] == 'W/"1"'
    assert body["meta"]["versionId"] == "1"
    stamped = datetime.fromisoformat(body["meta"]["lastUpdated"])
    assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=1)
    assert live.get(f"Patient/{body['id']}").json() == body


def test_create_ignores_an_id_supplied_by_the_client(live):
    body = create(live, id="chosen-by-client")
    assert body["id"] != "chosen-by-client"
    assert live.get("Patient/chosen-by-client").status_code == 404


def test_create_replaces_the_clients_version_and_keeps_other_meta(live):
    body = create(live, meta={"versionId": "7", "tag": [{"code": "x"}]})
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["tag"][0] == {"code": "x"}  # then the author tag (server/access.py)


def test_two_creates_get_different_ids(live):
    assert create(live)["id"] != create(live)["id"]


def test_create_with_a_resource_type_other_than_the_url_is_400_and_writes_nothing(live):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    assert_outcome(live.post("Patient", json=observation), 400, "invalid")
    assert versions(live, "Patient") == versions(live, "Observation") == []


# update ---------------------------------------------------------------------------------

def test_update_increments_the_version_and_etag(live):
    pid = create(live, active=True)["id"]
    response = live.put(f"Patient/{pid}", json=patient(id=pid, active=False))
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'
    assert response.headers["Location"] == f"{live.base}/Patient/{pid}/_history/2"
    assert response.json()["meta"]["versionId"] == "2"
    assert live.get(f"Patient/{pid}").json()["active"] is False


def test_update_of_a_new_client_id_creates_it_with_201(live):
    response = live.put("Patient/client-id", json=patient(id="client-id", active=True))
    assert response.status_code == 201
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Location"] == f"{live.base}/Patient/client-id/_history/1"
    assert live.get("Patient/client-id").json()["active"] is True


def test_update_with_the_current_if_match_succeeds(live):
    pid = create(live)["id"]
    response = live.put(f"Patient/{pid}", json=patient(id=pid, active=True),
                        headers={"If-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'


def test_update_with_a_stale_if_match_is_412_and_changes_nothing(live):
    pid = create(live, active=True)["id"]
    live.put(f"Patient/{pid}", json=patient(id=pid, active=False))
    response = live.put(f"Patient/{pid}", json=patient(id=pid, gender="other"),
                        headers={"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    current = live.get(f"Patient/{pid}").json()
    assert current["meta"]["versionId"] == "2" and "gender" not in current


def test_update_with_if_match_on_an_id_that_does_not_exist_is_412_and_creates_nothing(live):
    response = live.put("Patient/new", json=patient(id="new"), headers={"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert live.get("Patient/new").status_code == 404


def test_update_with_an_if_match_that_is_not_a_version_etag_is_400(live):
    pid = create(live)["id"]
    response = live.put(f"Patient/{pid}", json=patient(id=pid), headers={"If-Match": "xyz"})
    assert_outcome(response, 400, "invalid")
    assert len(versions(live)) == 1


def test_update_with_if_none_match_star_on_an_existing_id_is_412(live):
    pid = create(live, active=True)["id"]
    response = live.put(f"Patient/{pid}", json=patient(id=pid, active=False),
                        headers={"If-None-Match": "*"})
    assert_outcome(response, 412)
    assert live.get(f"Patient/{pid}").json()["active"] is True


def test_update_with_if_none_match_star_on_a_new_id_creates_it(live):
    response = live.put("Patient/fresh", json=patient(id="fresh"), headers={"If-None-Match": "*"})
    assert response.status_code == 201


@pytest.mark.parametrize("body", [patient(id="other"), patient()], ids=["mismatch", "missing"])
def test_update_whose_body_id_is_not_the_url_id_is_400_and_changes_nothing(live, body):
    pid = create(live)["id"]
    assert_outcome(live.put(f"Patient/{pid}", json=body), 400, "invalid")
    assert len(versions(live)) == 1
    assert live.get("Patient/other").status_code == 404


def test_update_with_a_resource_type_other_than_the_url_is_400(live):
    pid = create(live)["id"]
    body = {"resourceType": "Organization", "id": pid, "name": "Fiscalía"}
    assert_outcome(live.put(f"Patient/{pid}", json=body), 400, "invalid")
    assert live.get(f"Organization/{pid}").status_code == 404
    assert live.get(f"Patient/{pid}").json()["meta"]["versionId"] == "1"


# conditional create ---------------------------------------------------------------------

def test_conditional_create_without_a_match_creates(live):
    response = live.post("Patient", json=patient(identifier=ident("11")),
                         headers={"If-None-Exist": f"identifier={SYSTEM}|11"})
    assert response.status_code == 201
    assert len(versions(live)) == 1


def test_conditional_create_with_one_match_returns_it_with_200_and_writes_nothing(live):
    existing = create(live, identifier=ident("11"), active=True)
    response = live.post("Patient", json=patient(identifier=ident("11"), active=False),
                         headers={"If-None-Exist": f"identifier={SYSTEM}|11"})
    assert response.status_code == 200
    assert response.json() == existing
    assert response.headers["ETag"] == 'W/"1"'
    assert len(versions(live)) == 1


def test_conditional_create_accepts_criteria_prefixed_with_the_type(live):
    existing = create(live, identifier=ident("11"))
    response = live.post("Patient", json=patient(identifier=ident("11")),
                         headers={"If-None-Exist": f"Patient?identifier={SYSTEM}|11"})
    assert response.status_code == 200
    assert response.json()["id"] == existing["id"]


def test_conditional_create_with_two_matches_is_412_and_writes_nothing(live):
    create(live, identifier=ident("11"))
    duplicate(live, identifier=ident("11"))
    response = live.post("Patient", json=patient(identifier=ident("11")),
                         headers={"If-None-Exist": f"identifier={SYSTEM}|11"})
    assert_outcome(response, 412)
    assert len(versions(live)) == 2


# conditional update ---------------------------------------------------------------------

def test_conditional_update_without_a_match_creates(live):
    response = live.put(f"Patient?identifier={SYSTEM}|21", json=patient(identifier=ident("21")))
    assert response.status_code == 201
    assert response.headers["ETag"] == 'W/"1"'
    found = live.get("Patient", params={"identifier": f"{SYSTEM}|21"}).json()
    assert found["total"] == 1


def test_conditional_update_without_a_match_uses_the_body_id(live):
    response = live.put(f"Patient?identifier={SYSTEM}|21",
                        json=patient(id="chosen", identifier=ident("21")))
    assert response.status_code == 201
    assert response.json()["id"] == "chosen"


def test_conditional_update_with_one_match_updates_it(live):
    pid = create(live, identifier=ident("21"), active=True)["id"]
    response = live.put(f"Patient?identifier={SYSTEM}|21",
                        json=patient(identifier=ident("21"), active=False))
    assert response.status_code == 200
    assert response.json()["id"] == pid
    assert response.headers["ETag"] == 'W/"2"'
    assert live.get(f"Patient/{pid}").json()["active"] is False


def test_conditional_update_with_two_matches_is_412_and_changes_nothing(live):
    create(live, identifier=ident("21"))
    duplicate(live, identifier=ident("21"))
    response = live.put(f"Patient?identifier={SYSTEM}|21",
                        json=patient(identifier=ident("21"), active=True))
    assert_outcome(response, 412)
    assert len(versions(live)) == 2


def test_conditional_update_whose_body_id_differs_from_the_match_is_400(live):
    pid = create(live, identifier=ident("21"))["id"]
    response = live.put(f"Patient?identifier={SYSTEM}|21",
                        json=patient(id="someone-else", identifier=ident("21")))
    assert_outcome(response, 400, "invalid")
    assert len(versions(live)) == 1
    assert live.get(f"Patient/{pid}").json()["meta"]["versionId"] == "1"


def test_conditional_update_whose_body_id_exists_but_does_not_match_is_409(live):
    live.put("Patient/taken", json=patient(id="taken", identifier=ident("other")))
    response = live.put(f"Patient?identifier={SYSTEM}|21",
                        json=patient(id="taken", identifier=ident("21")))
    assert_outcome(response, 409, "conflict")
    assert live.get("Patient/taken").json()["identifier"] == ident("other")
    assert len(versions(live)) == 1


# conditional delete ---------------------------------------------------------------------

def test_conditional_delete_without_a_match_succeeds_and_writes_nothing(live):
    create(live, identifier=ident("31"))
    response = live.delete(f"Patient?identifier={SYSTEM}|none")
    assert response.status_code == 204
    assert len(versions(live)) == 1


def test_conditional_delete_with_one_match_deletes_it(live):
    pid = create(live, identifier=ident("31"))["id"]
    other = create(live, identifier=ident("32"))["id"]
    response = live.delete(f"Patient?identifier={SYSTEM}|31")
    assert response.status_code == 204
    assert live.get(f"Patient/{pid}").status_code == 410
    assert live.get(f"Patient/{other}").status_code == 200


def test_conditional_delete_with_two_matches_is_412_and_deletes_nothing(live):
    first = create(live, identifier=ident("31"))["id"]
    second = duplicate(live, identifier=ident("31"))["id"]
    assert_outcome(live.delete(f"Patient?identifier={SYSTEM}|31"), 412)
    assert live.get(f"Patient/{first}").status_code == 200
    assert live.get(f"Patient/{second}").status_code == 200


# conditional criteria the server cannot apply --------------------------------------------

BAD_CRITERIA = ["bogus=1", f"identifier:exact={SYSTEM}|1", f"identifier={SYSTEM}|1&_count=1",
                "_count=1", "_format=json"]


@pytest.mark.parametrize("criteria", BAD_CRITERIA)
def test_conditional_create_with_criteria_it_cannot_apply_is_400_and_writes_nothing(
        live, criteria):
    response = live.post("Patient", json=patient(identifier=ident("1")),
                         headers={"If-None-Exist": criteria})
    assert_outcome(response, 400)
    assert versions(live) == []


@pytest.mark.parametrize("criteria", BAD_CRITERIA)
def test_conditional_update_with_criteria_it_cannot_apply_is_400_and_writes_nothing(
        live, criteria):
    create(live, identifier=ident("1"), active=True)
    assert_outcome(live.put(f"Patient?{criteria}", json=patient(active=False)), 400)
    assert len(versions(live)) == 1


@pytest.mark.parametrize("criteria", BAD_CRITERIA)
def test_conditional_delete_with_criteria_it_cannot_apply_is_400_and_deletes_nothing(
        live, criteria):
    create(live, identifier=ident("1"))
    assert_outcome(live.delete(f"Patient?{criteria}"), 400)
    assert len(versions(live)) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_type_level_update_or_delete_without_criteria_is_400(live, method):
    create(live)
    response = live.http.request(method, live.url("Patient"), json=patient(active=True))
    assert_outcome(response, 400, "invalid")
    assert len(versions(live)) == 1


# delete ---------------------------------------------------------------------------------

def test_delete_is_204_and_the_resource_is_gone_from_read_and_search(live):
    pid = create(live)["id"]
    response = live.delete(f"Patient/{pid}")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"2"'
    assert live.get(f"Patient/{pid}").status_code == 410
    assert live.get("Patient", params={"_id": pid}).json()["total"] == 0


def test_delete_is_idempotent_and_writes_one_deletion(live):
    pid = create(live)["id"]
    assert live.delete(f"Patient/{pid}").status_code == 204
    assert live.delete(f"Patient/{pid}").status_code == 204
    assert len(versions(live)) == 2


def test_delete_of_an_id_that_never_existed_succeeds_and_writes_nothing(live):
    assert live.delete("Patient/never").status_code == 204
    assert versions(live) == []


def test_delete_keeps_the_history(live):
    pid = create(live, active=True)["id"]
    live.delete(f"Patient/{pid}")
    history = live.get(f"Patient/{pid}/_history").json()["entry"]
    assert [e["request"]["method"] for e in history] == ["DELETE", "POST"]
    assert live.get(f"Patient/{pid}/_history/1").json()["active"] is True


def test_delete_with_a_stale_if_match_is_412_and_deletes_nothing(live):
    pid = create(live)["id"]
    live.put(f"Patient/{pid}", json=patient(id=pid, active=True))
    assert_outcome(live.delete(f"Patient/{pid}", headers={"If-Match": 'W/"1"'}), 412)
    assert live.get(f"Patient/{pid}").status_code == 200


def test_update_after_delete_resurrects_the_resource_with_the_next_version(live):
    pid = create(live, active=True)["id"]
    live.delete(f"Patient/{pid}")
    response = live.put(f"Patient/{pid}", json=patient(id=pid, active=False))
    assert response.status_code == 201
    assert response.headers["ETag"] == 'W/"3"'
    current = live.get(f"Patient/{pid}")
    assert current.status_code == 200
    assert current.json()["meta"]["versionId"] == "3"
    assert current.json()["active"] is False


# Prefer: return -------------------------------------------------------------------------

def test_prefer_return_minimal_sends_no_body_but_keeps_the_headers(live):
    response = live.post("Patient", json=patient(), headers={"Prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert response.headers["ETag"] == 'W/"1"'
    location = response.headers["Location"]
    assert live.http.get(location).json()["meta"]["versionId"] == "1"


def test_prefer_return_minimal_on_update_sends_no_body(live):
    pid = create(live)["id"]
    response = live.put(f"Patient/{pid}", json=patient(id=pid, active=False),
                        headers={"Prefer": "return=minimal"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"2"'
    assert response.headers["Location"].endswith(f"/Patient/{pid}/_history/2")


def test_prefer_return_representation_sends_the_stored_resource(live):
    response = live.post("Patient", json=patient(active=True),
                         headers={"Prefer": "return=representation"})
    assert response.status_code == 201
    body = response.json()
    assert body["active"] is True and body["meta"]["versionId"] == "1"
    assert live.get(f"Patient/{body['id']}").json() == body


def test_prefer_return_operation_outcome_sends_an_outcome_with_the_headers(live):
    response = live.post("Patient", json=patient(), headers={"Prefer": "return=OperationOutcome"})
    assert response.status_code == 201
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "information"
    assert response.headers["ETag"] == 'W/"1"'
    assert "/Patient/" in response.headers["Location"]
    assert len(versions(live)) == 1


def test_prefer_return_operation_outcome_on_delete_is_200_with_an_outcome(live):
    pid = create(live)["id"]
    response = live.delete(f"Patient/{pid}", headers={"Prefer": "return=OperationOutcome"})
    assert response.status_code == 200
    assert response.json()["resourceType"] == "OperationOutcome"
    assert live.get(f"Patient/{pid}").status_code == 410


def test_an_update_that_changes_nothing_keeps_the_version_and_writes_no_history(live):
    created = create(live)
    same = {k: v for k, v in created.items() if k != "meta"}
    response = live.put(f"Patient/{created['id']}", json=same)
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"1"'
    history = live.get(f"Patient/{created['id']}/_history").json()
    assert len(history["entry"]) == 1
    changed = live.put(f"Patient/{created['id']}", json={**same, "active": False})
    assert changed.headers["ETag"] == 'W/"2"'


def test_delete_with_a_stale_if_match_on_a_deleted_resource_is_412(live):
    pid = create(live)["id"]
    assert live.delete(f"Patient/{pid}").status_code == 204
    assert live.delete(f"Patient/{pid}", headers={"If-Match": 'W/"1"'}).status_code == 412
    assert live.delete(f"Patient/{pid}", headers={"If-Match": 'W/"2"'}).status_code == 204
