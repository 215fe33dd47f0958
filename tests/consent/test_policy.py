"""The legal-mandate policy files: the shipped ones load; a bad one is refused with a
message naming the file and every problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from consent import PolicyError, load_policies, policies

GOOD: dict[str, Any] = {
    "id": "prueba",
    "title": "t",
    "description": "d",
    "legalBasis": ["Ley 21.675"],
    "grants": [{
        "id": "g", "description": "d", "kinds": ["fiscalia"], "purposes": ["HLEGAL"],
        "relation": "care-team", "data": [{"resourceType": "Observation"}],
        "survivorMayObject": False,
    }],
}


def _write(tmp_path: Path, doc: Any, name: str = "prueba.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def test_the_shipped_policy_files_load_with_unique_grant_ids() -> None:
    ids = [g.id for g in policies()]
    assert len(ids) == len(set(ids)) >= 10
    assert "policy:criminal-justice#prosecutor-investigation" in ids


def test_no_shipped_grant_covers_very_restricted_data_or_break_glass() -> None:
    for grant in policies():
        assert "V" not in grant.labels and "BTG" not in grant.purposes


def test_statistics_reads_no_individual_record() -> None:
    assert not [g for g in policies() if "PUBHLTH" in g.purposes
                and any(s.resource_type not in {"Organization", "PractitionerRole",
                                                "Questionnaire", "PlanDefinition"}
                        for s in g.data)]


def test_a_good_file_loads_into_grants(tmp_path: Path) -> None:
    (grant,) = load_policies([_write(tmp_path, GOOD)])
    assert grant.id == "policy:prueba#g" and grant.kinds == frozenset({"fiscalia"})
    assert grant.actions == frozenset({"read"})


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d.pop("grants"), "(root): 'grants' is a required property"),
    (lambda d: d["grants"][0].update(relation="neighbours"), "grants/0/relation"),
    (lambda d: d["grants"][0].update(kinds=["bomberos"]),
     "grants/0/kinds/0: 'bomberos' is not a tipo-institucion code"),
    (lambda d: d["grants"][0].update(purposes=["BTG"]), "grants/0/purposes/0: 'BTG'"),
    (lambda d: d["grants"][0].update(labels=["V"]), "grants/0/labels/0"),
    (lambda d: d["grants"][0].pop("survivorMayObject"), "'survivorMayObject' is a required"),
    (lambda d: d["grants"][0].update(colour="red"), "Additional properties"),
    (lambda d: d.update(id="otro"), "id: 'otro' is not the file name 'prueba'"),
    (lambda d: d["grants"].append(dict(d["grants"][0])), "grants/1/id: 'g' is used twice"),
])
def test_a_bad_policy_file_is_refused_naming_the_file_and_the_problem(
        tmp_path: Path, change: Any, problem: str) -> None:
    doc = json.loads(json.dumps(GOOD))
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(PolicyError) as raised:
        load_policies([path])
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)


def test_every_schema_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    doc = json.loads(json.dumps(GOOD))
    doc["grants"][0].update(relation="x", actions=["erase"])
    with pytest.raises(PolicyError) as raised:
        load_policies([_write(tmp_path, doc)])
    assert len(raised.value.problems) == 2


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "{ not json")
    with pytest.raises(PolicyError, match="not readable as JSON") as raised:
        load_policies([path])
    assert raised.value.file == str(path)
