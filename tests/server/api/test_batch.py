"""Batch bundles over HTTP: each entry on its own (https://hl7.org/fhir/R4B/http.html#transaction)."""

from __future__ import annotations

from tests.conftest import patient


def batch(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def test_a_failing_entry_does_not_stop_the_others(live):
    existing = live.post("Patient", patient(gender="female")).json()
    result = live.post("", batch(
        {"resource": patient(gender="male"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": patient(gender="nope"), "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": f"Patient/{existing['id']}"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"request": {"method": "DELETE", "url": f"Patient/{existing['id']}"}},
    ))
    assert result.status_code == 200
    body = result.json()
    assert body["type"] == "batch-response"
    statuses = [e["response"]["status"] for e in body["entry"]]
    assert statuses == ["201 Created", "422 Unprocessable Entity", "200 OK", "404 Not Found",
                        "204 No Content"]
    outcome = body["entry"][1]["response"]["outcome"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"][0].startswith("Bundle.entry[1]")
    assert body["entry"][2]["resource"]["id"] == existing["id"]
    created = body["entry"][0]["response"]["location"].split("/")[1]
    assert live.get(f"Patient/{created}").status_code == 200
    assert live.get(f"Patient/{existing['id']}").status_code == 410


def test_placeholders_between_batch_entries_are_refused_per_entry(live):
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": "urn:uuid:p"}}
    result = live.post("", batch(
        {"fullUrl": "urn:uuid:p", "resource": patient(),
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
    )).json()
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created",
                                                                   "400 Bad Request"]
    assert live.get("Encounter/_history").json().get("entry") is None


def test_a_malformed_entry_is_reported_in_its_place(live):
    result = live.post("", batch({"request": {"method": "POST"}},
                                 {"resource": patient(), "request": {"method": "POST",
                                                                     "url": "Patient"}}))
    statuses = [e["response"]["status"] for e in result.json()["entry"]]
    assert statuses == ["400 Bad Request", "201 Created"]
