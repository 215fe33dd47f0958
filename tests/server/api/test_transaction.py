"""Transaction bundles over HTTP: https://hl7.org/fhir/R4B/http.html#transaction"""

from __future__ import annotations

import base64
import json
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import patient

RUN = "http://regcivil.cl/Validacion/RUN"


def tx(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "transaction", "entry": list(entries)}


def post(full_url: str, resource: dict, if_none_exist: str | None = None) -> dict:
    request = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist:
        request["ifNoneExist"] = if_none_exist
    return {"fullUrl": full_url, "resource": resource, "request": request}


def put(url: str, resource: dict, full_url: str | None = None, **request) -> dict:
    entry = {"resource": resource, "request": {"method": "PUT", "url": url, **request}}
    if full_url:
        entry["fullUrl"] = full_url
    return entry


def survivor(run: str) -> dict:
    return patient(identifier=[{"system": RUN, "value": run}], gender="female")


def history_total(live, type: str) -> int:
    return len(live.get(f"{type}/_history?_count=1000").json().get("entry", []))


def test_placeholders_are_replaced_everywhere_in_the_bundle(live):
    p, e, o = "urn:uuid:11111111-1111-4111-8111-111111111111", \
        "urn:uuid:22222222-2222-4222-8222-222222222222", \
        "urn:uuid:33333333-3333-4333-8333-333333333333"
    observation = {
        "resourceType": "Observation", "status": "final", "code": {"text": "incidente"},
        "subject": {"reference": p}, "encounter": {"reference": e},
        "text": {"status": "generated",
                 "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{p}">v</a></div>'},
        "extension": [{"url": "http://example.org/agresor", "valueReference": {"reference": p}},
                      {"url": "http://example.org/fuente", "valueUri": e}],
        "component": [{"code": {"text": "c"}, "valueString": "x"}],
    }
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": p}}
    response = live.post("", tx(post(o, observation), post(e, encounter),
                                post(p, survivor("11111111-1"))))
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    statuses = [entry["response"]["status"] for entry in result["entry"]]
    assert statuses == ["201 Created"] * 3
    pid = result["entry"][2]["response"]["location"].split("/")[1]
    eid = result["entry"][1]["response"]["location"].split("/")[1]
    stored = live.get(result["entry"][0]["response"]["location"].rsplit("/_history", 1)[0])
    obs = stored.json()
    assert obs["subject"]["reference"] == f"Patient/{pid}"
    assert obs["encounter"]["reference"] == f"Encounter/{eid}"
    assert obs["extension"][0]["valueReference"]["reference"] == f"Patient/{pid}"
    assert obs["extension"][1]["valueUri"] == f"Encounter/{eid}"
    assert f"Patient/{pid}" in obs["text"]["div"] and "urn:uuid" not in obs["text"]["div"]
    assert live.get(f"Encounter/{eid}").json()["subject"]["reference"] == f"Patient/{pid}"


def test_response_entries_carry_status_location_etag_and_last_modified(live):
    result = live.post("", tx(post("urn:uuid:a", survivor("1-9")))).json()
    response = result["entry"][0]["response"]
    assert response["location"].startswith("Patient/") and response["location"].endswith(
        "/_history/1")
    assert response["etag"] == 'W/"1"' and response["lastModified"]
    assert result["entry"][0]["resource"]["meta"]["versionId"] == "1"


def test_prefer_return_minimal_leaves_resources_out_of_the_response(live):
    result = live.post("", tx(post("urn:uuid:a", survivor("1-9"))),
                       headers={"Prefer": "return=minimal"}).json()
    assert "resource" not in result["entry"][0]
    assert result["entry"][0]["response"]["status"] == "201 Created"


def test_conditional_create_reuses_the_existing_resource_and_references_follow_it(live):
    first = live.post("Patient", survivor("12345678-5")).json()
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": "urn:uuid:p"}}
    result = live.post("", tx(
        post("urn:uuid:p", survivor("12345678-5"), f"identifier={RUN}|12345678-5"),
        post("urn:uuid:e", encounter))).json()
    assert result["entry"][0]["response"]["status"] == "200 OK"
    assert result["entry"][0]["response"]["location"] == f"Patient/{first['id']}/_history/1"
    assert result["entry"][1]["resource"]["subject"]["reference"] == f"Patient/{first['id']}"
    assert live.get(f"Patient/{first['id']}").json()["meta"]["versionId"] == "1"
    assert live.get(f"Patient?identifier={RUN}|12345678-5").json()["total"] == 1


def test_two_conditional_creates_with_the_same_criteria_make_one_resource(live):
    criteria = f"identifier={RUN}|22222222-2"
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": "urn:uuid:p2"}}
    result = live.post("", tx(
        post("urn:uuid:p1", survivor("22222222-2"), criteria),
        post("urn:uuid:p2", survivor("22222222-2"), criteria),
        post("urn:uuid:e", encounter)))
    assert result.status_code == 200, result.text
    entries = result.json()["entry"]
    assert [e["response"]["status"] for e in entries] == ["201 Created", "200 OK", "201 Created"]
    assert entries[0]["response"]["location"] == entries[1]["response"]["location"]
    found = live.get(f"Patient?{criteria}").json()
    assert found["total"] == 1
    assert entries[2]["resource"]["subject"]["reference"] == \
        f"Patient/{found['entry'][0]['resource']['id']}"


def test_placeholders_inside_conditional_urls_are_resolved(live):
    existing = live.post("Patient", survivor("9-9")).json()
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "identifier": [{"system": "urn:enc", "value": "1"}],
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": "urn:uuid:p"}}
    bundle = tx(post("urn:uuid:p", survivor("9-9"), f"identifier={RUN}|9-9"),
                put("Encounter?identifier=urn:enc|1&subject=urn:uuid:p", encounter,
                    "urn:uuid:e"))
    first = live.post("", bundle)
    assert first.status_code == 200, first.text
    eid = first.json()["entry"][1]["response"]["location"].split("/")[1]
    again = live.post("", bundle).json()
    # the second time the conditional update finds the encounter of this survivor (and,
    # the content being the same, writes no new version)
    assert again["entry"][1]["response"]["location"] == f"Encounter/{eid}/_history/1"
    assert live.get(f"Encounter?subject=Patient/{existing['id']}").json()["total"] == 1


def test_conditional_update_delete_and_a_plain_put_in_one_transaction(live):
    keep = live.post("Patient", survivor("1-1")).json()
    drop = live.post("Patient", survivor("2-2")).json()
    result = live.post("", tx(
        put(f"Patient?identifier={RUN}|1-1", {**survivor("1-1"), "active": True}),
        {"request": {"method": "DELETE", "url": f"Patient?identifier={RUN}|2-2"}},
        put("Patient/client-id-1", {**survivor("3-3"), "id": "client-id-1"}),
    ))
    assert result.status_code == 200, result.text
    statuses = [e["response"]["status"] for e in result.json()["entry"]]
    assert statuses == ["200 OK", "204 No Content", "201 Created"]
    assert live.get(f"Patient/{keep['id']}").json()["active"] is True
    assert live.get(f"Patient/{drop['id']}").status_code == 410
    assert live.get("Patient/client-id-1").status_code == 200


def test_entries_run_in_the_order_delete_post_put_get(live):
    target = live.post("Patient", survivor("5-5")).json()
    gone = live.post("Patient", survivor("6-6")).json()
    result = live.post("", tx(
        {"request": {"method": "GET", "url": f"Patient/{target['id']}"}},
        put(f"Patient/{target['id']}", {**target, "active": False}),
        {"request": {"method": "GET", "url": f"Patient?_id={gone['id']}"}},
        {"request": {"method": "DELETE", "url": f"Patient/{gone['id']}"}},
    )).json()
    read, _, search, _ = result["entry"]
    assert read["resource"]["active"] is False  # the GET ran after the PUT
    assert read["resource"]["meta"]["versionId"] == "2"
    assert search["resource"]["total"] == 0  # and after the DELETE


def test_a_failing_entry_rolls_back_the_whole_transaction_and_is_named(live):
    before = history_total(live, "Patient")
    bad = {"resourceType": "Patient", "gender": "not-a-gender"}
    response = live.post("", tx(post("urn:uuid:a", survivor("1-9")),
                                post("urn:uuid:b", survivor("2-7")),
                                post("urn:uuid:c", bad)))
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"][0].startswith("Bundle.entry[2]")
    assert history_total(live, "Patient") == before


def test_a_failure_found_while_writing_rolls_back_earlier_writes(live):
    live.post("Patient", survivor("7-7"))
    live.post("Patient", survivor("7-7"))  # two matches make the conditional create fail
    response = live.post("", tx(post("urn:uuid:a", survivor("1-9")),
                                {"request": {"method": "DELETE", "url": "Patient/whatever"}},
                                post("urn:uuid:b", survivor("7-7"), f"identifier={RUN}|7-7")))
    assert response.status_code == 412
    assert "Bundle.entry[2]" in response.json()["issue"][0]["diagnostics"]
    assert live.get(f"Patient?identifier={RUN}|1-9").json()["total"] == 0


def test_two_entries_changing_the_same_resource_are_refused(live):
    response = live.post("", tx(put("Patient/x", {**survivor("1-9"), "id": "x"}),
                                {"request": {"method": "DELETE", "url": "Patient/x"}}))
    assert response.status_code == 400
    assert live.get("Patient/x").status_code == 404


def test_a_placeholder_that_names_no_entry_is_refused(live):
    encounter = {"resourceType": "Encounter", "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB"}, "subject": {"reference": "urn:uuid:missing"}}
    response = live.post("", tx(post("urn:uuid:e", encounter)))
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["Bundle.entry[0]"]


def test_conditional_references_resolve_to_the_single_match(live):
    found = live.post("Patient", survivor("4-4")).json()
    flag = {"resourceType": "Flag", "status": "active", "code": {"text": "alerta"},
            "subject": {"reference": f"Patient?identifier={RUN}|4-4"}}
    result = live.post("", tx(post("urn:uuid:f", flag))).json()
    assert result["entry"][0]["resource"]["subject"]["reference"] == f"Patient/{found['id']}"
    none = {**flag, "subject": {"reference": f"Patient?identifier={RUN}|0-0"}}
    assert live.post("", tx(post("urn:uuid:g", none))).status_code == 412


def test_patch_entries_take_a_json_patch_binary(live):
    target = live.post("Patient", survivor("8-8")).json()
    operations = [{"op": "add", "path": "/active", "value": True}]
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json",
              "data": base64.b64encode(json.dumps(operations).encode()).decode()}
    result = live.post("", tx({"resource": binary, "request": {
        "method": "PATCH", "url": f"Patient/{target['id']}"}}))
    assert result.status_code == 200, result.text
    assert live.get(f"Patient/{target['id']}").json()["active"] is True


def test_if_match_in_an_entry_is_checked(live):
    target = live.post("Patient", survivor("3-1")).json()
    stale = put(f"Patient/{target['id']}", target, ifMatch='W/"7"')
    assert live.post("", tx(stale)).status_code == 412
    fresh = put(f"Patient/{target['id']}", target, ifMatch='W/"1"')
    assert live.post("", tx(fresh)).status_code == 200


@pytest.mark.parametrize("bundle, status", [
    ({"resourceType": "Bundle", "type": "document"}, 400),
    ({"resourceType": "Bundle", "type": "transaction", "entry": {"x": 1}}, 400),
    ({"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": {}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"request": {"method": "POST", "url": "Patient"}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"request": {"method": "TRACE", "url": "Patient"}}]}, 400),
    ({"resourceType": "Bundle", "type": "transaction",
      "entry": [{"resource": {"resourceType": "Observation", "status": "final",
                              "code": {"text": "x"}},
                 "request": {"method": "POST", "url": "Patient"}}]}, 400),
    ({"resourceType": "Patient"}, 400),
])
def test_malformed_bundles_are_refused_with_an_operation_outcome(live, bundle, status):
    response = live.post("", bundle)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert history_total(live, "Patient") == 0


def test_duplicate_full_urls_are_refused(live):
    response = live.post("", tx(post("urn:uuid:a", survivor("1-9")),
                                post("urn:uuid:a", survivor("2-7"))))
    assert response.status_code == 400


def test_a_bundle_over_the_entry_limit_is_413(tmp_path):
    from server.config import Settings
    from tests.conftest import serve

    for small in serve(Settings(store=f"sqlite:///{tmp_path / 'small.db'}",
                                max_bundle_entries=2)):
        response = small.post("", tx(*[post(f"urn:uuid:{i}", survivor("1-9"))
                                       for i in range(3)]))
        assert response.status_code == 413
        assert response.json()["resourceType"] == "OperationOutcome"


def test_concurrent_conditional_creates_make_one_resource(live):
    bundle = tx(post("urn:uuid:p", survivor("15-1"), f"identifier={RUN}|15-1"))
    statuses = []

    def send() -> None:
        import requests

        statuses.append(requests.post(live.base, json=bundle, timeout=30,
                                      auth=live.auth).status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 6
    assert live.get(f"Patient?identifier={RUN}|15-1").json()["total"] == 1


def test_the_standard_workload_bundle_is_accepted_whole(live):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    from fhir_workload import make_bundle  # the project's standard workload, vendored

    bundle, _ = make_bundle(1, 0, ["Organization/a", "Organization/b"])
    result = live.post("", bundle).json()
    assert [e["response"]["status"] for e in result["entry"]] == ["201 Created"] * 7
    task = [e["resource"] for e in result["entry"] if e["resource"]["resourceType"] == "Task"][0]
    assert task["focus"]["reference"].startswith("ServiceRequest/")
