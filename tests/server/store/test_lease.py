"""Leases and fenced acknowledgements (the port's contract, "Leases") on every adapter
(``tests/stores.py``), and the race for a free lease between real processes."""

from __future__ import annotations

import subprocess
import sys
import time

import orjson
import pytest

from server import clock
from server.store import NewVersion
from server.store.port import LeaseLost


def basic(id: str) -> NewVersion:
    at, us = clock.now()
    return NewVersion("Basic", id, 1, at, us, "PUT",
                      orjson.dumps({"resourceType": "Basic", "id": id}))


def test_a_free_lease_is_taken_with_token_one_and_expires_after_the_ttl(store):
    _, before = clock.now()
    lease = store.acquire_lease("job", "a", 5)
    assert (lease.name, lease.owner, lease.token) == ("job", "a", 1)
    assert before + 5_000_000 <= lease.expires_us <= clock.now()[1] + 5_000_000


def test_a_lease_held_by_another_owner_is_refused_until_it_expires(store):
    store.acquire_lease("job", "a", 0.3)
    assert store.acquire_lease("job", "b", 10) is None
    time.sleep(0.35)
    taken = store.acquire_lease("job", "b", 10)
    assert (taken.owner, taken.token) == ("b", 2)
    assert store.acquire_lease("job", "a", 10) is None


def test_the_holder_renews_with_the_same_token_and_a_later_expiry(store):
    first = store.acquire_lease("job", "a", 5)
    time.sleep(0.01)
    renewed = store.acquire_lease("job", "a", 5)
    assert renewed.token == first.token == 1
    assert renewed.expires_us > first.expires_us


def test_release_frees_the_lease_and_the_next_holder_gets_a_new_token(store):
    lease = store.acquire_lease("job", "a", 60)
    store.release_lease(lease)
    assert store.acquire_lease("job", "b", 60).token == 2


def test_the_same_owner_taking_a_released_lease_again_gets_a_new_token(store):
    store.release_lease(store.acquire_lease("job", "a", 60))
    assert store.acquire_lease("job", "a", 60).token == 2


def test_releasing_a_lease_that_changed_hands_does_nothing(store):
    stale = store.acquire_lease("job", "a", 0)  # expires at once
    current = store.acquire_lease("job", "b", 60)
    store.release_lease(stale)
    assert store.acquire_lease("job", "c", 60) is None
    assert store.acquire_lease("job", "b", 60).token == current.token


def test_leases_are_independent_by_name(store):
    assert store.acquire_lease("one", "a", 60).token == 1
    assert store.acquire_lease("two", "b", 60).token == 1


def test_ack_in_a_unit_of_work_commits_with_its_writes_and_never_goes_back(store):
    lease = store.acquire_lease("job", "a", 60)
    with store.unit_of_work() as uow:
        uow.write(basic("seen-1"))
        uow.ack("audit", 7, lease)
        uow.commit()
    assert store.outbox_position("audit") == 7
    assert store.read("Basic", "seen-1") is not None
    with store.unit_of_work() as uow:
        uow.ack("audit", 3)
        uow.commit()
    assert store.outbox_position("audit") == 7


def test_an_ack_without_commit_is_rolled_back(store):
    with store.unit_of_work() as uow:
        uow.ack("audit", 5)
    assert store.outbox_position("audit") == 0


def test_ack_with_a_lease_that_changed_hands_raises_and_changes_nothing(store):
    stale = store.acquire_lease("job", "a", 0)
    store.acquire_lease("job", "b", 60)
    with pytest.raises(LeaseLost), store.unit_of_work() as uow:
        uow.write(basic("seen-1"))
        uow.ack("audit", 5, stale)
        uow.commit()
    assert store.outbox_position("audit") == 0
    assert store.read("Basic", "seen-1") is None


def test_ack_with_a_released_lease_raises(store):
    lease = store.acquire_lease("job", "a", 60)
    store.release_lease(lease)
    with pytest.raises(LeaseLost), store.unit_of_work() as uow:
        uow.ack("audit", 5, lease)
    assert store.outbox_position("audit") == 0


def test_an_expired_lease_nobody_took_still_fences_correctly(store):
    lease = store.acquire_lease("job", "a", 0)  # expired, but its token is still current
    with store.unit_of_work() as uow:
        uow.ack("audit", 4, lease)
        uow.commit()
    assert store.outbox_position("audit") == 4


def test_the_lease_table_is_created_idempotently(store):
    store.acquire_lease("job", "a", 60)
    store.init()  # keeps the table and its rows
    assert store.acquire_lease("job", "a", 60).token == 1
    assert store.acquire_lease("job", "b", 60) is None


RACER = """
import sys, time
from server.store import open_store
store = open_store(sys.argv[1])
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
lease = store.acquire_lease("race", sys.argv[3], 60)
print(lease.token if lease else "none")
"""


def test_of_processes_racing_for_a_free_lease_exactly_one_wins(store):
    if store.url.startswith("mongomock:"):
        pytest.skip("mongomock lives in one process")
    start = time.time() + 2.0  # after every process has imported the store
    racers = [subprocess.Popen([sys.executable, "-c", RACER, store.url, str(start), f"p{i}"],
                               stdout=subprocess.PIPE, text=True) for i in range(6)]
    results = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    assert sorted(results) == ["1"] + ["none"] * 5
