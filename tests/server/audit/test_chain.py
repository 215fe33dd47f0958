"""The audit trail's hash chain (server/audit/chain.py): an intact trail verifies; an
altered, removed or reordered event is reported at its position."""

from __future__ import annotations

import copy

from server.audit import Interaction, audit_event, seal, verify
from server.audit.chain import GENESIS, SEAL, sealed_hash


def trail(n: int = 12) -> list[dict]:
    events, previous = [], GENESIS
    for i in range(n):
        raw = audit_event(Interaction("read", (f"Observation/{i}",), "Patient/1"),
                          recorded=f"2026-11-28T10:00:{i:02d}-03:00", permitted=i % 3 != 0,
                          client_id="cliente", institution="Organization/cdm")
        sealed = seal(raw, previous)
        previous = sealed_hash(sealed)
        events.append({**sealed, "id": f"e{i}", "meta": {"versionId": "1"}})  # stamped after
    return events


def test_an_intact_trail_verifies_with_the_store_stamped_ids():
    assert verify(trail()) is None
    assert verify([]) is None


def test_an_altered_event_is_reported_at_its_position():
    events = trail()
    events[5]["outcome"] = "0" if events[5]["outcome"] == "4" else "4"
    broken = verify(events)
    assert (broken.position, "altered" in broken.reason) == (5, True)


def test_a_removed_event_breaks_the_chain_at_the_next_one():
    events = trail()
    del events[4]
    broken = verify(events)
    assert (broken.position, "removed or reordered" in broken.reason) == (4, True)


def test_reordered_events_break_the_chain():
    events = trail()
    events[2], events[3] = events[3], events[2]
    assert verify(events).position == 2


def test_a_forged_seal_or_a_missing_one_is_reported():
    events = trail()
    forged = copy.deepcopy(events)
    for extension in forged[7]["extension"]:
        if extension["url"] == SEAL:
            extension["valueString"] = extension["valueString"][:-4] + "0000"
    assert verify(forged).position == 7
    unsealed = copy.deepcopy(events)
    unsealed[0].pop("extension")
    assert verify(unsealed).reason == "the event carries no seal"


def test_rewriting_the_whole_tail_from_an_altered_event_still_shows_against_the_head():
    """Re-sealing every event after an alteration makes a self-consistent chain: only
    the last hash kept apart (by the store) reveals it, so verify takes that anchor."""
    events = trail()
    last = sealed_hash(events[-1])
    assert events[4]["outcome"] == "0"
    events[4]["outcome"] = "4"  # a permitted read made to look denied
    previous = sealed_hash(events[3])
    for i in range(4, len(events)):
        events[i] = seal(events[i], previous)
        previous = sealed_hash(events[i])
    assert verify(events) is None  # internally consistent...
    assert sealed_hash(events[-1]) != last  # ...but not the trail the store anchored
