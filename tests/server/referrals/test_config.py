"""The workflow's declarative files (server/referrals/config.py): the shipped ones load
and agree with terminology; a bad file is refused with every problem named (the shipped
ones are loaded when ``server.repository`` builds its rules: a bad one stops start-up)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from server.referrals import ReferralConfigError, load_service_levels, load_transitions

SHIPPED = Path(__file__).resolve().parents[3] / "server" / "referrals"


def write(tmp_path: Path, name: str, doc: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def shipped(name: str) -> dict:
    return json.loads((SHIPPED / name).read_text(encoding="utf-8"))


def test_the_shipped_files_load():
    transitions = load_transitions()
    assert transitions.created == "requested"
    assert transitions.statuses["requested"].next == \
        ("received", "accepted", "rejected", "cancelled")
    assert {s for s, st in transitions.statuses.items() if st.final} == \
        {"completed", "rejected", "failed", "cancelled"}
    assert transitions.statuses["cancelled"].set_by == {"requester", "owner"}
    assert transitions.statuses["rejected"].needs_reason
    levels = load_service_levels()
    assert levels.of("stat").accept_within < levels.of("routine").accept_within
    assert levels.of(None) == levels.of("routine") == levels.of("unknown")


def test_a_service_levels_file_that_breaks_its_schema_names_every_problem(tmp_path):
    doc = shipped("service-levels.json")
    del doc["priorities"]["stat"]
    doc["priorities"]["urgent"]["acceptWithinHours"] = -1
    doc["defaultPriority"] = "whenever"
    with pytest.raises(ReferralConfigError) as raised:
        load_service_levels(write(tmp_path, "levels.json", doc))
    assert raised.value.file.endswith("levels.json")
    assert len(raised.value.problems) == 3, raised.value.problems
    assert "levels.json" in str(raised.value)


def test_a_more_urgent_priority_may_not_get_more_time(tmp_path):
    doc = shipped("service-levels.json")
    doc["priorities"]["stat"]["completeWithinHours"] = 10_000
    with pytest.raises(ReferralConfigError, match="priorities/asap"):
        load_service_levels(write(tmp_path, "levels.json", doc))


def test_an_unreadable_file_is_refused(tmp_path):
    path = tmp_path / "levels.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ReferralConfigError, match="not readable as JSON"):
        load_service_levels(path)
    with pytest.raises(ReferralConfigError, match="not readable as JSON"):
        load_transitions(tmp_path / "missing.json")


def test_a_transitions_file_may_not_contradict_terminology_or_itself(tmp_path):
    doc = shipped("transitions.json")
    doc["statuses"]["accepted"]["businessStatus"].append("completada")  # completed's
    doc["statuses"]["requested"]["businessStatus"].append("perdida")  # not a code
    doc["statuses"]["requested"]["next"].append("ready")  # not one of the statuses
    doc["statuses"]["requested"]["setBy"] = ["owner"]  # the requester creates it
    with pytest.raises(ReferralConfigError) as raised:
        load_transitions(write(tmp_path, "transitions.json", doc))
    assert len(raised.value.problems) == 4, raised.value.problems


def test_a_transitions_file_that_breaks_its_schema_is_refused(tmp_path):
    doc = shipped("transitions.json")
    doc["statuses"]["accepted"]["setBy"] = ["anyone"]
    doc["statuses"]["paused"] = doc["statuses"].pop("on-hold")
    with pytest.raises(ReferralConfigError) as raised:
        load_transitions(write(tmp_path, "transitions.json", doc))
    assert len(raised.value.problems) >= 2, raised.value.problems


def test_service_levels_are_hours():
    levels = load_service_levels()
    hours = shipped("service-levels.json")["priorities"]["urgent"]
    assert levels.of("urgent").accept_within == timedelta(hours=hours["acceptWithinHours"])
