"""Operator injection through search parameters, on every parameter type.

Values a document store could misread — a leading ``$`` (a MongoDB operator), a dotted
key, a JSON object, regular-expression metacharacters under ``:contains`` — must match
only resources holding that literal text, and must never widen a search. The same tests
run on SQLite and (``AMPARO_TEST_STORE=mongomock``, ``make test``) on the MongoDB
adapter, whose filters take client values only as compared values (never as keys or
operators) and escape the one regular expression they build.
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_outcome
from tests.server.api.search.conftest import load_read_only, matches

HOSTILE = ["$ne", "$gt", "$where", "$regex", '{"$gt": ""}', "a.b", "$.x", "\\", ".*",
           "^", "[", "(?i)", "|", "$exists", "null", "true"]


def esc(text: str) -> str:
    """A literal as a FHIR search value (search.html#escaping)."""
    for char in "\\,$|":
        text = text.replace(char, "\\" + char)
    return text


def create(live, resource: dict) -> str:
    response = live.post(resource["resourceType"], json=resource)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def found(live, path: str, params: dict) -> set[str]:
    response = live.get(path, params={"_count": "100", **params})
    assert response.status_code == 200, response.text
    return matches(response.json())


def nothing(live, path: str, params: dict) -> bool:
    """The search matches nothing, or is refused as malformed (never a wider match)."""
    response = live.get(path, params=params)
    if response.status_code == 400:
        assert_outcome(response, 400)
        return True
    assert response.status_code == 200, response.text
    return matches(response.json()) == set()


@pytest.fixture
def data(live):
    """Patients and observations whose values are the hostile strings, literally, and
    ordinary ones beside them."""
    made: dict[str, str] = {}
    for text in [*HOSTILE, "ordinary"]:
        made[text] = create(live, {
            "resourceType": "Patient",
            "identifier": [{"system": "urn:test", "value": text}],
            "name": [{"family": f"{text} family", "given": ["Ana"]}],
            "telecom": [{"system": "phone", "value": text}]})
    plain = create(live, {"resourceType": "Patient", "name": [{"family": "Soto"}]})
    obs = create(live, {"resourceType": "Observation", "status": "final",
                        "code": {"coding": [{"system": "urn:codes", "code": "$ne"}]},
                        "subject": {"reference": f"Patient/{plain}"},
                        "valueQuantity": {"value": 5, "system": "urn:units", "code": "$gt"}})
    other = create(live, {"resourceType": "Observation", "status": "final",
                          "code": {"coding": [{"system": "urn:codes", "code": "x"}]},
                          "subject": {"reference": f"Patient/{made['ordinary']}"},
                          "valueQuantity": {"value": 5, "system": "urn:units", "code": "mg"}})
    # ValueSets are read-only through the API: stored the way ``amparo init`` stores them
    vs = {text: f"vs-{i}" for i, text in enumerate(("$ne", ".*", "a.b", "plain"))}
    load_read_only(live, [{"resourceType": "ValueSet", "id": id, "status": "active",
                           "url": f"http://example.org/{text}"} for text, id in vs.items()])
    return {"patients": made, "plain": plain, "obs": obs, "other": other, "vs": vs}


@pytest.mark.parametrize("text", HOSTILE)
def test_token_values_match_only_the_literal(live, data, text):
    want = {data["patients"][text]}
    assert found(live, "Patient", {"identifier": f"urn:test|{esc(text)}"}) == want
    assert found(live, "Patient", {"identifier": esc(text)}) == want
    assert found(live, "Patient", {"phone": esc(text)}) == want


@pytest.mark.parametrize("text", HOSTILE)
def test_string_values_match_only_the_literal(live, data, text):
    want = {data["patients"][text]}
    assert found(live, "Patient", {"family:exact": f"{esc(text)} family"}) == want
    starts = found(live, "Patient", {"family": esc(text)})
    assert data["patients"][text] in starts
    assert all(p in want or k.lower().startswith(text.lower())
               for k, p in data["patients"].items() if p in starts)
    contains = found(live, "Patient", {"family:contains": esc(text)})
    assert contains == {p for k, p in data["patients"].items() if text.lower() in k.lower()}


def test_contains_treats_regex_metacharacters_literally(live, data):
    everyone = set(data["patients"].values())
    for pattern in (".*", "^", "(?i)", "[", "\\", "|", "$"):
        result = found(live, "Patient", {"family:contains": esc(pattern)})
        assert result != everyone | {data["plain"]}, pattern
        assert result == {p for k, p in data["patients"].items() if pattern in k}, pattern


@pytest.mark.parametrize("text", ["$ne", "$gt", '{"$gt": ""}', "a.b", "$where"])
def test_reference_values_match_only_the_literal(live, data, text):
    assert nothing(live, "Observation", {"subject": f"Patient/{esc(text)}"})
    assert nothing(live, "Observation", {"subject": esc(text)})
    assert nothing(live, "Observation", {"subject:Patient.identifier": esc(text)})
    assert found(live, "Patient", {"_has:Observation:subject:code": esc(text)}) == (
        {data["plain"]} if text == "$ne" else set())


def test_uri_values_match_only_the_literal(live, data):
    vs = data["vs"]
    assert found(live, "ValueSet", {"url": "http://example.org/\\$ne"}) == {vs["$ne"]}
    assert found(live, "ValueSet", {"url": "http://example.org/.*"}) == {vs[".*"]}
    assert found(live, "ValueSet", {"url": "\\$ne"}) == set()
    assert found(live, "ValueSet", {"url:below": "http://example.org/.*"}) == {vs[".*"]}
    assert found(live, "ValueSet", {"url:above": "http://example.org/a.b/c"}) == {vs["a.b"]}


def test_quantity_and_composite_units_match_only_the_literal(live, data):
    assert found(live, "Observation", {"value-quantity": "5|urn:units|\\$gt"}) == {data["obs"]}
    assert found(live, "Observation", {"value-quantity": "5||\\$gt"}) == {data["obs"]}
    assert found(live, "Observation", {"value-quantity": "5||\\$ne"}) == set()
    assert found(live, "Observation",
                 {"code-value-quantity": "urn:codes|\\$ne$5|urn:units|\\$gt"}) == {data["obs"]}
    assert found(live, "Observation", {"code-value-quantity": "\\$gt$5"}) == set()


@pytest.mark.parametrize(("path", "params"), [
    ("Patient", {"birthdate": "$gt2020"}),
    ("Patient", {"birthdate": '{"$gt": ""}'}),
    ("Observation", {"value-quantity": "$gt5"}),
    ("RiskAssessment", {"probability": "$ne"}),
    ("Patient", {"_lastUpdated": "$gt"}),
    ("Patient", {"_id": "$ne"}),
    ("Patient", {"_sort": "$natural"}),
    ("Patient", {"_count": '{"$gt": 0}'}),
    ("Patient", {"family:missing": "$ne"}),
])
def test_values_of_the_wrong_shape_are_refused(live, data, path, params):
    response = live.get(path, params=params, headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400)


@pytest.mark.parametrize("name", ["$where", "family.$ne", "$or", "family.0", "name[$ne]"])
def test_hostile_parameter_names_are_refused_or_ignored_never_obeyed(live, data, name):
    strict = live.get("Patient", params={name: "x"}, headers={"Prefer": "handling=strict"})
    assert_outcome(strict, 400)
    lenient = live.get("Patient", params={name: "x", "_count": "100"})
    if lenient.status_code == 400:  # a malformed chain is refused even when lenient
        assert_outcome(lenient, 400)
        return
    assert lenient.status_code == 200
    everyone = set(data["patients"].values()) | {data["plain"]}
    assert matches(lenient.json()) == everyone  # ignored (and reported), not obeyed
