"""The asynchronous pattern of the Bulk Data IG v2 over real HTTP: kick-off, polling,
manifest, NDJSON files, and what ``_type``, ``_since``, ``_typeFilter`` and the
Patient and Group levels select (``server/api/bulk_export.py``, ``server/bulk/``).
See https://hl7.org/fhir/uv/bulkdata/STU2/export.html"""

from __future__ import annotations

import time
from dataclasses import replace

from profiles import ig
from server import clock
from tests.server.access.institutions import WOMENS_CENTRE
from tests.server.bulk.conftest import (
    exported,
    finished,
    ids,
    kick_off,
    lines,
    manifest,
    started,
)


def record(centre, incidents: int = 3) -> tuple[dict, list[dict]]:
    """A survivor and ``incidents`` incidents about her, written by ``centre``."""
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
    made = [centre.create({"resourceType": "Observation", "status": "final",
                           "code": {"text": f"incidente {n}"},
                           "subject": {"reference": f"Patient/{her['id']}"}})
            for n in range(incidents)]
    return her, made


def test_a_kick_off_polls_to_a_manifest_whose_files_hold_the_current_resources(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = record(centre, incidents=10)  # several pages of 7
    answer = kick_off(centre, _type="Patient,Observation")
    assert answer.status_code == 202, answer.text
    status = bulk.path(answer.headers["Content-Location"])
    assert status.startswith("bulk-export/")
    done = finished(centre, status)
    assert done.status_code == 200, done.text
    assert done.headers["Content-Type"] == "application/json"
    assert done.headers["Expires"].endswith(" GMT")
    result = done.json()
    assert result["request"] == f"{bulk.live.base}/$export?_type=Patient,Observation"
    assert result["requiresAccessToken"] is True and result["error"] == []
    assert clock.parse_instant(result["transactionTime"]) <= clock.now()[1]
    assert [(o["type"], o["count"]) for o in result["output"]] == [("Observation", 10),
                                                                    ("Patient", 1)]
    found = exported(bulk, centre, result)
    assert ids(found, "Observation") == sorted(o["id"] for o in incidents)
    assert found["Patient"] == [centre.get(f"Patient/{her['id']}").json()]


def test_a_type_spreads_over_several_files_when_it_outgrows_one(bulk):
    bulk.worker.config = replace(bulk.config, file_resources=4)
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    _, incidents = record(centre, incidents=10)
    result = manifest(bulk, centre, _type="Observation")
    assert [o["count"] for o in result["output"]] == [4, 4, 2]
    assert len({o["url"] for o in result["output"]}) == 3
    assert ids(exported(bulk, centre, result), "Observation") == \
        sorted(o["id"] for o in incidents)


def test_type_selects_types_and_may_be_repeated(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, _ = record(centre)
    centre.create({"resourceType": "Encounter", "status": "finished",
                   "class": {"code": "AMB"}, "subject": {"reference": f"Patient/{her['id']}"}})
    only = manifest(bulk, centre, _type="Encounter")
    assert [o["type"] for o in only["output"]] == ["Encounter"]
    both = manifest(bulk, centre, _type=["Encounter", "Patient"])
    assert [o["type"] for o in both["output"]] == ["Encounter", "Patient"]


def test_without_type_a_system_export_holds_every_type_the_caller_may_search(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    record(centre)
    found = exported(bulk, centre, manifest(bulk, centre))
    assert {"Patient", "Observation", "Organization"} <= set(found)
    assert "AuditEvent" not in found


def test_since_keeps_what_changed_after_it(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = record(centre)
    time.sleep(0.01)
    since = clock.now()[0]
    time.sleep(0.01)
    changed = {**incidents[1], "status": "amended"}
    assert centre.put(f"Observation/{changed['id']}", changed).status_code == 200
    new = centre.create({"resourceType": "Observation", "status": "final",
                         "code": {"text": "nuevo"},
                         "subject": {"reference": f"Patient/{her['id']}"}})
    found = exported(bulk, centre, manifest(bulk, centre, _type="Observation,Patient",
                                            _since=since))
    assert ids(found, "Observation") == sorted([changed["id"], new["id"]])
    assert "Patient" not in found


def test_what_changes_after_the_transaction_time_is_left_out(bulk):
    """The kick-off fixes ``transactionTime``; the worker is held until the record has
    changed, so the change is certainly later."""
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = record(centre)
    bulk.worker.stop()
    status = started(bulk, centre, _type="Observation")
    later = centre.create({"resourceType": "Observation", "status": "final",
                           "code": {"text": "después"},
                           "subject": {"reference": f"Patient/{her['id']}"}})
    bulk.worker.start()
    result = finished(centre, status).json()
    found = ids(exported(bulk, centre, result), "Observation")
    assert found == sorted(o["id"] for o in incidents) and later["id"] not in found


def test_type_filters_of_a_type_are_or_ed_without_repeats(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "gender": "female"})
    made = {}
    for status, code in (("final", "a"), ("final", "b"), ("amended", "a"),
                         ("preliminary", "b"), ("preliminary", "c")):
        made[status, code] = centre.create({
            "resourceType": "Observation", "status": status,
            "code": {"coding": [{"system": "urn:test", "code": code}]},
            "subject": {"reference": f"Patient/{her['id']}"}})["id"]
    result = manifest(bulk, centre, _type="Observation,Patient",
                      _typeFilter="Observation?status=final,Observation?code=urn:test|a")
    found = exported(bulk, centre, result)
    assert ids(found, "Observation") == sorted(
        [made["final", "a"], made["final", "b"], made["amended", "a"]])
    assert ids(found, "Patient") == [her["id"]]  # a type without a filter: all of it
    repeated = manifest(bulk, centre, _type="Observation",
                        _typeFilter=["Observation?status=preliminary",
                                     "Observation?code=urn:test|c,b"])
    assert ids(exported(bulk, centre, repeated), "Observation") == sorted(
        [made["preliminary", "b"], made["preliminary", "c"], made["final", "b"]])


def test_a_patient_export_holds_survivors_records_only(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = record(centre)
    loose = centre.create({"resourceType": "Observation", "status": "final",
                           "code": {"text": "sin sujeto"}})
    found = exported(bulk, centre, manifest(bulk, centre, "Patient/$export"))
    assert set(found) == {"Patient", "Observation"}
    assert ids(found, "Observation") == sorted(o["id"] for o in incidents)
    assert loose["id"] not in ids(found, "Observation")


def test_a_group_export_holds_its_active_members_records(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    her, incidents = record(centre)
    other, theirs = record(centre)
    former, _ = record(centre)
    group = centre.create({"resourceType": "Group", "type": "person", "actual": True,
                           "member": [{"entity": {"reference": f"Patient/{her['id']}"}},
                                      {"entity": {"reference": f"Patient/{former['id']}"},
                                       "inactive": True}]})
    found = exported(bulk, centre, manifest(bulk, centre, f"Group/{group['id']}/$export"))
    assert ids(found, "Patient") == [her["id"]]
    assert ids(found, "Observation") == sorted(o["id"] for o in incidents)


def test_the_three_output_formats_of_the_ig_are_accepted(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    record(centre, incidents=1)
    for fmt in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
        result = manifest(bulk, centre, _type="Patient", _outputFormat=fmt)
        assert [o["count"] for o in result["output"]] == [1]


def test_an_export_with_nothing_to_carry_completes_with_no_output(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    result = manifest(bulk, centre, _type="Observation")
    assert result["output"] == [] and result["error"] == []


def test_a_file_download_streams_exactly_its_committed_lines(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    record(centre, incidents=9)
    result = manifest(bulk, centre, _type="Observation")
    (item,) = result["output"]
    answer = centre.request("GET", bulk.path(item["url"]))
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    assert len(lines(bulk, centre, item["url"])) == item["count"] == 9


def test_the_capability_statement_names_the_bulk_data_operations(bulk):
    centre = bulk.institution(WOMENS_CENTRE, "TREAT")
    statement = centre.get("metadata").json()
    assert statement["instantiates"] == [
        "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"]
    (rest,) = statement["rest"]
    amparo = "https://fhir.amparo.cl/OperationDefinition/"
    assert {"name": "export", "definition": amparo + "export"} in rest["operation"]
    by_type = {r["type"]: r.get("operation", []) for r in rest["resource"]}
    assert {"name": "export", "definition": amparo + "Patient-export"} in by_type["Patient"]
    assert {"name": "export", "definition": amparo + "Group-export"} in by_type["Group"]
    ours = {d["id"]: d["comment"] for d in ig.operation_definitions() if d["code"] == "export"}
    for id, name in (("export", "export"), ("Patient-export", "patient-export"),
                     ("Group-export", "group-export")):  # each names the IG's it implements
        assert f"http://hl7.org/fhir/uv/bulkdata/OperationDefinition/{name} " in ours[id]
