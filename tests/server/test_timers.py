"""The timer worker (``server/timers.py``) on every adapter (``tests/stores.py``): a real
worker thread fires what is due, once, with its handler's writes."""

from __future__ import annotations

import pytest

from server import clock
from server.timers import TimerWorker
from tests.server.test_worker import opened, version, wait_for
from tests.stores import adapters, drop_store, new_store_url


@pytest.fixture(params=adapters())
def store(request, tmp_path):
    url = new_store_url(request.param, tmp_path)
    store = opened(url)
    yield store
    store.close()
    drop_store(url)


def set_timers(store, **timers: int | None) -> None:
    with store.unit_of_work() as uow:
        for name, due in timers.items():
            uow.set_timer(name.replace("_", ":", 1), due)
        uow.commit()


def test_a_due_timer_fires_once_with_its_handler_writes_and_a_later_one_waits(store):
    fired: list[str] = []

    def note(uow, subject: str) -> None:
        fired.append(subject)
        uow.write(version("Basic", f"fired-{subject}"))  # version 1: twice would fail

    now = clock.now()[1]
    set_timers(store, note_a=now - 1_000, note_b=now + 3_600_000_000)
    worker = TimerWorker(store, {"note": note}, idle_seconds=0.02)
    worker.start()
    try:
        wait_for(lambda: fired == ["a"])
        assert worker.run_once() == 0  # fired and cleared: nothing due any more
    finally:
        worker.stop()
    assert fired == ["a"]
    assert store.read("Basic", "fired-a") is not None
    assert store.due_timers(2**62) == [("note:b", now + 3_600_000_000)]


def test_a_failing_handler_keeps_its_timer_and_does_not_hold_up_the_others(store):
    calls: list[str] = []

    def flaky(uow, subject: str) -> None:
        calls.append(subject)
        if subject == "bad":
            uow.set_timer("flaky:half-written", 1)  # rolled back with the failure
            raise RuntimeError("the handler failed")

    now = clock.now()[1]
    set_timers(store, flaky_bad=now - 2_000, flaky_good=now - 1_000, gone_x=now - 500)
    worker = TimerWorker(store, {"flaky": flaky})
    assert worker.run_once() == 2  # the good one, and the unknown kind, dropped
    assert calls == ["bad", "good"]
    assert store.due_timers(2**62) == [("flaky:bad", now - 2_000)]
    assert worker.failures == 1


def test_a_timer_moved_after_it_was_listed_is_not_fired(store):
    calls: list[str] = []
    now = clock.now()[1]
    set_timers(store, note_a=now - 1_000)
    worker = TimerWorker(store, {"note": lambda uow, subject: calls.append(subject)})
    listed = store.due_timers(now)
    set_timers(store, note_a=now + 60_000_000)  # a write moved it meanwhile
    assert worker._fire(*listed[0]) and calls == []
    assert store.due_timers(2**62) == [("note:a", now + 60_000_000)]
