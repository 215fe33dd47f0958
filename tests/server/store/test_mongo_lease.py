"""The MongoDB lease functions (``server/store/mongo_lease.py``) against mongomock.

mongomock stands in for MongoDB here: it checks the filters, the pipeline update and the
duplicate-key handling the functions rely on. The atomicity of ``find_one_and_update``
across processes, and the write conflict between a fenced acknowledgement in a
transaction and a concurrent take-over, are MongoDB's and are not exercised here; under
mongomock there is no session, so ``ack`` runs without a transaction.
"""

from __future__ import annotations

import time

import mongomock
import pytest

from server import clock
from server.store import mongo_lease
from server.store.port import LeaseLost


@pytest.fixture
def db():
    return mongomock.MongoClient()["t"]


def test_a_free_lease_is_taken_with_token_one(db):
    _, before = clock.now()
    lease = mongo_lease.acquire(db, "job", "a", 5)
    assert (lease.name, lease.owner, lease.token) == ("job", "a", 1)
    assert lease.expires_us >= before + 5_000_000


def test_a_lease_held_by_another_owner_is_refused_until_it_expires(db):
    mongo_lease.acquire(db, "job", "a", 0.2)
    assert mongo_lease.acquire(db, "job", "b", 10) is None
    time.sleep(0.25)
    taken = mongo_lease.acquire(db, "job", "b", 10)
    assert (taken.owner, taken.token) == ("b", 2)
    assert mongo_lease.acquire(db, "job", "a", 10) is None


def test_the_holder_renews_with_the_same_token_and_a_later_expiry(db):
    first = mongo_lease.acquire(db, "job", "a", 5)
    time.sleep(0.01)
    renewed = mongo_lease.acquire(db, "job", "a", 5)
    assert renewed.token == first.token == 1
    assert renewed.expires_us > first.expires_us


def test_release_frees_the_lease_and_the_next_holder_gets_a_new_token(db):
    mongo_lease.release(db, mongo_lease.acquire(db, "job", "a", 60))
    assert mongo_lease.acquire(db, "job", "a", 60).token == 2


def test_releasing_a_lease_that_changed_hands_does_nothing(db):
    stale = mongo_lease.acquire(db, "job", "a", 0)
    mongo_lease.acquire(db, "job", "b", 60)
    mongo_lease.release(db, stale)
    assert mongo_lease.acquire(db, "job", "c", 60) is None


def test_ack_moves_the_position_forward_only(db):
    lease = mongo_lease.acquire(db, "job", "a", 60)
    mongo_lease.ack(db, None, "audit", 7, lease)
    mongo_lease.ack(db, None, "audit", 3, None)
    assert db.outbox_consumers.find_one({"_id": "audit"})["position"] == 7


def test_ack_with_a_lease_that_changed_hands_raises_and_changes_nothing(db):
    stale = mongo_lease.acquire(db, "job", "a", 0)
    mongo_lease.acquire(db, "job", "b", 60)
    with pytest.raises(LeaseLost):
        mongo_lease.ack(db, None, "audit", 5, stale)
    assert db.outbox_consumers.find_one({"_id": "audit"}) is None


def test_ack_with_a_released_lease_raises(db):
    lease = mongo_lease.acquire(db, "job", "a", 60)
    mongo_lease.release(db, lease)
    with pytest.raises(LeaseLost):
        mongo_lease.ack(db, None, "audit", 5, lease)


def test_an_empty_owner_is_refused(db):
    with pytest.raises(ValueError):
        mongo_lease.acquire(db, "job", "", 60)
