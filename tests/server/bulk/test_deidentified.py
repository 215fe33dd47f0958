"""The de-identified export of the statistics purpose (PUBHLTH), over real HTTP, on the
synthetic survivor journeys (``server/synth``): what leaves is only the de-identified
form the policy allows (``server/analytics/``), pseudonyms are stable within an export
and differ across exports, dates move by one offset per survivor, and a survivor who
declined statistical use is absent from it entirely."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from datetime import date

import orjson
import pytest

from profiles import validate_structure
from server.analytics.policy import statistics_policy
from server.bulk.manifest import DEIDENTIFIED
from server.bulk.worker import ExportWorker
from server.loading import load_bundles
from server.search.query import SearchQuery
from server.synth import journeys
from tests.conftest import assert_outcome
from tests.server.access.institutions import POLICE
from tests.server.bulk.conftest import exported, kick_off, manifest

STATISTICS = "sernameg"  # the kind the policy names
CASES, SEED = 8, 3
PUBHLTH = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RUN = "http://regcivil.cl/Validacion/RUN"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@pytest.fixture
def amparo(bulk):
    services = bulk.live.app.extensions["amparo"]
    load_bundles(services.store, services.settings, journeys(CASES, SEED))
    return services


def originals(amparo, type: str) -> list[dict]:
    """Every current ``type`` resource as stored, in the store's insertion order (the
    order the export reads them in): what the test compares the files with."""
    page = amparo.store.search(SearchQuery(type, count=10_000, total=False))
    return [orjson.loads(m.body) for m in page.matches]


def statistics_export(bulk, **params) -> tuple[dict, dict[str, list[dict]], str]:
    """(manifest, resources by type, the files' raw text) of a PUBHLTH export."""
    analyst = bulk.institution(STATISTICS, "PUBHLTH")
    result = manifest(bulk, analyst, **params)
    text = "".join(analyst.get(bulk.path(o["url"])).text for o in result["output"])
    return result, exported(bulk, analyst, result), text


def declines(patient: str) -> dict:
    """Her Consent refusing the statistical use of her data (a SharingConsent deny)."""
    return {"resourceType": "Consent", "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": patient}, "dateTime": "2025-01-01",
            "provision": {"type": "deny", "period": {"start": "2025-01-01", "end": "2099-01-01"},
                          "purpose": [{"system": PUBHLTH, "code": "PUBHLTH"}]}}


def strings(value: object) -> set[str]:
    if isinstance(value, dict):
        return {s for v in value.values() for s in strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in strings(v)}
    return {value} if isinstance(value, str) else set()


def test_only_the_deidentified_form_of_the_allowed_types_leaves(bulk, amparo):
    result, found, text = statistics_export(bulk)
    assert result["extension"] == {DEIDENTIFIED: True}
    assert set(found) <= set(statistics_policy().types) and "DocumentReference" not in found
    patients = originals(amparo, "Patient")
    secrets = set()
    for type in found:
        for resource in originals(amparo, type):
            secrets.add(resource["id"])
            for key in ("identifier", "name", "telecom", "contact", "text"):
                secrets |= strings(resource.get(key))
            secrets |= {line for a in resource.get("address", []) for line in a.get("line", [])}
    secrets -= {"official", "usual", "mobile", "phone", "home", "Chile", "CL", "152",
                "NNCHL", "http://regcivil.cl/Validacion/RUN"}  # codes, not identities
    secrets = {s for s in secrets if len(s) > 3 and not s.startswith("http")}
    assert secrets and not [s for s in secrets if s in text]
    for patient in found["Patient"]:
        assert not {"identifier", "name", "telecom", "contact", "text", "photo",
                    "link"} & set(patient)
        assert re.fullmatch(r"\d{4}", patient.get("birthDate", "0000"))
        for address in patient.get("address", []):
            assert set(address) <= {"use", "type", "city", "_city", "district", "_district",
                                    "state", "_state", "country"}
    kept = {e["valueCodeableConcept"]["coding"][0]["code"] for p in found["Patient"]
            for a in p.get("address", []) for e in a.get("_city", {}).get("extension", [])
            if e["url"] == COMUNA}
    stored = {e["valueCodeableConcept"]["coding"][0]["code"] for p in patients
              for a in p.get("address", []) for e in a.get("_city", {}).get("extension", [])
              if e["url"] == COMUNA}
    assert kept == stored and kept  # the comunas are kept
    assert sorted(p.get("birthDate") for p in found["Patient"]) == sorted(
        p["birthDate"][:4] for p in patients if "birthDate" in p)
    for resource in (r for rs in found.values() for r in rs):
        assert validate_structure(resource) == [], resource["resourceType"]
        assert "identifier" not in resource and "versionId" not in resource.get("meta", {})


def test_every_record_leaves_but_the_very_restricted(bulk, amparo):
    _, found, _ = statistics_export(bulk)
    for type, resources in found.items():
        stored = [r for r in originals(amparo, type)
                  if "V" not in {s["code"] for s in r.get("meta", {}).get("security", [])}]
        assert len(resources) == len(stored), type
    assert len(found["Encounter"]) == len(originals(amparo, "Encounter")) - 1


def test_dates_move_by_one_offset_per_survivor_and_lose_their_time(bulk, amparo):
    """The files keep the store's order, so the n-th exported Encounter is the n-th
    stored one that may leave."""
    _, found, _ = statistics_export(bulk)
    stored = [r for r in originals(amparo, "Encounter")
              if "V" not in {s["code"] for s in r.get("meta", {}).get("security", [])}]
    shifts: dict[str, set[int]] = defaultdict(set)
    for before, after in zip(stored, found["Encounter"], strict=True):
        start = after["period"]["start"]
        assert _DATE.fullmatch(start)  # a day, no time
        days = (date.fromisoformat(start) - date.fromisoformat(before["period"]["start"][:10])).days
        shifts[after["subject"]["reference"]].add(days)
    assert len(shifts) > 1
    assert all(len(days) == 1 and -30 <= next(iter(days)) <= 30 for days in shifts.values())


def test_a_survivors_pseudonym_is_stable_within_an_export_and_new_in_the_next(bulk, amparo):
    _, first, _ = statistics_export(bulk)
    pseudonyms = {p["id"] for p in first["Patient"]}
    assert len(pseudonyms) == CASES
    assert not pseudonyms & {p["id"] for p in originals(amparo, "Patient")}
    named = {r["subject"]["reference"] for r in first["Encounter"] + first["Observation"]
             if "subject" in r}
    assert named and named <= {f"Patient/{p}" for p in pseudonyms}
    assert {r["patient"]["reference"] for r in first["EpisodeOfCare"]} <= \
        {f"Patient/{p}" for p in pseudonyms}
    _, second, _ = statistics_export(bulk)
    assert len({p["id"] for p in second["Patient"]}) == CASES
    assert not pseudonyms & {p["id"] for p in second["Patient"]}  # exports cannot be joined


def test_a_survivor_who_declined_statistical_use_is_left_out_entirely(bulk, amparo):
    patients = originals(amparo, "Patient")
    her = f"Patient/{patients[2]['id']}"
    load_bundles(amparo.store, amparo.settings, [{
        "resourceType": "Bundle", "type": "transaction",
        "entry": [{"resource": declines(her), "request": {"method": "POST", "url": "Consent"}}]}])
    _, found, text = statistics_export(bulk)
    assert len(found["Patient"]) == CASES - 1
    for type, resources in found.items():
        stored = [r for r in originals(amparo, type)
                  if "V" not in {s["code"] for s in r.get("meta", {}).get("security", [])}
                  and her not in (f"Patient/{r['id']}", *re.findall(
                      r"Patient/[A-Za-z0-9\-.]+", orjson.dumps(r).decode()))]
        assert len(resources) == len(stored), type
    assert patients[2]["id"] not in text


def test_who_may_not_have_the_deidentified_export(bulk, amparo):
    analyst = bulk.institution(STATISTICS, "PUBHLTH")
    group = analyst.create({"resourceType": "Group", "type": "person", "actual": True})
    assert_outcome(kick_off(analyst, f"Group/{group['id']}/$export"), 403, "forbidden")
    assert_outcome(kick_off(analyst, _typeFilter="Patient?gender=female"), 403, "forbidden")
    assert_outcome(kick_off(analyst, _type="DocumentReference"), 400)
    police = bulk.institution(POLICE, "PUBHLTH")  # a kind the policy does not name
    assert_outcome(kick_off(police), 403, "forbidden")
    assert bulk.live.app.extensions["amparo"].store.export_jobs() == []


def test_the_same_institution_for_another_purpose_reads_only_what_its_gate_allows(
        bulk, amparo):
    treat = bulk.institution(STATISTICS, "TREAT")
    result = manifest(bulk, treat, "Patient/$export")
    assert "extension" not in result
    assert "Patient" not in {o["type"] for o in result["output"]}


def test_a_run_that_dies_starts_over_with_a_new_key(bulk, amparo):
    """The key is never stored, so a resumed run cannot continue the dead run's files:
    it starts over, and the result is as consistent as an uninterrupted export."""
    bulk.worker.stop()
    analyst = bulk.institution(STATISTICS, "PUBHLTH")
    answer = kick_off(analyst, _type="Patient,Encounter")
    status = bulk.path(answer.headers["Content-Location"])
    first = ExportWorker(amparo.store, amparo.repo, bulk.config, owner="a", ttl_seconds=0.2)
    assert first.run_once() == 1
    time.sleep(0.25)  # it dies: its lease expires
    second = ExportWorker(amparo.store, amparo.repo, bulk.config, owner="b", ttl_seconds=0.2)
    while second.run_once():
        pass
    result = analyst.get(status).json()
    found = exported(bulk, analyst, result)
    assert {o["url"].rsplit("/", 1)[1].split("-")[1] for o in result["output"]} == {"2"}
    named = {e["subject"]["reference"] for e in found["Encounter"]}
    assert named <= {f"Patient/{p['id']}" for p in found["Patient"]}
    assert len(found["Patient"]) == CASES
    body = amparo.store.export_job(status.rsplit("/", 1)[1]).body
    assert set(orjson.loads(body)) == {"request", "principal", "progress", "error"}
    assert "key" not in orjson.loads(body)["progress"]

