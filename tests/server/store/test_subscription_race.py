"""Subscription events numbered by real processes at once (the port's contract,
"Subscriptions"): every number is taken once, none is skipped."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

ADDER = """
import sys, time
from server.store import open_store
store = open_store(sys.argv[1])
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
for i in range(10):
    with store.unit_of_work() as uow:
        print(uow.add_notification("s", "https://t.example/t", "Flag/x/_history/1", i))
        uow.commit()
store.close()
"""


def test_processes_adding_events_at_once_number_them_once_each(store):
    if store.url.startswith("mongomock:"):
        pytest.skip("mongomock lives in one process")
    start = time.time() + 2.0  # after every process has imported the store
    adders = [subprocess.Popen([sys.executable, "-c", ADDER, store.url, str(start)],
                               stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [adder.communicate(timeout=120)[0].split() for adder in adders]
    assert all(adder.returncode == 0 for adder in adders)
    assert sorted(int(n) for out in outputs for n in out) == list(range(1, 41))
    assert [n.number for n in store.notifications("s", 0)] == list(range(1, 41))
    assert store.delivery("s").count == 40
