"""The receiving institution's inbox over HTTP: its referrals waiting for an answer,
``Task?owner=Organization/<id>&status=requested``, sorted by when they were sent, when
they last changed, their priority or their due date (search is generic: no code of the
workflow)."""

from __future__ import annotations

import pytest

from tests.server.access.institutions import Institution
from tests.server.referrals.referrals import SHELTER, Referral

INBOX = {"owner": f"Organization/{SHELTER}", "status": "requested"}


def ids(institution: Institution, **params) -> list[str]:
    """The Tasks found, in order; every parameter understood (strict handling)."""
    answer = institution.request("GET", "Task", headers={"Prefer": "handling=strict"},
                                 **params)
    assert answer.status_code == 200, answer.text
    return [e["resource"]["id"] for e in answer.json().get("entry", [])
            if e["resource"]["resourceType"] == "Task"]


@pytest.fixture
def inbox(centre, shelter, live) -> dict[str, dict]:
    """Three referrals waiting for the shelter (sent on the 2nd, 1st and 3rd of March, in
    that order), one it accepted and one sent to another institution."""
    waiting = {}
    for name, day, priority in (("second", "02", "urgent"), ("first", "01", "routine"),
                                ("third", "03", "stat")):
        referral = Referral.new(centre, shelter, priority)
        waiting[name] = referral.send(authoredOn=f"2026-03-{day}T10:00:00-03:00",
                                      priority=priority)
    accepted = Referral.new(centre, shelter)
    accepted.advance(accepted.send(), "accepted")
    elsewhere = Referral.new(centre, shelter)
    elsewhere.centre.create(elsewhere.task(owner={"reference": "Organization/aps-13101"}))
    return waiting


def test_the_inbox_holds_what_waits_for_the_owner(inbox, shelter):
    assert set(ids(shelter, **INBOX)) == {t["id"] for t in inbox.values()}


@pytest.mark.parametrize(("sort", "order"), [
    ("authored-on", ["first", "second", "third"]),
    ("-authored-on", ["third", "second", "first"]),
    ("_lastUpdated", ["second", "first", "third"]),  # the order they were written in
    ("modified", ["second", "first", "third"]),  # lastModified, which the server sets
    ("-modified", ["third", "first", "second"]),
])
def test_the_inbox_sorts_by_a_date(inbox, shelter, sort, order):
    assert ids(shelter, **INBOX, _sort=sort) == [inbox[name]["id"] for name in order]


def test_the_inbox_sorts_by_priority_code_then_date(inbox, shelter):
    """A token sorts by its code (routine, stat, urgent), not by how urgent it is."""
    found = ids(shelter, **INBOX, _sort="priority,authored-on")
    assert found == [inbox[name]["id"] for name in ("first", "third", "second")]


def test_the_inbox_sorts_by_due_date(inbox, shelter):
    """The guide's ``vencimiento`` (the due date the service levels give each priority):
    what must be answered first is on top, whenever it was sent."""
    due = {name: task["restriction"]["period"]["end"] for name, task in inbox.items()}
    assert sorted(due, key=due.get) == ["third", "second", "first"]  # stat, urgent, routine
    assert ids(shelter, **INBOX, _sort="vencimiento") == \
        [inbox[name]["id"] for name in ("third", "second", "first")]
    assert ids(shelter, **INBOX, _sort="-vencimiento") == \
        [inbox[name]["id"] for name in ("first", "second", "third")]


def test_the_requester_follows_what_it_sent(inbox, centre):
    sent = ids(centre, requester="Organization/centro-de-la-mujer-13101", status="requested")
    assert {t["id"] for t in inbox.values()} <= set(sent)
