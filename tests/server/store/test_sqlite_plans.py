"""SQLite-specific: searches start from the index rows, never from every resource of a
type (a conditional create would otherwise slow down as the store grows)."""

from __future__ import annotations

from server.search.query import Condition, SearchQuery, TokenValue
from server.store import open_store
from server.store.sqlite_conditions import SAMPLE
from server.store.sqlite_search import WALK
from tests.server.store.test_contract import token_query, version, write


def plans(store, query: SearchQuery) -> list[str]:
    """The query plan of the page query(ies) ``store.search(query)`` runs."""
    statements: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(statements.append)
    try:
        store.search(query)
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if s.startswith("SELECT r.rid")]  # the page query
    assert selects
    return [" | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {s}"))
            for s in selects]


def test_a_token_search_is_driven_by_the_value_index(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'plans.db'}")
    store.init()
    try:
        write(store, *(version("Patient", f"p{i}", 1, codes=[("run", str(i))])
                       for i in range(50)))
        for plan in plans(store, token_query("Patient", "run", "7")):
            assert "resource_type_lu" not in plan, plan
            assert "idx_token_code" in plan, plan
        negated = SearchQuery("Patient", (Condition("identifier", "token",
                                                    (TokenValue("run", "7"),), "not"),))
        assert [m.id for m in store.search(negated).matches][:2] == ["p0", "p1"]
    finally:
        store.close()


def test_a_broad_search_walks_the_type_in_order_and_pages_like_a_narrow_one(tmp_path):
    """When every condition matches many resources, the page is found by walking the
    type in rid order and probing each row, not by listing every match first."""
    store = open_store(f"sqlite:///{tmp_path / 'broad.db'}")
    store.init()
    try:
        size = WALK + 1000

        def codes(i: int) -> list:
            return [("s", "common")] + ([("s", "rare")] if i % 500 == 7 else []) + \
                ([("s", "late")] if i >= size - SAMPLE else [])

        write(store, *(version("Patient", f"p{i:05}", 1, codes=codes(i)) for i in range(size)))
        broad = token_query("Patient", "s", "common", count=10)
        for plan in plans(store, broad):
            assert "TEMP B-TREE" not in plan and "idx_token_rid" in plan, plan
        first = store.search(broad)
        second = store.search(token_query("Patient", "s", "common", count=10,
                                          cursor=first.next_cursor))
        assert [m.id for m in first.matches + second.matches] == \
            [f"p{i:05}" for i in range(20)]
        back = store.search(token_query("Patient", "s", "common", count=10,
                                        before=second.previous_cursor))
        assert [m.id for m in back.matches] == [m.id for m in first.matches]
        narrow = token_query("Patient", "s", "rare", count=3)
        for plan in plans(store, narrow):
            assert "idx_token_code" in plan and "resource_type (" not in plan, plan
        assert [m.id for m in store.search(narrow).matches] == ["p00007", "p00507", "p01007"]
        # broad, but all at the end: the bounded walk finds nothing, the matches are listed
        late = store.search(token_query("Patient", "s", "late", count=5))
        assert [m.id for m in late.matches] == [f"p{i:05}" for i in range(size - SAMPLE,
                                                                           size - SAMPLE + 5)]
    finally:
        store.close()
