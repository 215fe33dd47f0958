"""The outbox worker (``server/worker.py``): in this process on every adapter
(``tests/stores.py``), and in worker processes on a real SQLite file that are killed with
SIGKILL while they work."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing

import orjson
import pytest

from server import clock, worker
from server.store import NewVersion, open_store
from server.worker import OutboxWorker, register, start_workers
from tests.stores import adapters, drop_store, new_store_url


def opened(url: str):
    store = open_store(url)
    store.init()
    return store


@pytest.fixture(params=adapters())
def store(request, tmp_path):
    url = new_store_url(request.param, tmp_path)
    store = opened(url)
    yield store
    store.close()
    drop_store(url)


@pytest.fixture
def sqlite_store(tmp_path):
    store = opened(f"sqlite:///{tmp_path / 'worker.db'}")
    yield store
    store.close()


def version(type: str, id: str) -> NewVersion:
    at, us = clock.now()
    return NewVersion(type, id, 1, at, us, "PUT", orjson.dumps({"resourceType": type, "id": id}))


def write_patients(store, count: int, prefix: str = "p") -> None:
    with store.unit_of_work() as uow:
        for n in range(count):
            uow.write(version("Patient", f"{prefix}{n}"))
        uow.commit()


def record_seen(uow, event) -> None:
    """The test handler: a store effect per event, version 1, so doing it twice fails."""
    if event.type == "Patient":
        uow.write(version("Basic", f"seen-{event.position}"))


def wait_for(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_round_handles_events_in_order_and_acknowledges_them_with_their_effects(store):
    write_patients(store, 5)
    seen = []
    handled = OutboxWorker(store, "audit", lambda uow, event: (seen.append(event.position),
                                                               record_seen(uow, event)),
                           batch=3).run_once()
    assert handled == 3 and seen == [1, 2, 3]
    assert store.outbox_position("audit") == 3
    assert [store.read("Basic", f"seen-{p}") is not None for p in (1, 2, 3, 4)] == \
        [True, True, True, False]


def test_a_batch_is_one_unit_of_work(store):
    """One commit for the batch, not one per event (a 7-resource bundle is 7 events)."""
    write_patients(store, 5)
    units = []
    assert OutboxWorker(store, "audit", lambda uow, event: units.append(uow)).run_once() == 5
    assert len(units) == 5 and len({id(u) for u in units}) == 1
    assert store.outbox_position("audit") == 5


def test_a_failing_handler_stops_the_round_without_acknowledging_and_is_retried(store):
    write_patients(store, 3)
    failing = {2}

    def handle(uow, event):
        record_seen(uow, event)
        if event.position in failing:
            raise RuntimeError("secret resource contents")

    w = OutboxWorker(store, "audit", handle)
    assert w.run_once() == 1
    assert store.outbox_position("audit") == 1
    assert store.read("Basic", "seen-2") is None  # the failed unit's writes rolled back
    assert w.failures == 1
    failing.clear()
    assert w.run_once() == 3  # events 2, 3 and the Basic written for event 1
    assert store.read("Basic", "seen-2") is not None and w.failures == 0


def test_a_handler_failure_is_logged_without_its_message(store, caplog):
    write_patients(store, 1)

    def handle(uow, event):
        raise RuntimeError("secret resource contents")

    OutboxWorker(store, "audit", handle).run_once()
    assert "RuntimeError" in caplog.text and "secret" not in caplog.text


def test_only_the_lease_holder_works_and_another_takes_over_when_it_expires(store):
    write_patients(store, 2)
    a = OutboxWorker(store, "audit", record_seen, owner="a", ttl_seconds=0.3, batch=1)
    b = OutboxWorker(store, "audit", record_seen, owner="b", ttl_seconds=0.3, batch=1)
    assert a.run_once() == 1
    assert b.run_once() == 0
    time.sleep(0.35)  # a stops renewing (a dead process): its lease expires
    assert b.run_once() == 1
    assert a.run_once() == 0
    assert store.outbox_position("audit") == 2


def test_a_worker_whose_lease_changed_hands_stops_and_runs_no_handler(store):
    write_patients(store, 1)
    calls = []
    a = OutboxWorker(store, "audit", lambda uow, event: calls.append(event.position),
                     owner="a", ttl_seconds=60)
    assert a.run_once() == 1
    # Behind a's back (as if it had paused past its ttl): its lease is freed and taken.
    store.release_lease(store.acquire_lease(a.lease_name, "a", 60))
    assert store.acquire_lease(a.lease_name, "b", 60).token == 2
    write_patients(store, 1, prefix="q")
    assert a.run_once() == 0
    assert calls == [1] and store.outbox_position("audit") == 1


def test_the_thread_handles_new_events_and_stop_releases_the_lease(store):
    w = OutboxWorker(store, "audit", record_seen, owner="a", idle_seconds=0.02)
    w.start()
    try:
        write_patients(store, 4)
        wait_for(lambda: store.outbox_position("audit") >= 4)
    finally:
        w.stop(timeout=10)
    assert store.acquire_lease(w.lease_name, "b", 60).token == 2  # free at once


def test_stop_lets_the_event_in_flight_commit(store):
    write_patients(store, 3)
    entered = threading.Event()

    def slow(uow, event):
        entered.set()
        time.sleep(0.3)
        record_seen(uow, event)

    w = OutboxWorker(store, "audit", slow)
    w.start()
    assert entered.wait(10)
    w.stop(timeout=10)
    assert store.outbox_position("audit") == 1
    assert store.read("Basic", "seen-1") is not None and store.read("Basic", "seen-2") is None


def test_no_registered_consumer_starts_no_thread(store, monkeypatch):
    monkeypatch.setattr(worker, "CONSUMERS", {})
    before = threading.active_count()
    assert start_workers(store) == []
    assert threading.active_count() == before


def test_registered_consumers_each_get_a_running_worker(store, monkeypatch):
    monkeypatch.setattr(worker, "CONSUMERS", {})
    register("audit", record_seen)
    register("audit", record_seen)  # the same handler again is harmless
    with pytest.raises(ValueError):
        register("audit", lambda uow, event: None)
    workers = start_workers(store)
    try:
        assert [w.consumer for w in workers] == ["audit"]
        write_patients(store, 2)
        wait_for(lambda: store.outbox_position("audit") >= 2)
    finally:
        for w in workers:
            w.stop(timeout=10)


# -- real processes --------------------------------------------------------------------

WORKER_PROCESS = r"""
import random, sys, threading, time
import orjson
from server import clock
from server.store import NewVersion, open_store
from server.worker import OutboxWorker

store = open_store(sys.argv[1])
duplicates, stay = sys.argv[2], sys.argv[3] == "stay"

def handle(uow, event):
    if event.type != "Patient":
        return
    time.sleep(random.random() * 0.02)  # so that kills land inside units of work
    id = f"seen-{event.position}"
    at, us = clock.now()
    try:
        uow.write(NewVersion("Basic", id, 1, at, us, "PUT",
                             orjson.dumps({"resourceType": "Basic", "id": id})))
    except ValueError:  # handled before: exactly-once is broken
        with open(duplicates, "a") as out:
            out.write(f"{event.position}\n")
        raise

OutboxWorker(store, "audit", handle, ttl_seconds=1, batch=20, idle_seconds=0.05).start()
if stay:
    threading.Event().wait()
else:  # the main thread ends once the work is done; the worker thread must follow
    while store.outbox_position("audit") < store.outbox(0, 10**6)[-1].position:
        time.sleep(0.05)
"""


def spawn(tmp_path, store, stay: bool = True) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WORKER_PROCESS, store.url, str(tmp_path / "duplicates"),
         "stay" if stay else "leave"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def holder_pid(store) -> int | None:
    with closing(sqlite3.connect(store.path)) as conn:
        row = conn.execute("SELECT owner FROM lease WHERE name = 'outbox:audit'").fetchone()
    return int(row[0].split(":")[1]) if row and row[0] else None


def test_workers_killed_at_random_moments_handle_every_event_exactly_once(sqlite_store,
                                                                          tmp_path):
    store = sqlite_store
    count = 300
    write_patients(store, count)
    patients = [e.position for e in store.outbox(0, 10**6)]

    def done() -> bool:
        # a second handling of an event fails (and is retried forever): stop at once
        assert not (tmp_path / "duplicates").exists(), "an event was handled twice"
        last = store.outbox(0, 10**6)[-1].position
        return store.count("Basic") == count and store.outbox_position("audit") == last

    rng = random.Random(4)
    processes = [spawn(tmp_path, store) for _ in range(3)]
    kills_mid_work = 0
    try:
        for victim_is_holder in (True, True, False, True, False, True):
            # a live process holds the lease, then a random moment of its work
            wait_for(lambda: holder_pid(store) in {p.pid for p in processes}, timeout=10)
            time.sleep(rng.uniform(0.05, 0.4))
            holder = holder_pid(store)
            victim = rng.choice([p for p in processes if (p.pid == holder) == victim_is_holder])
            kills_mid_work += store.outbox_position("audit") < patients[-1]
            victim.kill()
            victim.wait()
            processes.remove(victim)
            processes.append(spawn(tmp_path, store))
        wait_for(done, timeout=30)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert kills_mid_work == 6
    assert not (tmp_path / "duplicates").exists()
    for position in patients:
        assert store.read("Basic", f"seen-{position}").version == 1


def test_a_worker_process_exits_with_its_main_thread_and_releases_the_lease(sqlite_store,
                                                                             tmp_path):
    store = sqlite_store
    write_patients(store, 5)
    process = spawn(tmp_path, store, stay=False)
    try:
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert store.count("Basic") == 5
    assert holder_pid(store) is None  # released, not left to expire
