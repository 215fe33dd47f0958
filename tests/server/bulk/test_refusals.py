"""What a kick-off cannot have: each refusal is an OperationOutcome with a 4xx status
and stores no job (``server/bulk/kickoff.py``, ``server/api/bulk_export.py``); and the
``Prefer: handling=lenient`` alternative the IG offers for unsupported parameters."""

from __future__ import annotations

import pytest

from server.api.bulk_export import MAX_ACTIVE
from tests.conftest import assert_outcome
from tests.server.access.institutions import POLICE, WOMENS_CENTRE
from tests.server.bulk.conftest import ASYNC, exported, finished, kick_off, lines, started

BAD = [
    ({"_outputFormat": "text/csv"}, "not-supported"),
    ({"_outputFormat": ["ndjson", "ndjson"]}, "invalid"),
    ({"_since": "2025-01-01"}, "invalid"),  # a date, not an instant
    ({"_since": "2025-01-01T10:00:00"}, "invalid"),  # no timezone
    ({"_since": "yesterday"}, "invalid"),
    ({"_since": ["2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z"]}, "invalid"),
    ({"_type": "Nope"}, "not-supported"),
    ({"_type": "AuditEvent"}, "not-supported"),  # the trail is the auditors'
    ({"_type": "Patient,,Observation"}, "invalid"),
    ({"_elements": "id"}, "not-supported"),
    ({"patient": "Patient/1"}, "not-supported"),
    ({"includeAssociatedData": "LatestProvenanceResources"}, "not-supported"),
    ({"_count": "10"}, "not-supported"),
    ({"_typeFilter": "Observation?_sort=date"}, "invalid"),
    ({"_typeFilter": "Observation?_include=Observation:subject"}, "invalid"),
    ({"_typeFilter": "Observation?no-such-param=1"}, "invalid"),
    ({"_typeFilter": "Observation?date=notadate"}, "invalid"),
    ({"_typeFilter": "status=final"}, "invalid"),
    ({"_typeFilter": "Observation?"}, "invalid"),
    ({"_type": "Patient", "_typeFilter": "Observation?status=final"}, "invalid"),
]


@pytest.mark.parametrize(("params", "code"), BAD, ids=[str(p) for p, _ in BAD])
def test_a_parameter_it_cannot_honour_is_400_and_stores_nothing(bulk, params, code):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    assert_outcome(kick_off(centre, **params), 400, code)
    assert bulk.live.app.extensions["amparo"].store.export_jobs() == []


def test_types_outside_a_survivors_record_are_400_at_the_patient_and_group_levels(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    assert_outcome(kick_off(centre, "Patient/$export", _type="Organization"), 400)
    group = centre.create({"resourceType": "Group", "type": "person", "actual": True})
    assert_outcome(kick_off(centre, f"Group/{group['id']}/$export", _type="Organization"),
                   400)


def test_the_kick_off_needs_prefer_respond_async(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    body = assert_outcome(centre.get("$export"), 400, "invalid")
    assert "respond-async" in body["issue"][0]["diagnostics"]
    assert_outcome(kick_off(centre, headers={"Prefer": "return=minimal"}), 400)


def test_a_post_kick_off_is_not_supported(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    answer = centre.request("POST", "$export", {"resourceType": "Parameters"}, ASYNC)
    assert_outcome(answer, 405)


def test_lenient_handling_ignores_unsupported_parameters_and_reports_them(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    centre.create({"resourceType": "Patient", "gender": "female"})
    answer = kick_off(centre, headers={"Prefer": "respond-async, handling=lenient"},
                      _type="Patient,Nope", _elements="id")
    assert answer.status_code == 202, answer.text
    result = finished(centre, bulk.path(answer.headers["Content-Location"])).json()
    assert [o["type"] for o in result["output"]] == ["Patient"]
    (error,) = result["error"]
    assert error["type"] == "OperationOutcome" and error["count"] == 2
    outcomes = lines(bulk, centre, error["url"])
    said = " ".join(o["issue"][0]["diagnostics"] for o in outcomes)
    assert "_elements" in said and "Nope" in said
    assert {o["issue"][0]["severity"] for o in outcomes} == {"warning"}


def test_a_type_the_scopes_do_not_allow_searching_is_403_and_left_out_by_default(bulk):
    narrow = bulk.institution(WOMENS_CENTRE, "TREAT", scope="system/Patient.rs")
    wide = bulk.institution(WOMENS_CENTRE, "TREAT")
    her = wide.create({"resourceType": "Patient", "gender": "female"})
    wide.create({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                 "subject": {"reference": f"Patient/{her['id']}"}})
    assert_outcome(kick_off(narrow, _type="Observation"), 403, "forbidden")
    status = started(bulk, narrow, "Patient/$export")
    found = exported(bulk, narrow, finished(narrow, status).json())
    assert set(found) == {"Patient"}


def test_break_the_glass_gets_no_export(bulk):
    police = bulk.institution(POLICE, "BTG", justification="riesgo vital inminente")
    body = assert_outcome(kick_off(police), 403, "forbidden")
    assert "break-the-glass" in body["issue"][0]["diagnostics"]


def test_an_r4_client_is_told_the_files_are_r4b(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    answer = kick_off(centre, headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert_outcome(answer, 406)


def test_a_kick_off_inside_a_bundle_is_refused_in_its_entry(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    answer = centre.bundle("batch", {"request": {"method": "GET", "url": "$export"}})
    assert answer.status_code == 200, answer.text
    (entry,) = answer.json()["entry"]
    assert entry["response"]["status"].startswith("400")
    assert bulk.live.app.extensions["amparo"].store.export_jobs() == []


def test_a_hidden_or_missing_group_is_404(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    police = bulk.institution(POLICE, "THREAT")
    group = centre.create({"resourceType": "Group", "type": "person", "actual": True})
    assert_outcome(kick_off(police, f"Group/{group['id']}/$export"), 404)
    assert_outcome(kick_off(centre, "Group/no-such-group/$export"), 404)


def test_a_client_with_too_many_exports_running_is_told_to_wait(bulk):
    bulk.worker.stop()  # none of them can finish
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    for _ in range(MAX_ACTIVE):
        started(bulk, centre)
    answer = kick_off(centre)
    assert_outcome(answer, 429, "throttled")
    assert answer.headers["Retry-After"].isdigit()
    other = bulk.institution(POLICE, "THREAT")
    assert kick_off(other).status_code == 202  # the limit is per client
