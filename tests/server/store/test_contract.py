"""The storage port's contract (server/store/port.py), run against every adapter.

Each test gets a fresh store from the ``store`` fixture, parametrised over the adapters
(``tests/stores.py``): SQLite, MongoDB on mongomock (CI has no MongoDB server; mongomock
has no transactions, so the adapter emulates them there), and a real MongoDB whenever
``MONGODB_URI`` is set.
"""

from __future__ import annotations

import threading

import orjson
import pytest

from server import clock
from server.search.index import ResourceIndex
from server.search.query import Condition, HistoryQuery, SearchQuery, TokenValue
from server.store import AccessFilter, Delivery, NewVersion, Notification


def version(type: str, id: str, n: int, *, codes=(), keys=("*",), deleted=False,
            method="PUT") -> NewVersion:
    at, us = clock.now()
    body = None if deleted else orjson.dumps(
        {"resourceType": type, "id": id, "meta": {"versionId": str(n)}})
    index = ResourceIndex(tokens=[("identifier", system, code, None) for system, code in codes])
    return NewVersion(type, id, n, at, us, "DELETE" if deleted else method, body,
                      None if deleted else index, dict.fromkeys(keys, "test"))


def write(store, *versions: NewVersion) -> None:
    with store.unit_of_work() as uow:
        for v in versions:
            uow.write(v)
        uow.commit()


def token_query(type: str, system: str | None, code: str | None, **kwargs) -> SearchQuery:
    return SearchQuery(type, (Condition("identifier", "token", (TokenValue(system, code),)),),
                       **kwargs)


def ids(page) -> list[str]:
    return [m.id for m in page.matches]


def test_read_of_an_unknown_resource_is_none(store):
    assert store.read("Patient", "nope") is None
    assert store.vread("Patient", "nope", 1) is None


def test_committed_versions_are_readable_and_every_version_is_kept(store):
    write(store, version("Patient", "p1", 1))
    write(store, version("Patient", "p1", 2))
    current = store.read("Patient", "p1")
    assert (current.version, current.deleted) == (2, False)
    assert orjson.loads(store.vread("Patient", "p1", 1).body)["meta"]["versionId"] == "1"
    assert store.vread("Patient", "p1", 3) is None


def test_a_version_that_does_not_follow_the_current_one_is_refused(store):
    write(store, version("Patient", "p1", 1))
    with pytest.raises(ValueError), store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 3))
    with pytest.raises(ValueError), store.unit_of_work() as uow:
        uow.write(version("Patient", "p2", 2))


def test_a_unit_of_work_without_commit_rolls_everything_back(store):
    with store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 1, codes=[("s", "1")]))
        assert uow.read("Patient", "p1") is not None  # sees its own write
    assert store.read("Patient", "p1") is None
    assert store.search(token_query("Patient", "s", "1")).total == 0
    assert store.outbox(0) == []


def test_an_exception_inside_a_unit_of_work_rolls_back(store):
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 1))
        raise RuntimeError("boom")
    assert store.read("Patient", "p1") is None


def test_uncommitted_writes_are_invisible_to_other_readers(store):
    seen = []
    with store.unit_of_work() as uow:
        uow.write(version("Patient", "p1", 1))
        reader = threading.Thread(target=lambda: seen.append(store.read("Patient", "p1")))
        reader.start()
        reader.join()
        uow.commit()
    assert seen == [None]
    assert store.read("Patient", "p1") is not None


def test_a_delete_is_a_new_version_without_body_and_history_stays(store):
    write(store, version("Patient", "p1", 1, codes=[("s", "1")]))
    write(store, version("Patient", "p1", 2, deleted=True))
    current = store.read("Patient", "p1")
    assert current.deleted and current.body is None and current.version == 2
    assert store.vread("Patient", "p1", 1).body is not None
    assert store.search(token_query("Patient", "s", "1")).total == 0
    history = store.history(HistoryQuery("Patient", "p1"))
    assert [(v.version, v.deleted) for v in history.versions] == [(2, True), (1, False)]


def test_a_deleted_resource_can_be_written_again(store):
    write(store, version("Patient", "p1", 1))
    write(store, version("Patient", "p1", 2, deleted=True))
    write(store, version("Patient", "p1", 3, codes=[("s", "9")]))
    assert not store.read("Patient", "p1").deleted
    assert ids(store.search(token_query("Patient", "s", "9"))) == ["p1"]


def test_token_search_matches_system_and_code_as_the_spec_says(store):
    write(store, version("Patient", "a", 1, codes=[("s1", "x")]),
          version("Patient", "b", 1, codes=[("s2", "x")]),
          version("Patient", "c", 1, codes=[(None, "x")]),
          version("Observation", "d", 1, codes=[("s1", "x")]))
    assert sorted(ids(store.search(token_query("Patient", None, "x")))) == ["a", "b", "c"]
    assert ids(store.search(token_query("Patient", "s1", "x"))) == ["a"]
    assert ids(store.search(token_query("Patient", "", "x"))) == ["c"]
    assert ids(store.search(token_query("Patient", "s2", None))) == ["b"]


def test_not_modifier_keeps_resources_without_the_value(store):
    write(store, version("Patient", "a", 1, codes=[("s", "x")]),
          version("Patient", "b", 1, codes=[("s", "y")]), version("Patient", "c", 1))
    query = SearchQuery("Patient", (Condition("identifier", "token", (TokenValue("s", "x"),),
                                              "not"),))
    assert sorted(ids(store.search(query))) == ["b", "c"]


def test_search_by_id_and_values_are_ored_conditions_anded(store):
    write(store, version("Patient", "a", 1, codes=[("s", "x")]),
          version("Patient", "b", 1, codes=[("s", "y")]),
          version("Patient", "c", 1, codes=[("s", "y")]))
    either = SearchQuery("Patient", (Condition("identifier", "token",
                                               (TokenValue("s", "x"), TokenValue("s", "y"))),))
    assert sorted(ids(store.search(either))) == ["a", "b", "c"]
    both = SearchQuery("Patient", (Condition("_id", "id", ("a", "b")),
                                   Condition("identifier", "token", (TokenValue("s", "y"),))))
    assert ids(store.search(both)) == ["b"]


def test_index_rows_follow_the_current_version(store):
    write(store, version("Patient", "a", 1, codes=[("s", "old")]))
    write(store, version("Patient", "a", 2, codes=[("s", "new")]))
    assert store.search(token_query("Patient", "s", "old")).total == 0
    assert ids(store.search(token_query("Patient", "s", "new"))) == ["a"]


def test_access_filter_applies_inside_the_query_to_totals_and_pages(store):
    write(store, *[version("Patient", f"p{i}", 1, codes=[("s", "x")],
                           keys=("inst:A",) if i % 2 else ("inst:B",)) for i in range(10)])
    only_a = AccessFilter(frozenset({"inst:A"}))
    page = store.search(token_query("Patient", "s", "x", count=3), only_a)
    assert page.total == 5
    assert len(page.matches) == 3
    rest = store.search(token_query("Patient", "s", "x", count=3, cursor=page.next_cursor),
                        only_a)
    assert sorted(ids(page) + ids(rest)) == ["p1", "p3", "p5", "p7", "p9"]
    assert store.search(token_query("Patient", "s", "x"), AccessFilter(frozenset())).total == 0
    history = store.history(HistoryQuery("Patient"), only_a)
    assert sorted(v.id for v in history.versions) == ["p1", "p3", "p5", "p7", "p9"]


def test_a_filtered_read_tells_the_basis_of_the_keys_it_met(store):
    at, us = clock.now()
    keys = {"inst:A": "author", "kind:k|purpose:TREAT": "policy:p#g Consent/c",
            "btg": "break-glass"}
    body = orjson.dumps({"resourceType": "Patient", "id": "a"})
    write(store, NewVersion("Patient", "a", 1, at, us, "PUT", body, ResourceIndex(), keys),
          version("Patient", "b", 1, keys=("inst:B",)))
    held = AccessFilter(frozenset({"inst:A", "kind:k|purpose:TREAT"}))
    assert store.read_visible("Patient", "a", held).basis == ("Consent/c", "author", "policy:p#g")
    assert store.read_visible("Patient", "b", held) is None
    assert store.readable("Patient", "a", held) and not store.readable("Patient", "b", held)
    assert store.basis([("Patient", "a"), ("Patient", "b"), ("Patient", "zz")], held) == {
        ("Patient", "a"): ("Consent/c", "author", "policy:p#g")}
    with store.unit_of_work() as uow:
        assert uow.set_access_keys("Patient", "b", 1, {"inst:A": "Consent/d"})
        assert uow.read_visible("Patient", "b", held).basis == ("Consent/d",)
        assert uow.basis([("Patient", "b")], held) == {("Patient", "b"): ("Consent/d",)}
        uow.commit()
    assert store.read_visible("Patient", "b", held).basis == ("Consent/d",)
    with store.unit_of_work() as uow:  # keys of what the unit itself wrote
        uow.write(version("Patient", "c", 1, keys=("inst:B",)))
        assert not uow.set_access_keys("Patient", "c", 2, {"inst:A": "x"})  # not current
        assert uow.set_access_keys("Patient", "c", 1, {"inst:A": "Consent/e"})
        uow.write(version("Patient", "d", 1))
        uow.write(version("Patient", "d", 2, deleted=True))
        assert not uow.set_access_keys("Patient", "d", 2, {"inst:A": "x"})  # deleted
        uow.commit()
    assert store.read_visible("Patient", "c", held).basis == ("Consent/e",)
    assert store.read_visible("Patient", "d", held) is None


def test_timers_commit_with_their_unit_and_come_due_earliest_first(store):
    with store.unit_of_work() as uow:
        uow.set_timer("rekey:Patient/a", 300)
        uow.set_timer("rekey:Patient/b", 100)
        uow.set_timer("rekey:Patient/c", 200)
        assert uow.timer("rekey:Patient/a") == 300
        uow.commit()
    assert store.due_timers(1000) == [("rekey:Patient/b", 100), ("rekey:Patient/c", 200),
                                      ("rekey:Patient/a", 300)]
    assert store.due_timers(200) == [("rekey:Patient/b", 100)]  # strictly before
    assert store.due_timers(1000, limit=1) == [("rekey:Patient/b", 100)]
    with store.unit_of_work() as uow:
        uow.set_timer("rekey:Patient/b", 500)  # moved: one timer per name
        uow.set_timer("rekey:Patient/c", None)
        uow.set_timer("rekey:Patient/zz", None)  # clearing an unset timer is no error
        assert uow.timer("rekey:Patient/c") is None
        uow.commit()
    assert store.due_timers(1000) == [("rekey:Patient/a", 300), ("rekey:Patient/b", 500)]
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.set_timer("rekey:Patient/a", None)
        uow.set_timer("rekey:Patient/d", 1)
        raise RuntimeError("rolled back")
    assert store.due_timers(1000) == [("rekey:Patient/a", 300), ("rekey:Patient/b", 500)]


def notify(store, subscription: str, n: int, topic: str = "https://t.example/t") -> list[int]:
    """Add ``n`` events of ``subscription`` in one committed unit; their numbers."""
    with store.unit_of_work() as uow:
        numbers = [uow.add_notification(subscription, topic, f"Flag/x/_history/{i + 1}",
                                        1000 + i) for i in range(n)]
        uow.commit()
    return numbers


def test_notifications_are_numbered_from_one_without_gaps_per_subscription(store):
    assert store.delivery("a") is None
    assert store.notifications("a", 0) == []
    with store.unit_of_work() as uow:
        assert uow.delivery("a") is None
        assert uow.add_notification("a", "https://t.example/t", "Flag/x/_history/1", 10) == 1
        assert uow.add_notification("b", "https://t.example/u", "Flag/y/_history/1", 11) == 1
        assert uow.add_notification("a", "https://t.example/t", "Flag/x/_history/2", 12) == 2
        assert uow.delivery("a") == Delivery("a", count=2)  # created with the defaults
        uow.commit()
    assert notify(store, "a", 2) == [3, 4]  # a new unit continues from what was committed
    assert notify(store, "b", 1) == [2]
    assert store.delivery("a") == Delivery("a", count=4)
    assert store.delivery("b") == Delivery("b", count=2)
    assert store.notifications("a", 0)[:2] == [
        Notification("a", 1, "https://t.example/t", "Flag/x/_history/1", 10),
        Notification("a", 2, "https://t.example/t", "Flag/x/_history/2", 12)]
    assert [n.number for n in store.notifications("a", 0)] == [1, 2, 3, 4]
    assert [(n.subscription, n.number, n.topic) for n in store.notifications("b", 0)] == [
        ("b", 1, "https://t.example/u"), ("b", 2, "https://t.example/t")]


def test_notifications_page_by_number_after_and_limit(store):
    notify(store, "a", 7)
    notify(store, "ab", 3)  # a subscription whose id starts like another's stays apart
    assert [n.number for n in store.notifications("a", 0, limit=3)] == [1, 2, 3]
    assert [n.number for n in store.notifications("a", 3, limit=3)] == [4, 5, 6]
    assert [n.number for n in store.notifications("a", 6, limit=3)] == [7]
    assert store.notifications("a", 7) == []
    assert [n.number for n in store.notifications("ab", 1)] == [2, 3]
    assert store.notifications("nobody", 0) == []


def test_notifications_without_commit_leave_no_event_and_no_count(store):
    notify(store, "a", 2)
    with store.unit_of_work() as uow:
        assert uow.add_notification("a", "https://t.example/t", "Flag/x/_history/3", 1) == 3
        assert uow.add_notification("new", "https://t.example/t", "Flag/z/_history/1", 1) == 1
        uow.set_delivery(Delivery("a", delivered=2, due_us=99))
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.add_notification("a", "https://t.example/t", "Flag/x/_history/3", 1)
        raise RuntimeError("rolled back")
    assert store.delivery("a") == Delivery("a", count=2)
    assert store.delivery("new") is None
    assert [n.number for n in store.notifications("a", 0)] == [1, 2]
    assert store.notifications("new", 0) == []
    assert notify(store, "a", 1) == [3]  # no gap where the rolled-back events were


def test_set_delivery_stores_the_worker_state_and_never_the_count(store):
    notify(store, "a", 3)
    with store.unit_of_work() as uow:
        uow.set_delivery(Delivery("a", count=99, delivered=2, due_us=500,
                                  failing_since_us=400, attempts=1))
        assert uow.delivery("a") == Delivery("a", 3, 2, 500, 400, 1)
        uow.set_delivery(Delivery("fresh", count=7, due_us=60))  # no event yet: inserted
        uow.commit()
    assert store.delivery("a") == Delivery("a", 3, 2, 500, 400, 1)
    assert store.delivery("fresh") == Delivery("fresh", 0, 0, 60, None, 0)
    assert notify(store, "a", 1) == [4]  # the count moved on, the worker state stayed
    assert store.delivery("a") == Delivery("a", 4, 2, 500, 400, 1)
    with store.unit_of_work() as uow:  # healthy again: the failure run is cleared
        uow.set_delivery(Delivery("a", count=0, delivered=4, due_us=900))
        uow.commit()
    assert store.delivery("a") == Delivery("a", 4, 4, 900, None, 0)


def test_due_deliveries_are_due_or_healthy_with_a_backlog_earliest_due_first(store):
    for name, events in (("backlog", 2), ("failing", 2), ("idle", 1), ("due", 1),
                         ("retry", 1)):
        notify(store, name, events)
    with store.unit_of_work() as uow:
        uow.set_delivery(Delivery("backlog", delivered=1, due_us=5000))  # not due, events
        uow.set_delivery(Delivery("failing", delivered=1, due_us=3000,  # backing off
                                  failing_since_us=100, attempts=2))
        uow.set_delivery(Delivery("idle", delivered=1, due_us=4000))  # nothing to do
        uow.set_delivery(Delivery("due", delivered=1, due_us=200))  # a heartbeat
        uow.set_delivery(Delivery("retry", delivered=0, due_us=200,  # backoff over
                                  failing_since_us=100, attempts=1))
        uow.commit()
    assert [d.subscription for d in store.due_deliveries(1000)] == [
        "due", "retry", "backlog"]
    assert store.due_deliveries(1000)[0] == Delivery("due", 1, 1, 200, None, 0)
    assert [d.subscription for d in store.due_deliveries(3000)] == [
        "due", "retry", "failing", "backlog"]
    assert [d.subscription for d in store.due_deliveries(10_000)] == [
        "due", "retry", "failing", "idle", "backlog"]
    assert [d.subscription for d in store.due_deliveries(10_000, limit=2)] == [
        "due", "retry"]
    assert [d.subscription for d in store.due_deliveries(100)] == ["backlog"]
    with store.unit_of_work() as uow:  # a new event of an idle one needs the worker
        uow.add_notification("idle", "https://t.example/t", "Flag/x/_history/9", 1)
        uow.commit()
    assert [d.subscription for d in store.due_deliveries(100)] == ["idle", "backlog"]


def test_concurrent_units_number_events_once_each(store):
    errors = []

    def add() -> None:
        try:
            for _ in range(10):
                notify(store, "s", 1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [n.number for n in store.notifications("s", 0)] == list(range(1, 41))
    assert store.delivery("s").count == 40


def test_paging_is_stable_while_resources_are_created_and_deleted(store):
    write(store, *[version("Patient", f"p{i}", 1, codes=[("s", "x")]) for i in range(6)])
    first = store.search(token_query("Patient", "s", "x", count=2))
    write(store, version("Patient", "new", 1, codes=[("s", "x")]))
    write(store, version("Patient", ids(first)[0], 2, deleted=True))
    second = store.search(token_query("Patient", "s", "x", count=2, cursor=first.next_cursor))
    third = store.search(token_query("Patient", "s", "x", count=2, cursor=second.next_cursor))
    seen = ids(first) + ids(second) + ids(third)
    assert len(seen) == len(set(seen))
    assert set(seen) >= {f"p{i}" for i in range(6)}
    back = store.search(token_query("Patient", "s", "x", count=2,
                                    before=second.previous_cursor))
    assert ids(back) == ids(first)[1:]  # its first entry was deleted meanwhile


def test_history_is_newest_first_and_pages_with_a_cursor(store):
    for n in range(1, 6):
        write(store, version("Patient", "p", n))
    first = store.history(HistoryQuery("Patient", "p", count=2))
    assert [v.version for v in first.versions] == [5, 4]
    second = store.history(HistoryQuery("Patient", "p", count=2, cursor=first.next_cursor))
    assert [v.version for v in second.versions] == [3, 2]


def test_history_since_keeps_later_versions_only(store):
    write(store, version("Patient", "old", 1))
    _, middle = clock.now()
    write(store, version("Patient", "new", 1))
    assert [v.id for v in store.history(HistoryQuery(since=middle)).versions] == ["new"]
    assert {v.id for v in store.history(HistoryQuery("Patient")).versions} == {"old", "new"}
    assert store.history(HistoryQuery("Observation")).versions == []


def test_outbox_lists_committed_changes_in_commit_order_and_resumes_after_ack(store):
    write(store, version("Patient", "a", 1), version("Patient", "b", 1))
    with store.unit_of_work() as uow:
        uow.write(version("Patient", "rolled-back", 1))
    write(store, version("Patient", "a", 2, deleted=True))
    events = store.outbox(0)
    assert [(e.id, e.version, e.method) for e in events] == [
        ("a", 1, "PUT"), ("b", 1, "PUT"), ("a", 2, "DELETE")]
    assert [e.position for e in events] == sorted({e.position for e in events})
    assert store.outbox_position("worker") == 0
    store.outbox_ack("worker", events[1].position)
    assert [e.id for e in store.iter_outbox("worker")] == ["a"]
    store.outbox_ack("worker", events[0].position)  # never moves backwards
    assert store.outbox_position("worker") == events[1].position


def test_units_of_work_are_serialised_so_read_then_write_never_loses_an_update(store):
    write(store, version("Patient", "counter", 1))
    errors = []

    def bump() -> None:
        try:
            for _ in range(10):
                with store.unit_of_work() as uow:
                    current = uow.read("Patient", "counter")
                    uow.write(version("Patient", "counter", current.version + 1))
                    uow.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.read("Patient", "counter").version == 41


def test_count_counts_current_non_deleted_resources(store):
    write(store, version("Patient", "a", 1), version("Patient", "b", 1),
          version("Observation", "c", 1))
    write(store, version("Patient", "b", 2, deleted=True))
    assert store.count() == 2
    assert store.count("Patient") == 1


def test_init_is_idempotent(store):
    write(store, version("Patient", "a", 1))
    store.init()
    assert store.read("Patient", "a") is not None


def read_elsewhere(store, type: str, id: str):
    """A read on another thread, hence another connection: what other clients see."""
    seen = []
    reader = threading.Thread(target=lambda: seen.append(store.read(type, id)))
    reader.start()
    reader.join()
    return seen[0]


def test_concurrent_units_commit_their_own_writes_and_failures_roll_back_alone(store):
    """Writers on many threads (SQLite commits them in groups): every unit that commits is
    visible to a new reader the moment it returns, and a failing unit loses only its own
    writes, never those of units that committed beside it."""
    outcomes: dict[str, bool] = {}
    lock = threading.Lock()

    def writer(n: int) -> None:
        for i in range(15):
            key = f"w{n}-{i}"
            fail = (n + i) % 4 == 0
            try:
                with store.unit_of_work() as uow:
                    uow.write(version("Patient", key, 1, codes=[("s", key)]))
                    if fail:
                        raise RuntimeError("this unit fails")
                    uow.commit()
                assert read_elsewhere(store, "Patient", key) is not None, key
            except RuntimeError:
                pass
            with lock:
                outcomes[key] = not fail

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for key, kept in outcomes.items():
        assert (store.read("Patient", key) is not None) == kept, key
        assert store.search(token_query("Patient", "s", key)).total == int(kept)
    kept_keys = sorted(k for k, kept in outcomes.items() if kept)
    assert sorted(e.id for e in store.outbox(0, 1000)) == kept_keys
