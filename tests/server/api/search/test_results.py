"""Result parameters over HTTP: ``_sort``, keyset paging under a sort, ``_total``,
``_count``, ``_summary``, ``_elements``, and their refusal in conditional criteria.

Expected orders and subsets are computed from the R4B example JSON, independently of the
server. See https://hl7.org/fhir/R4B/search.html#return
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from datetime import datetime

import pytest

from tests.conftest import assert_outcome, patient

SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


def ordered(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", [])
            if e["search"]["mode"] == "match"]


def link(bundle: dict, relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


def follow(live, url: str) -> dict:
    response = live.http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def every_page(live, bundle: dict) -> list[str]:
    found = ordered(bundle)
    while (url := link(bundle, "next")) is not None:
        bundle = follow(live, url)
        found += ordered(bundle)
    return found


def rid_order(examples, type: str) -> dict[str, int]:
    """Load order of the examples of ``type``: the server's insertion order (tie-break)."""
    return {id: n for n, (t, id) in enumerate(examples.loaded) if t == type}


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


def high_us(value: str) -> int:
    """The last microsecond a FHIR date/dateTime/instant covers (its precision's end)."""
    m = re.fullmatch(r"(\d{4})(?:-(\d\d)(?:-(\d\d)(?:T(\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?"
                     r"(Z|[+-]\d\d:\d\d)?)?)?)?", value)
    assert m, value
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    if month is None:
        start, end = datetime(int(year), 1, 1), datetime(int(year) + 1, 1, 1)
    elif day is None:
        y, mo = int(year), int(month)
        start = datetime(y, mo, 1)
        end = datetime(y + (mo == 12), mo % 12 + 1, 1)
    elif hour is None:
        start = datetime(int(year), int(month), int(day))
        end = datetime.fromordinal(start.toordinal() + 1)
    else:
        start = datetime(int(year), int(month), int(day), int(hour), int(minute),
                         int(second or 0))
        step = 1_000_000 if second is not None else 60_000_000
        if fraction:
            step = 10 ** (6 - min(len(fraction) - 1, 6))
        micros = int((fraction or ".0")[1:7].ljust(6, "0"))
        offset = 0
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        base = (calendar.timegm(start.timetuple()) - offset) * 1_000_000 + micros
        return base + step - 1
    return calendar.timegm(end.timetuple()) * 1_000_000 - 1


# _sort ----------------------------------------------------------------------------------

def test_sort_by_family_then_birthdate(examples):
    rids = rid_order(examples, "Patient")
    patients = {id: r for (t, id), r in examples.loaded.items() if t == "Patient"}

    def key(id: str):
        r = patients[id]
        families = [fold(n["family"]) for n in r.get("name", []) if n.get("family")]
        family = min(families) if families else None
        birth = r.get("birthDate")
        return (family is None, family or "", birth is None, birth or "", rids[id])

    expected = sorted(patients, key=key)
    bundle = examples.search("Patient", {"_sort": "family,birthdate", "_count": "100"})
    assert ordered(bundle) == expected
    assert len(expected) > 10


def test_sort_descending_by_date_uses_the_latest_value_and_puts_missing_last(examples):
    rids = rid_order(examples, "Observation")
    observations = {id: r for (t, id), r in examples.loaded.items() if t == "Observation"}

    def latest(r: dict) -> float | None:
        if "effectiveDateTime" in r:
            return high_us(r["effectiveDateTime"])
        if "effectiveInstant" in r:
            return high_us(r["effectiveInstant"])
        if "effectivePeriod" in r:
            end = r["effectivePeriod"].get("end")
            return high_us(end) if end else float("inf")
        return None

    def key(id: str):
        value = latest(observations[id])
        return (value is None, -(value or 0), rids[id])

    expected = sorted(observations, key=key)
    bundle = examples.search("Observation", {"_sort": "-date", "_count": "100"})
    assert ordered(bundle) == expected
    assert latest(observations[expected[-1]]) is None  # some have no date: last


def test_sort_by_id_and_by_last_updated(examples):
    ids = sorted(examples.where("Organization", lambda r: True))
    assert ordered(examples.search("Organization", {"_sort": "_id", "_count": "100"})) == ids
    down = ordered(examples.search("Organization", {"_sort": "-_id", "_count": "100"}))
    assert down == ids[::-1]
    # Loaded one after the other: _lastUpdated order is the load order.
    rids = rid_order(examples, "Organization")
    by_time = ordered(examples.search("Organization",
                                      {"_sort": "-_lastUpdated", "_count": "100"}))
    assert by_time == sorted(rids, key=lambda id: -rids[id])


def test_sort_by_a_token_and_a_reference(examples):
    rids = rid_order(examples, "Observation")
    observations = {id: r for (t, id), r in examples.loaded.items() if t == "Observation"}
    expected = sorted(observations, key=lambda id: (observations[id]["status"], rids[id]))
    assert ordered(examples.search("Observation", {"_sort": "status", "_count": "100"})) == \
        expected

    def subject(id: str):
        ref = observations[id].get("subject", {}).get("reference")
        ok = ref is not None and re.fullmatch(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+", ref)
        return (not ok, ref if ok else "", rids[id])

    got = ordered(examples.search("Observation", {"_sort": "subject", "_count": "100"}))
    assert got == sorted(observations, key=subject)


def test_sorted_pages_together_give_the_whole_sorted_result(examples):
    whole = ordered(examples.search("Patient", {"_sort": "-birthdate,family",
                                                "_count": "100"}))
    first = examples.search("Patient", {"_sort": "-birthdate,family", "_count": "3"})
    paged = every_page(examples.live, first)
    assert paged == whole
    # and backwards from the last page
    bundle = first
    while (url := link(bundle, "next")) is not None:
        bundle = follow(examples.live, url)
    back = ordered(bundle)
    while (url := link(bundle, "previous")) is not None:
        bundle = follow(examples.live, url)
        back = ordered(bundle) + back
    assert back == whole


@pytest.mark.parametrize("value", ["bogus", "-bogus", "", "-", "family,,birthdate",
                                   "family,family", "_text", "phonetic:x", "' OR 1=1 --"])
def test_an_unknown_or_unsortable_sort_is_400(examples, value):
    assert_outcome(examples.live.get("Patient", params={"_sort": value}), 400, "invalid")


def test_a_composite_parameter_cannot_be_sorted_on(examples):
    response = examples.live.get("Observation", params={"_sort": "code-value-quantity"})
    assert_outcome(response, 400, "invalid")


def test_a_page_token_of_another_sort_is_400(examples):
    first = examples.search("Patient", {"_sort": "family", "_count": "2"})
    token = re.search(r"_page=([^&]+)", link(first, "next")).group(1)
    response = examples.live.get("Patient", params={"_sort": "family,birthdate",
                                                    "_count": "2", "_page": token})
    assert_outcome(response, 400, "invalid")


# paging stability under a sort -------------------------------------------------------

@pytest.fixture
def families(live) -> dict[str, str]:
    ids = {}
    for family in ("Díaz", "Araya", "Castro", "Bravo", "Fuentes", "Espinoza"):
        response = live.post("Patient", json=patient(name=[{"family": family}]))
        ids[family] = response.json()["id"]
    ids["(none)"] = live.post("Patient", json=patient()).json()["id"]
    return ids


def names(families: dict[str, str], ids: list[str]) -> list[str]:
    by_id = {v: k for k, v in families.items()}
    return [by_id.get(i, "?") for i in ids]


def test_a_sorted_page_is_stable_when_a_resource_is_created_before_it(live, families):
    first = follow(live, f"{live.base}/Patient?_sort=family&_count=2")
    assert names(families, ordered(first)) == ["Araya", "Bravo"]
    second = follow(live, link(first, "next"))
    assert names(families, ordered(second)) == ["Castro", "Díaz"]
    live.post("Patient", json=patient(name=[{"family": "Alvarez"}]))  # sorts onto page 1
    live.post("Patient", json=patient(name=[{"family": "Cea"}]))      # onto page 2
    again = follow(live, link(first, "next"))
    assert ordered(again)[0] == ordered(second)[0]
    assert names(families, ordered(again)) == ["Castro", "?"]  # Cea, never Bravo again
    back = follow(live, link(second, "previous"))
    assert ordered(back) == ordered(first)


def test_a_sorted_page_is_stable_when_a_resource_of_an_earlier_page_is_deleted(
        live, families):
    first = follow(live, f"{live.base}/Patient?_sort=-family&_count=3")
    assert names(families, ordered(first)) == ["Fuentes", "Espinoza", "Díaz"]
    second = follow(live, link(first, "next"))
    live.delete(f"Patient/{families['Fuentes']}")
    assert ordered(follow(live, link(first, "next"))) == ordered(second)
    assert names(families, ordered(second)) == ["Castro", "Bravo", "Araya"]
    third = follow(live, link(second, "next"))
    assert names(families, ordered(third)) == ["(none)"]  # without a family: last
    assert link(third, "next") is None


def test_resources_without_the_value_sort_last_in_both_directions(live, families):
    up = ordered(follow(live, f"{live.base}/Patient?_sort=family&_count=50"))
    down = ordered(follow(live, f"{live.base}/Patient?_sort=-family&_count=50"))
    assert names(families, up)[-1] == names(families, down)[-1] == "(none)"
    assert up[:-1] == down[:-1][::-1]


# _total and _count ------------------------------------------------------------------------

def test_total_accurate_and_estimate_count_every_match(examples):
    expected = len(examples.where("Observation", lambda r: True))
    for mode in ("accurate", "estimate"):
        bundle = examples.search("Observation", {"_total": mode, "_count": "5"})
        assert bundle["total"] == expected
        assert len(ordered(bundle)) == 5


def test_without_total_a_result_spanning_pages_has_no_total(examples):
    bundle = examples.search("Observation", {"_count": "5"})
    assert "total" not in bundle
    assert link(bundle, "next") is not None
    page = examples.search("Flag", {"_count": "50"})
    assert page["total"] == len(examples.where("Flag", lambda r: True)) == 2


def test_total_none_omits_the_total_even_when_free(examples):
    assert "total" not in examples.search("Flag", {"_total": "none"})


@pytest.mark.parametrize("value", ["all", "", "ACCURATE", "1"])
def test_an_invalid_total_is_400(examples, value):
    assert_outcome(examples.live.get("Patient", params={"_total": value}), 400, "invalid")


def test_count_zero_returns_no_entries_but_the_total(examples):
    bundle = examples.search("Observation", {"_count": "0"})
    assert "entry" not in bundle
    assert bundle["total"] == len(examples.where("Observation", lambda r: True))
    assert "total" not in examples.search("Observation", {"_count": "0", "_total": "none"})


def test_count_over_the_maximum_is_400(examples):
    assert_outcome(examples.live.get("Patient", params={"_count": "1001"}), 400, "invalid")


# _summary and _elements ---------------------------------------------------------------

def subsetted(resource: dict) -> bool:
    return any((t.get("system"), t.get("code")) == SUBSETTED
               for t in resource.get("meta", {}).get("tag", []))


def one(examples, type: str, id: str, params: dict) -> dict:
    bundle = examples.search(type, {"_id": id, **params})
    (entry,) = bundle["entry"]
    return entry["resource"]


def test_summary_count_gives_the_total_only(examples):
    bundle = examples.search("Observation", {"_summary": "count"})
    assert "entry" not in bundle
    assert bundle["total"] == len(examples.where("Observation", lambda r: True))
    filtered = examples.search("Observation", {"_summary": "count",
                                               "subject": "Patient/example"})
    assert filtered["total"] == len(examples.where(
        "Observation", lambda r: r.get("subject", {}).get("reference") == "Patient/example"))


PATIENT_SUMMARY = {"id", "meta", "implicitRules", "identifier", "active", "name", "telecom",
                   "gender", "birthDate", "deceasedBoolean", "deceasedDateTime", "address",
                   "managingOrganization", "link"}


def test_summary_true_keeps_only_summary_elements_and_tags_subsetted(examples):
    full = examples.loaded[("Patient", "example")]
    got = one(examples, "Patient", "example", {"_summary": "true"})
    expected = {k for k in full if k.removeprefix("_") in PATIENT_SUMMARY}  # _birthDate too
    assert "_birthDate" in expected
    assert set(got) == {"resourceType", "meta"} | expected
    assert {"text", "contact"} <= set(full) - set(got)  # not summary elements
    assert got["name"] == full["name"]
    assert subsetted(got)


def test_summary_text_keeps_text_id_meta_and_mandatory_elements(examples):
    full = examples.loaded[("Observation", "f001")]
    got = one(examples, "Observation", "f001", {"_summary": "text"})
    # status and code are mandatory (1..1) in Observation
    assert set(got) == {"resourceType", "id", "meta", "text", "status", "code"} & (
        set(full) | {"meta"})
    assert subsetted(got)


def test_summary_data_drops_the_text_only(examples):
    full = examples.loaded[("Patient", "example")]
    got = one(examples, "Patient", "example", {"_summary": "data"})
    assert set(got) == (set(full) - {"text"}) | {"meta"}
    assert subsetted(got)


def test_summary_false_is_the_full_resource(examples):
    got = one(examples, "Patient", "example", {"_summary": "false"})
    assert not subsetted(got)
    assert set(got) == set(examples.loaded[("Patient", "example")]) | {"meta"}


def test_elements_keeps_the_listed_elements_and_mandatory_ones(examples):
    got = one(examples, "Patient", "example", {"_elements": "name,gender"})
    assert set(got) == {"resourceType", "id", "meta", "name", "gender"}
    assert subsetted(got)
    full = examples.loaded[("Observation", "f001")]
    obs = one(examples, "Observation", "f001", {"_elements": "value,subject"})
    value = {k for k in full if k.startswith("value")}
    assert value and set(obs) == {"resourceType", "id", "meta", "subject", "status",
                                  "code"} | value
    by_json_name = one(examples, "Observation", "f001", {"_elements": "valueQuantity"})
    assert set(by_json_name) == {"resourceType", "id", "meta", "status", "code",
                                 "valueQuantity"}
    assert full.get("valueQuantity")


def test_subsetting_applies_to_every_match(examples):
    bundle = examples.search("Patient", {"_elements": "gender", "_count": "100"})
    for entry in bundle["entry"]:
        kept = {k.removeprefix("_") for k in entry["resource"]}
        assert kept <= {"resourceType", "id", "meta", "gender"}
        assert subsetted(entry["resource"])


@pytest.mark.parametrize("params", [
    {"_summary": "yes"}, {"_summary": ""}, {"_elements": "bogus"}, {"_elements": ""},
    {"_elements": "name,"}, {"_elements": "Patient.name"}, {"_elements": "name;drop"},
    {"_summary": "true", "_elements": "name"}, {"_summary:x": "true"},
])
def test_invalid_summary_or_elements_is_400(examples, params):
    assert_outcome(examples.live.get("Patient", params=params), 400, "invalid")


# conditional criteria refuse result parameters ----------------------------------------

@pytest.mark.parametrize("extra", ["_sort=family", "_count=1", "_total=accurate",
                                   "_include=Patient:organization", "_summary=true",
                                   "_elements=name", "_revinclude=Observation:subject"])
def test_conditional_criteria_refuse_result_parameters(live, extra):
    body = patient(identifier=[{"system": "urn:run", "value": "1"}])
    created = live.post("Patient", json=body,
                        headers={"If-None-Exist": f"identifier=urn:run|1&{extra}"})
    assert_outcome(created, 400, "invalid")
    updated = live.put(f"Patient?identifier=urn:run|1&{extra}", json=body)
    assert_outcome(updated, 400, "invalid")
    assert live.get("Patient", params={"_total": "accurate"}).json()["total"] == 0
