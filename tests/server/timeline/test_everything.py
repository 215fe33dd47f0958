"""``$everything`` over HTTP (server/api/everything.py): her record and her case's part of
it as a timeline, oldest first by the date each record is about, narrowed and paged."""

from __future__ import annotations

import pytest

from tests.conftest import assert_outcome
from tests.server.access.institutions import WOMENS_CENTRE, Institution
from tests.server.timeline.story import names

#: The case's timeline as the women's centre coordinating it sees it: the case, then by
#: clinical date (the measure that began in January, the incident of the night before
#: the first contact...), the care team last (it has no date: when it was written).
CASE_TIMELINE = ["case", "expired", "incident", "first contact", "medio", "referral",
                 "tasks", "tasks", "alto", "police contact", "alert", "second contact",
                 "in force", "team"]


@pytest.fixture
def coordinator(live) -> Institution:
    return Institution(live, WOMENS_CENTRE, "COC")


def timeline_of(institution: Institution, story, path: str, **params) -> list[str]:
    answer = institution.get(path, _count=100, **params)
    assert answer.status_code == 200, answer.text
    return names(story, answer.json())


def tasks_as_one(found: list[str]) -> list[str]:
    """The two tasks were sent at the same instant and written in one transaction: their
    order between them is the order of their random ids."""
    return ["tasks" if name.endswith(" task") else name for name in found]


def test_the_case_timeline_is_the_case_then_its_records_oldest_first(coordinator, story):
    answer = coordinator.get(f"EpisodeOfCare/{story.case}/$everything", _count=100)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["type"] == "searchset" and bundle["total"] == len(CASE_TIMELINE)
    assert tasks_as_one(names(story, bundle)) == CASE_TIMELINE
    assert {e["search"]["mode"] for e in bundle["entry"]} == {"match"}


def test_her_timeline_begins_with_her_and_holds_what_no_case_links(coordinator, story):
    """A record of hers linked to no case (a condition noted without a contact) is in her
    timeline and not in her case's."""
    centre = Institution(coordinator.live, WOMENS_CENTRE, "TREAT")
    loose = centre.create({"resourceType": "Condition",
                           "subject": {"reference": f"Patient/{story.her['id']}"},
                           "code": {"text": "ansiedad"}, "onsetDateTime": "2024-12-01"})
    hers = timeline_of(coordinator, story, f"Patient/{story.her['id']}/$everything")
    assert hers[:3] == ["her", f"Condition/{loose['id']}", "expired"]
    assert set(hers) == {"her", f"Condition/{loose['id']}", *CASE_TIMELINE} - {"tasks"} | {
        "waiting task", "completed task"}
    case = timeline_of(coordinator, story, f"EpisodeOfCare/{story.case}/$everything")
    assert f"Condition/{loose['id']}" not in case


def test_the_pages_follow_the_one_order_of_the_timeline(coordinator, story):
    path = f"EpisodeOfCare/{story.case}/$everything"
    whole = timeline_of(coordinator, story, path)
    found, totals = coordinator.pages(path, _count=4)
    assert len(found) == len(whole) and totals == [len(whole)] * 4
    known = {f"{e['resource']['resourceType']}/{e['resource']['id']}": name
             for e, name in zip(coordinator.get(path, _count=100).json()["entry"], whole,
                                strict=True)}
    assert [known[ref] for ref in found] == whole
    second = coordinator.get(path, _count=4, _offset=4).json()
    assert {link["relation"] for link in second["link"]} == {"self", "next", "previous"}


@pytest.mark.parametrize(("params", "expected"), [
    ({"_type": "RiskAssessment"}, ["medio", "alto"]),
    ({"_type": "Flag,EpisodeOfCare"}, ["case", "alert"]),
    ({"start": "2025-03-10", "end": "2025-03-15"}, ["case", "alto", "police contact", "alert"]),
    ({"end": "2025-03-01"}, ["case", "expired", "incident", "first contact", "medio"]),
    ({"start": "2025-03-18T16:00:00-03:00"}, ["case", "second contact", "in force", "team"]),
])
def test_the_timeline_narrows_to_types_and_care_dates(coordinator, story, params, expected):
    found = timeline_of(coordinator, story, f"EpisodeOfCare/{story.case}/$everything",
                        **params)
    assert found == expected


def test_since_keeps_what_was_updated_since(coordinator, story):
    since = story.records["alert"]["meta"]["lastUpdated"]  # the last record written
    assert timeline_of(coordinator, story, f"EpisodeOfCare/{story.case}/$everything",
                       _since=since) == ["case", "alert"]
    assert timeline_of(coordinator, story, f"Patient/{story.her['id']}/$everything",
                       _since=since, _type="Flag,Patient") == ["her", "alert"]


@pytest.mark.parametrize("params", [
    {"_count": "0"}, {"_count": "muchos"}, {"_count": "1001"}, {"_offset": "-1"},
    {"start": "ayer"}, {"start": "2025-03-10", "end": "2025-03-01"}, {"_since": "2025-13"},
    {"_type": "Banana"}, {"_type": "Organization"}, {"colour": "red"},
    {"start": ["2025-01-01", "2025-02-01"]},
])
def test_a_bad_parameter_is_400(coordinator, story, params):
    for path in (f"EpisodeOfCare/{story.case}/$everything",
                 f"Patient/{story.her['id']}/$everything"):
        assert_outcome(coordinator.get(path, **params), 400)


def test_the_case_timeline_holds_no_patient(coordinator, story):
    assert_outcome(coordinator.get(f"EpisodeOfCare/{story.case}/$everything",
                                   _type="Patient"), 400)


def test_scopes_leave_out_the_types_they_do_not_allow_reading(live, story):
    narrow = Institution(live, WOMENS_CENTRE, "COC",
                         scope="system/EpisodeOfCare.rs system/Encounter.rs")
    path = f"EpisodeOfCare/{story.case}/$everything"
    assert timeline_of(narrow, story, path) == [
        "case", "first contact", "police contact", "second contact"]
    assert_outcome(narrow.get(path, _type="RiskAssessment"), 403, "forbidden")
    blind = Institution(live, WOMENS_CENTRE, "COC", scope="system/Encounter.rs")
    assert_outcome(blind.get(path), 403, "forbidden")
    assert_outcome(blind.get(f"Patient/{story.her['id']}/$everything"), 403, "forbidden")


def test_the_operations_are_in_the_capability_statement(live):
    rest = live.http.get(live.url("metadata")).json()["rest"][0]
    operations = {r["type"]: {o["name"] for o in r.get("operation", [])}
                  for r in rest["resource"]}
    assert "everything" in operations["Patient"]
    assert {"everything", "summary"} <= operations["EpisodeOfCare"]


def test_a_record_too_large_is_cut_and_says_so(coordinator, story, monkeypatch):
    """The cap is lowered to 5 records (the served app runs in this process) rather than
    writing 5000 of them."""
    monkeypatch.setattr("server.timeline.record.MAX_RECORDS", 5)
    bundle = coordinator.get(f"Patient/{story.her['id']}/$everything", _count=2).json()
    [outcome] = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["issue"][0]["code"] == "incomplete"
    assert bundle["total"] == 6  # her Patient and the 5 records read
    assert len([e for e in bundle["entry"] if e["search"]["mode"] == "match"]) == 2
