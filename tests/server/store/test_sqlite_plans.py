"""SQLite-specific: searches start from the index rows, never from every resource of a
type (a conditional create would otherwise slow down as the store grows)."""

from __future__ import annotations

from server.search.query import Condition, SearchQuery, TokenValue
from server.store import open_store
from tests.server.store.test_contract import token_query, version, write


def plans(store, query: SearchQuery) -> list[str]:
    """The query plan of every statement ``store.search(query)`` runs."""
    statements: list[str] = []
    conn = store._conn()
    conn.set_trace_callback(statements.append)
    try:
        store.search(query)
    finally:
        conn.set_trace_callback(None)
    selects = [s for s in statements if s.startswith("SELECT")]
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
