"""Hostile search values for every parameter type: a 400 OperationOutcome or a correct
literal (usually empty) match, never a 500. See https://hl7.org/fhir/R4B/search.html
(values are data, never SQL: every one reaches SQLite as a bound parameter).
"""

from __future__ import annotations

import pytest

from tests.server.api.search.conftest import matches

HOSTILE = ["' OR 1=1 --", "' OR '1'='1", "%", "_", "%%", "1; DROP TABLE resource; --", '"',
           "\\", "*", "' UNION SELECT body FROM resource_version --", "\x00", "\U0010ffff",
           "\ud7ff", "a\\|b", "gt", "ge' OR 1=1", "eq1 OR 1=1", "1e308", "-1e308", "9" * 400]

#: (type, parameter as sent, what it is)
PARAMS = [
    ("Patient", "name", "string"), ("Patient", "family:exact", "string :exact"),
    ("Organization", "name:contains", "string :contains"), ("Patient", "gender", "token"),
    ("Patient", "gender:not", "token :not"), ("Observation", "code:text", "token :text"),
    ("Observation", "subject:identifier", "reference :identifier"),
    ("Observation", "subject", "reference"), ("Patient", "birthdate", "date"),
    ("Patient", "_lastUpdated", "last updated"), ("RiskAssessment", "probability", "number"),
    ("Observation", "value-quantity", "quantity"), ("Observation", "_profile", "uri"),
    ("Observation", "_profile:below", "uri :below"), ("Observation", "_profile:above",
                                                      "uri :above"),
    ("Patient", "birthdate:missing", "missing"), ("Patient", "_tag", "token on meta"),
]

NEGATED = {"gender:not"}


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize(("type", "param", "kind"), PARAMS)
def test_a_hostile_value_is_a_400_or_a_literal_match(examples, type, param, kind, value):
    response = examples.live.get(type, params={param: value, "_count": "1000"})
    assert response.status_code in (200, 400), (kind, response.text)
    body = response.json()
    if response.status_code == 400:
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["code"] == "invalid"
        return
    everything = examples.where(type, lambda r: True)
    found = matches(body)
    if param in NEGATED:
        assert found == everything, (kind, value)
    elif param != "name:contains" or value not in ("%", "_", "%%", "*", "\\"):
        assert found == set() or value in ("1e308", "-1e308") and param == "_lastUpdated", \
            (kind, value, found)
    # the store is intact after the request
    assert matches(examples.search(type, {"_count": "1000"})) == everything


@pytest.mark.parametrize(("type", "param", "kind"), PARAMS)
def test_a_value_of_5000_characters_is_400(examples, type, param, kind):
    response = examples.live.get(type, params={param: "a" * 5000})
    assert response.status_code == 400, kind
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("flood", ["%" * 1000, "_" * 1000, "%_" * 500, "\\%" * 500])
def test_wildcard_floods_under_contains_are_literal(examples, flood):
    response = examples.live.get("Organization", params={"name:contains": flood})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert matches(response.json()) == set()


@pytest.mark.parametrize(("type", "param"), [
    ("Patient", "birthdate"), ("RiskAssessment", "probability"),
    ("Observation", "value-quantity"), ("Patient", "_lastUpdated")])
@pytest.mark.parametrize("prefix", ["xx", "EQ", "eqq", "nea", "zz", "gtt", "e1"])
def test_unknown_prefixes_are_400(examples, type, param, prefix):
    response = examples.live.get(type, params={param: f"{prefix}2000"})
    assert response.status_code == 400, (param, prefix, response.text)
