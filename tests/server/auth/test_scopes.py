"""Scopes over HTTP: an action outside the token's scopes is 403 with an
OperationOutcome and changes nothing (``server/auth/permissions.py``), and the scope
algebra itself (``server/auth/scopes.py``)."""

from __future__ import annotations

import requests

from server.auth import scopes
from tests.conftest import assert_outcome, patient
from tests.server.auth.helpers import bearer, token_of

#: The test server's own client's institution (``tests/conftest.py``): the author of what
#: ``live`` writes, so the only one besides it that reads those records.
AUTHOR = "amparo-tests"


def call(live, method: str, path: str, token: str, **kwargs) -> requests.Response:
    return requests.request(method, live.url(path), headers={**bearer(token),
                            **kwargs.pop("headers", {})}, timeout=30, **kwargs)


def test_a_read_only_token_reads_and_searches_but_cannot_write(live):
    pid = live.post("Patient", patient()).json()["id"]
    token = token_of(live, "system/Patient.rs", org=AUTHOR)  # the institution that wrote it
    assert call(live, "GET", f"Patient/{pid}", token).status_code == 200
    assert call(live, "GET", "Patient", token).status_code == 200
    assert call(live, "GET", f"Patient/{pid}/_history", token).status_code == 200
    body = assert_outcome(call(live, "POST", "Patient", token, json=patient()), 403,
                          "forbidden")
    assert "create" in body["issue"][0]["diagnostics"]
    assert_outcome(call(live, "PUT", f"Patient/{pid}", token,
                        json=patient(id=pid, active=True)), 403, "forbidden")
    assert_outcome(call(live, "DELETE", f"Patient/{pid}", token), 403, "forbidden")
    assert_outcome(call(live, "PATCH", f"Patient/{pid}", token, data=b"[]", headers={
        "Content-Type": "application/json-patch+json"}), 403, "forbidden")
    assert live.get(f"Patient/{pid}").json()["meta"]["versionId"] == "1"
    assert live.get("Patient").json()["total"] == 1


def test_each_permission_is_needed_for_its_interaction(live):
    pid = live.post("Patient", patient()).json()["id"]
    read_only = token_of(live, "system/Patient.r", org=AUTHOR)
    assert call(live, "GET", f"Patient/{pid}", read_only).status_code == 200
    assert_outcome(call(live, "GET", "Patient", read_only), 403, "forbidden")
    assert_outcome(call(live, "POST", "Patient/_search", read_only), 403, "forbidden")
    search_only = token_of(live, "system/Patient.s", org=AUTHOR)
    assert call(live, "GET", "Patient", search_only).status_code == 200
    assert_outcome(call(live, "GET", f"Patient/{pid}", search_only), 403, "forbidden")
    other_type = token_of(live, "system/Observation.cruds", org=AUTHOR)
    assert_outcome(call(live, "GET", f"Patient/{pid}", other_type), 403, "forbidden")
    delete = token_of(live, "system/Patient.d", org=AUTHOR)
    assert call(live, "DELETE", f"Patient/{pid}", delete).status_code in (200, 204)


def test_conditional_writes_also_need_search(live):
    create_only = token_of(live, "system/Patient.c")
    assert call(live, "POST", "Patient", create_only, json=patient()).status_code == 201
    conditional = call(live, "POST", "Patient", create_only, json=patient(),
                       headers={"If-None-Exist": "identifier=x|1"})
    assert_outcome(conditional, 403, "forbidden")
    assert_outcome(call(live, "PUT", "Patient?identifier=x|1", create_only, json=patient()),
                   403, "forbidden")
    both = token_of(live, "system/Patient.cs")
    assert call(live, "POST", "Patient", both, json=patient(),
                headers={"If-None-Exist": "identifier=x|1"}).status_code == 201


def test_system_history_needs_search_on_every_type(live):
    assert_outcome(call(live, "GET", "_history", token_of(live, "system/Patient.rs")), 403,
                   "forbidden")
    assert call(live, "GET", "_history", token_of(live, "system/*.s")).status_code == 200


def test_a_transaction_with_one_entry_outside_the_scopes_is_403_naming_it(live):
    token = token_of(live, "system/Patient.cruds")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                      "subject": {"reference": "urn:uuid:p"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    body = assert_outcome(call(live, "POST", "", token, json=bundle), 403, "forbidden")
    issue = body["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1]"]
    assert "Observation" in issue["diagnostics"]
    assert live.get("Patient").json()["total"] == 0  # nothing written
    bundle["entry"].pop()
    assert call(live, "POST", "", token, json=bundle).status_code == 200


def test_a_forbidden_batch_entry_gets_403_in_its_own_response_and_the_others_run(live):
    token = token_of(live, "system/Patient.rs", org=AUTHOR)
    patient_id = live.post("Patient", json=patient()).json()["id"]
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": f"Patient/{patient_id}"}},
        {"request": {"method": "DELETE", "url": f"{live.base}/Patient/{patient_id}"}},
        {"request": {"method": "GET", "url": "Patient"}}]}
    response = call(live, "POST", "", token, json=batch)
    assert response.status_code == 200, response.text
    first, forbidden, search = response.json()["entry"]
    assert first["response"]["status"].startswith("200")
    assert search["response"]["status"].startswith("200")
    assert forbidden["response"]["status"].startswith("403")
    issue = forbidden["response"]["outcome"]["issue"][0]
    assert (issue["code"], issue["expression"]) == ("forbidden", ["Bundle.entry[1]"])
    assert live.get(f"Patient/{patient_id}").status_code == 200  # not deleted


def test_operations_need_read_on_their_type_and_validate_a_write_permission(live):
    reader = token_of(live, "system/ValueSet.r")
    assert call(live, "GET", "ValueSet/proposito-uso/$expand", reader).status_code != 403
    assert_outcome(call(live, "GET", "CodeSystem/$lookup?system=x&code=y", reader), 403,
                   "forbidden")
    checker = token_of(live, "system/Patient.c")
    assert call(live, "POST", "Patient/$validate", checker, json=patient()).status_code == 200
    assert_outcome(call(live, "POST", "Patient/$validate", reader, json=patient()), 403,
                   "forbidden")


# the scope algebra -------------------------------------------------------------------------


def parsed(text: str) -> list[scopes.Scope]:
    found, refused = scopes.parse_all(text)
    assert not refused
    return found


def test_v1_scopes_map_to_v2_and_unknown_forms_are_not_scopes():
    assert scopes.parse("system/Patient.read") == scopes.Scope("Patient", "rs")
    assert scopes.parse("system/*.write") == scopes.Scope("*", "cud")
    assert scopes.parse("system/*.*") == scopes.Scope("*", "cruds")
    for text in ("patient/*.rs", "user/Patient.read", "system/Patient.sr", "system/Nope.rs",
                 "system/Patient.rs?category=x", "system/Patient.rr", "system/Patient.",
                 "openid"):
        assert scopes.parse(text) is None, text


def test_the_grant_is_the_intersection_of_requested_and_allowed():
    grant = scopes.grant(parsed("system/*.cruds"), parsed("system/Patient.rs system/Flag.c"))
    assert [str(s) for s in grant] == ["system/Flag.c", "system/Patient.rs"]
    grant = scopes.grant(parsed("system/Patient.cruds system/*.r"), parsed("system/*.rs"))
    assert [str(s) for s in grant] == ["system/*.r", "system/Patient.s"]
    assert scopes.grant(parsed("system/Patient.d"), parsed("system/*.rs")) == ()


def test_allows_reads_the_wildcard_and_the_type():
    granted = frozenset({"system/*.r", "system/Patient.cs"})
    assert scopes.allows(granted, "Observation", "r")
    assert scopes.allows(granted, "Patient", "c") and scopes.allows(granted, "Patient", "s")
    assert not scopes.allows(granted, "Observation", "s")
    assert not scopes.allows(granted, None, "s") and scopes.allows(granted, None, "r")
