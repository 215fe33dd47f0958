"""The de-identified export's policy file (``server/analytics/policy.py``): the shipped
one loads, and a bad one is refused naming every problem, as the mandate's files are."""

from __future__ import annotations

import json
from importlib import resources

import pytest

import consent
from server.analytics.policy import FILE, load, statistics_policy


def shipped() -> dict:
    return json.loads(resources.files("server.analytics").joinpath(FILE).read_text("utf-8"))


def test_the_shipped_policy_gives_pubhlth_of_sernameg_the_deidentified_export():
    policy = statistics_policy()
    assert policy.applies_to("PUBHLTH") and not policy.applies_to("TREAT")
    assert policy.grants("sernameg") and not policy.grants("carabineros")
    assert "DocumentReference" not in policy.types and "Consent" not in policy.types
    assert "Patient" in policy.types
    for elements in policy.keep.values():
        assert not elements & {"identifier", "name", "telecom", "text", "note", "contact"}


def test_a_bad_file_names_every_problem():
    doc = shipped()
    doc["kinds"] = ["sernameg", "ministerio-inventado"]
    doc["purposes"] = ["BTG"]
    doc["keep"]["NoSuchType"] = ["status"]
    with pytest.raises(consent.PolicyError) as raised:
        load(json.dumps(doc))
    problems = " ".join(raised.value.problems)
    assert "ministerio-inventado" in problems and "BTG" in problems and "NoSuchType" in problems


def test_a_file_that_would_let_identifiers_leave_is_refused_by_its_schema():
    doc = shipped()
    doc["keep"]["Patient"].append("identifier")
    doc["extra"] = True
    with pytest.raises(consent.PolicyError) as raised:
        load(json.dumps(doc))
    assert len(raised.value.problems) == 2


def test_a_file_that_is_not_json_is_refused():
    with pytest.raises(consent.PolicyError):
        load("{not json")
