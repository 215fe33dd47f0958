"""patch with JSON Patch (RFC 6902) over HTTP, and the FHIR test cases for JSON Patch.

See: https://hl7.org/fhir/R4B/http.html#patch
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest

from server.errors import FhirError
from server.patch import apply_json_patch
from tests.conftest import assert_outcome, patient

JSON_PATCH = "application/json-patch+json"
SYSTEM = "https://amparo.example/run"
CASES = Path(__file__).parents[2] / "data/fhir-test-cases/r4b/patch/json-patch-tests.json"



def send(live, path: str, operations: object, **headers):
    return live.patch(path, data=json.dumps(operations),
                      headers={"Content-Type": JSON_PATCH, **headers})


def stored(live, **fields) -> str:
    response = live.post("Patient", json=patient(**fields))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def current(live, pid: str) -> dict:
    return live.get(f"Patient/{pid}").json()


# the operations -------------------------------------------------------------------------

def test_replace_writes_a_new_version_with_the_value_replaced(live):
    pid = stored(live, active=True, gender="female")
    response = send(live, f"Patient/{pid}", [{"op": "replace", "path": "/active", "value": False}])
    assert response.status_code == 200
    assert response.headers["ETag"] == 'W/"2"'
    body = response.json()
    assert body["active"] is False and body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"
    assert current(live, pid) == body


def test_add_inserts_an_element_and_an_array_item(live):
    pid = stored(live, name=[{"given": ["Ana"]}])
    response = send(live, f"Patient/{pid}", [
        {"op": "add", "path": "/birthDate", "value": "1990-02-03"},
        {"op": "add", "path": "/name/0/given/-", "value": "María"}])
    assert response.status_code == 200
    assert current(live, pid)["birthDate"] == "1990-02-03"
    assert current(live, pid)["name"] == [{"given": ["Ana", "María"]}]


def test_remove_deletes_an_element(live):
    pid = stored(live, active=True, gender="female")
    response = send(live, f"Patient/{pid}", [{"op": "remove", "path": "/gender"}])
    assert response.status_code == 200
    assert "gender" not in current(live, pid)
    assert current(live, pid)["active"] is True


def test_a_passing_test_operation_lets_the_patch_apply(live):
    pid = stored(live, active=True)
    response = send(live, f"Patient/{pid}", [
        {"op": "test", "path": "/active", "value": True},
        {"op": "replace", "path": "/active", "value": False}])
    assert response.status_code == 200
    assert current(live, pid)["active"] is False


def test_patch_with_the_current_if_match_applies(live):
    pid = stored(live, active=True)
    response = send(live, f"Patient/{pid}", [{"op": "replace", "path": "/active", "value": False}],
                    **{"If-Match": 'W/"1"'})
    assert response.status_code == 200


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(live):
    pid = stored(live, active=True)
    send(live, f"Patient/{pid}", [{"op": "add", "path": "/gender", "value": "female"}])
    response = send(live, f"Patient/{pid}", [{"op": "replace", "path": "/active", "value": False}],
                    **{"If-Match": 'W/"1"'})
    assert_outcome(response, 412)
    assert current(live, pid)["active"] is True
    assert current(live, pid)["meta"]["versionId"] == "2"


# patches that cannot be applied ---------------------------------------------------------

@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "/id", "value": "other"},
    {"op": "remove", "path": "/id"},
    {"op": "replace", "path": "/resourceType", "value": "Group"},
    {"op": "remove", "path": "/resourceType"},
], ids=["replace-id", "remove-id", "replace-type", "remove-type"])
def test_patch_that_changes_id_or_resource_type_is_422_and_writes_nothing(live, operation):
    pid = stored(live, active=True)
    assert_outcome(send(live, f"Patient/{pid}", [operation]), 422)
    assert current(live, pid)["meta"]["versionId"] == "1"
    assert live.get("Patient/other").status_code == 404


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "/active", "value": "yes"},
    {"op": "add", "path": "/gender", "value": "abc"},
    {"op": "add", "path": "/colour", "value": "blue"},
    {"op": "add", "path": "/name", "value": []},
], ids=["wrong-type", "unknown-code", "unknown-element", "empty-array"])
def test_patch_that_makes_the_resource_invalid_is_422_and_writes_nothing(live, operation):
    pid = stored(live, active=True)
    body = assert_outcome(send(live, f"Patient/{pid}", [operation]), 422)
    assert body["issue"][0]["expression"][0].startswith("Patient.")
    assert live.get(f"Patient/{pid}/_history").json()["entry"][0]["request"]["method"] == "POST"
    assert current(live, pid)["meta"]["versionId"] == "1"


def test_a_failing_test_operation_is_422_and_writes_nothing(live):
    pid = stored(live, active=True)
    response = send(live, f"Patient/{pid}", [
        {"op": "test", "path": "/active", "value": False},
        {"op": "replace", "path": "/active", "value": False}])
    assert_outcome(response, 422)
    assert current(live, pid)["active"] is True


@pytest.mark.parametrize("path", ["/gender", "/name/3", "/name/0/family"])
def test_removing_what_is_not_there_is_422(live, path):
    pid = stored(live, name=[{"given": ["Ana"]}])
    assert_outcome(send(live, f"Patient/{pid}", [{"op": "remove", "path": path}]), 422)
    assert current(live, pid)["meta"]["versionId"] == "1"


def test_the_outcome_of_a_failed_patch_does_not_echo_the_resource(live):
    pid = stored(live, name=[{"family": "Reservado-7731"}])
    response = send(live, f"Patient/{pid}",
                    [{"op": "test", "path": "/name/0/family", "value": "Otro-5512"}])
    assert_outcome(response, 422)
    assert "Reservado-7731" not in response.text and "Otro-5512" not in response.text


# malformed requests ---------------------------------------------------------------------

@pytest.mark.parametrize("document", [
    b"[{", b"", b"{}", b'"replace"', b"[1]", b'[{"op": "frob", "path": "/a"}]',
    b'[{"op": "replace", "value": 1}]', b'[{"op": "replace", "path": "/active"}]',
    b'[{"op": "move", "path": "/a"}]', b'[{"op": "add", "path": 7, "value": 1}]',
], ids=["truncated", "empty", "object", "string", "number-op", "unknown-op", "no-path",
        "no-value", "move-without-from", "path-not-string"])
def test_a_malformed_patch_document_is_400_and_writes_nothing(live, document):
    pid = stored(live, active=True)
    response = live.patch(f"Patient/{pid}", data=document,
                          headers={"Content-Type": JSON_PATCH})
    assert_outcome(response, 400, "invalid")
    assert current(live, pid)["meta"]["versionId"] == "1"


@pytest.mark.parametrize("content_type", [
    "application/fhir+json", "application/json", "application/merge-patch+json",
    "application/xml-patch+xml", "text/plain"])
def test_a_patch_in_another_format_is_415(live, content_type):
    pid = stored(live, active=True)
    response = live.patch(f"Patient/{pid}", headers={"Content-Type": content_type},
                          data=json.dumps([{"op": "replace", "path": "/active", "value": False}]))
    assert_outcome(response, 415)
    assert current(live, pid)["active"] is True


def test_patch_of_a_deleted_resource_is_410(live):
    pid = stored(live, active=True)
    live.delete(f"Patient/{pid}")
    response = send(live, f"Patient/{pid}", [{"op": "replace", "path": "/active", "value": False}])
    assert_outcome(response, 410, "deleted")
    assert live.get(f"Patient/{pid}").status_code == 410


def test_patch_of_an_unknown_resource_is_404_and_creates_nothing(live):
    response = send(live, "Patient/unknown", [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 404, "not-found")
    assert live.get("Patient/unknown").status_code == 404


# conditional patch ----------------------------------------------------------------------

def identified(live, value: str) -> str:
    return stored(live, identifier=[{"system": SYSTEM, "value": value}])


def duplicated(live, value: str) -> str:
    """A second Patient with the identifier of another: a create would return the first
    (one woman, one Patient), so it is written by id, as an update that creates."""
    pid = f"duplicate-{uuid.uuid4()}"
    response = live.put(f"Patient/{pid}", json=patient(
        id=pid, identifier=[{"system": SYSTEM, "value": value}]))
    assert response.status_code == 201, response.text
    return pid


def test_conditional_patch_with_one_match_patches_it(live):
    pid = identified(live, "1")
    other = identified(live, "2")
    response = send(live, f"Patient?identifier={SYSTEM}|1",
                    [{"op": "add", "path": "/active", "value": True}])
    assert response.status_code == 200
    assert response.json()["id"] == pid
    assert current(live, pid)["active"] is True
    assert "active" not in current(live, other)


def test_conditional_patch_without_a_match_is_404(live):
    identified(live, "1")
    response = send(live, f"Patient?identifier={SYSTEM}|9",
                    [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 404)


def test_conditional_patch_with_two_matches_is_412_and_changes_nothing(live):
    first, second = identified(live, "1"), duplicated(live, "1")
    response = send(live, f"Patient?identifier={SYSTEM}|1",
                    [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 412)
    assert "active" not in current(live, first) and "active" not in current(live, second)


@pytest.mark.parametrize("criteria", ["", "?bogus=1", "?_count=1"])
def test_conditional_patch_with_criteria_it_cannot_apply_is_400(live, criteria):
    pid = identified(live, "1")
    response = send(live, f"Patient{criteria}", [{"op": "add", "path": "/active", "value": True}])
    assert_outcome(response, 400)
    assert "active" not in current(live, pid)


# the FHIR test cases for JSON Patch ------------------------------------------------------

def _cases() -> list:
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    return [pytest.param(case, id=case["comment"]) for case in cases]


@pytest.mark.parametrize("case", _cases())
def test_fhir_json_patch_test_case(case):
    document = copy.deepcopy(case["doc"])
    if "error" in case:
        with pytest.raises(FhirError) as raised:
            apply_json_patch(document, case["patch"])
        assert raised.value.status == 422
    else:
        assert apply_json_patch(document, case["patch"]) == case["expected"]
    assert document == case["doc"]  # the input is never changed in place
