"""Delivery survives being killed: real delivery processes on the live server's SQLite
file are SIGKILLed at random moments while they POST to a real receiver (slow on
purpose, so kills land mid-delivery), new ones start, and in the end every event has
arrived, in order: an event arrives only after every lower number has (duplicates are
allowed, at least once; gaps are not)."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from contextlib import closing

from server import clock
from server.subscriptions.delivery import LEASE
from server.subscriptions.endpoints import ENV
from tests.server.access.institutions import WOMENS_CENTRE, Institution
from tests.server.subscriptions.conftest import SUBSCRIPTION_TOPIC, subscription
from tests.stores import sqlite_only

DELIVERY_PROCESS = r"""
import sys, threading
from server.access import AccessGate
from server.repository import Repository
from server.store import open_store
from server.subscriptions.delivery import RestHookDelivery

store = open_store(sys.argv[1])
RestHookDelivery(store, Repository(store, AccessGate(store)), sys.argv[2], 3600,
                 retry_base=0.05, retry_max=0.2, ttl_seconds=1, idle_seconds=0.02).start()
threading.Event().wait()
"""
EVENTS = 120


def spawn(live, receiver) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", DELIVERY_PROCESS,
                             live.app.extensions["amparo"].store.url, live.base],
                            env={**os.environ, ENV: receiver.url + "/"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def holder_pid(live) -> int | None:
    with closing(sqlite3.connect(live.db)) as conn:
        row = conn.execute("SELECT owner FROM lease WHERE name = ?", (LEASE,)).fetchone()
    return int(row[0].split(":")[1]) if row and row[0] else None


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.02)


@sqlite_only
def test_killed_delivery_processes_lose_no_event_and_leave_no_gap(live, receiver):
    receiver.delay = 0.01  # each POST takes a while: kills land inside deliveries
    centre = Institution(live, WOMENS_CENTRE, "COC")
    sub = centre.create(subscription("riesgo-alto", receiver.url + "/k"))
    store = live.app.extensions["amparo"].store
    rng = random.Random(8)
    processes = [spawn(live, receiver) for _ in range(2)]

    def arrived() -> list[int]:
        return [n for r in receiver.events("/k") for n in r.numbers]

    kills_mid_delivery = 0
    try:
        wait_for(lambda: centre.get(f"Subscription/{sub['id']}").json()["status"] == "active")
        for _ in range(EVENTS):  # numbered as the matcher numbers them, one unit each
            with store.unit_of_work() as uow:
                uow.add_notification(sub["id"], SUBSCRIPTION_TOPIC + "riesgo-alto",
                                     "Flag/nada/_history/1", clock.now()[1])
                uow.commit()
        for _ in range(5):
            wait_for(lambda: holder_pid(live) in {p.pid for p in processes})
            time.sleep(rng.uniform(0.05, 0.3))
            victim = next(p for p in processes if p.pid == holder_pid(live))
            kills_mid_delivery += len(set(arrived())) < EVENTS
            victim.kill()
            victim.wait()
            processes.remove(victim)
            processes.append(spawn(live, receiver))
        wait_for(lambda: set(arrived()) == set(range(1, EVENTS + 1)), timeout=60)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert kills_mid_delivery >= 3
    seen: set[int] = set()
    for number in arrived():  # in order: nothing arrives before every lower number did
        assert number <= max(seen, default=0) + 1, (number, sorted(seen)[-3:])
        seen.add(number)
    assert centre.get(f"Subscription/{sub['id']}").json()["status"] == "active"
