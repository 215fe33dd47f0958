"""Default security labels on write, and redaction of a permit's obligations."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from consent import REDACTED, Obligation, default_labels, redact

from .world import CONF, RESOURCES, incident

EXAMPLES = Path(__file__).parents[2] / "profiles" / "ig" / "examples"
R = [{"system": CONF, "code": "R", "display": "restricted"}]
V = [{"system": CONF, "code": "V", "display": "very restricted"}]


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def _unlabelled(resource: dict) -> dict:
    out = copy.deepcopy(resource)
    out.pop("securityLabel", None)
    out.get("meta", {}).pop("security", None)
    return out


@pytest.mark.parametrize(("resource", "expected"), [
    (_unlabelled(_example("Statement-valid-1")), R),
    (_unlabelled(_example("Institution-valid-1")), []),
    (incident("sexual", "x"), R),
    (incident("fisica", "y"), []),
    (_unlabelled(RESOURCES["ADM"][0]), V),
    ({"resourceType": "Patient"}, []),
])
def test_default_labels_follow_the_declared_rules(resource: dict, expected: list) -> None:
    assert default_labels(resource) == expected


def test_a_shelter_is_very_restricted() -> None:
    shelter = _unlabelled(_example("Institution-valid-1"))
    shelter["type"][0]["coding"][0]["code"] = "casa-de-acogida"
    assert default_labels(shelter) == V


def test_a_statement_claiming_the_profile_is_restricted_whatever_its_type() -> None:
    statement = _unlabelled(_example("Statement-valid-1"))
    statement["type"]["coding"][0]["code"] = "otro"
    assert default_labels(statement) == R


def test_a_label_already_as_high_is_not_assigned_again() -> None:
    assert default_labels(_example("Statement-valid-1")) == []
    very = _unlabelled(_example("Statement-valid-1")) | {"meta": {"security": V}}
    assert default_labels(very) == []


def test_redact_removes_the_elements_and_labels_the_copy() -> None:
    patient = RESOURCES["PAT"][0]
    out = redact(patient, [Obligation("redact", ("address", "telecom", "contact"))])
    assert "address" not in out and "telecom" not in out and out["name"] == patient["name"]
    assert REDACTED in out["meta"]["security"]
    assert "address" in patient  # the input is left alone


def test_redact_follows_dotted_paths_and_primitive_extensions() -> None:
    patient = RESOURCES["PAT"][0]
    out = redact(patient, [Obligation("redact", ("address.city",))])
    assert out["address"] == [{}]


def test_redact_without_a_redact_obligation_changes_nothing() -> None:
    patient = RESOURCES["PAT"][0]
    assert redact(patient, [Obligation("audit")]) == patient
