"""Small-cell protection (``server/indicators/suppression.py``) on tables built by hand
and on random ones: every count from 1 to k-1 is hidden, and the adversary of
``attack.py`` cannot pin any hidden count, nor a small rest (denominator minus
numerator), from what stays published."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.config import Settings
from server.indicators.ledger import Ledger
from server.indicators.suppression import suppress
from tests.server.indicators.attack import recovered

K = 5


def table(cells: dict[str, int], total: str = "T", implicit: tuple[str, ...] = ()) -> Ledger:
    """One line: ``total`` = sum of ``cells`` (those in ``implicit`` never written)."""
    ledger = Ledger()
    for name, value in cells.items():
        ledger.add((name, None, None), value, written=name not in implicit)
    ledger.add((total, None, None), sum(cells.values()))
    ledger.sums.append(((total, None, None), tuple((n, None, None) for n in cells)))
    return ledger


def attack(ledger: Ledger, hidden: frozenset) -> dict:
    """What the adversary recovers of the sensitive counts it cannot see."""
    known = {k: v for k, v in ledger.values.items() if k in ledger.written and k not in hidden}
    unknown = {k: (1 if k in hidden else 0) for k in ledger.values if k not in known}
    relations = [(total, list(parts)) for total, parts in ledger.sums]
    found = recovered(known, unknown, relations)
    return {k: v for k, v in found.items() if 1 <= ledger.values[k] < K}


def names(hidden: frozenset) -> set[str]:
    return {key[0] for key in hidden}


def test_a_small_cell_is_hidden_with_the_smallest_other_cell():
    ledger = table({"a": 3, "b": 10, "c": 12})
    hidden = suppress(ledger, K)
    assert names(hidden) == {"a", "b"}
    assert not attack(ledger, hidden)


def test_zero_is_published_and_two_small_cells_alone_are_not_enough():
    """a = 1 and b = 1 hidden beside a published total 8 and c = 6: a + b = 2 and each
    hidden count is at least 1, so both would be recovered; c goes too."""
    ledger = table({"a": 1, "b": 1, "c": 6, "z": 0})
    hidden = suppress(ledger, K)
    assert names(hidden) == {"a", "b", "c"}
    assert ("z", None, None) not in hidden
    assert not attack(ledger, hidden)


def test_a_small_cell_alone_in_its_line_hides_the_total():
    ledger = table({"a": 3, "z": 0})
    hidden = suppress(ledger, K)
    assert names(hidden) == {"a", "T"}
    assert not attack(ledger, hidden)


def test_a_small_rest_hides_the_numerator():
    """98 of 100 with an assessment says that 2 have none: the 2 is a small count."""
    ledger = table({"with": 98, "rest": 2}, total="all", implicit=("rest",))
    hidden = suppress(ledger, K)
    assert names(hidden) == {"with"}
    assert not attack(ledger, hidden)


def test_large_counts_are_all_published():
    assert suppress(table({"a": 5, "b": 9, "c": 0}), K) == frozenset()


def test_comunas_inside_regions_and_regions_inside_the_total():
    """A hidden comuna must not be recovered from its region, nor the region from the
    other regions and the total."""
    ledger = Ledger()
    values = {("n", None, None): 40, ("n", "region", "13"): 22, ("n", "region", "05"): 18,
              ("n", "comuna", "13110"): 19, ("n", "comuna", "13101"): 3,
              ("n", "comuna", "05101"): 18}
    for key, value in values.items():
        ledger.add(key, value)
    ledger.sums += [(("n", None, None), (("n", "region", "13"), ("n", "region", "05"))),
                    (("n", None, None), (("n", "comuna", "13110"), ("n", "comuna", "13101"),
                                         ("n", "comuna", "05101"))),
                    (("n", "region", "13"), (("n", "comuna", "13110"), ("n", "comuna", "13101"))),
                    (("n", "region", "05"), (("n", "comuna", "05101"),))]
    hidden = suppress(ledger, K)
    assert ("n", "comuna", "13101") in hidden
    assert not attack(ledger, hidden)


def test_the_threshold_comes_from_the_environment(monkeypatch):
    assert Settings.from_env().indicator_min_cell == 5
    monkeypatch.setenv("AMPARO_INDICATOR_MIN_CELL", "10")
    assert Settings.from_env().indicator_min_cell == 10
    for bad in ("1", "diez", "-3"):
        monkeypatch.setenv("AMPARO_INDICATOR_MIN_CELL", bad)
        with pytest.raises(SystemExit, match="AMPARO_INDICATOR_MIN_CELL"):
            Settings.from_env()


@st.composite
def two_way(draw):
    """A rows x columns table with row, column and grand totals, its cells mostly small
    (so that suppression has work to do), some zero; sometimes a column is a rest that
    is never written (a denominator minus its numerator)."""
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    cell = st.one_of(st.integers(0, 6), st.integers(0, 30))
    grid = [[draw(cell) for _ in range(cols)] for _ in range(rows)]
    implicit_column = cols > 1 and draw(st.booleans())
    ledger = Ledger()
    for r in range(rows):
        for c in range(cols):
            ledger.add(("cell", str(r), str(c)), grid[r][c],
                       written=not (implicit_column and c == cols - 1))
        ledger.add(("row", str(r), None), sum(grid[r]))
        ledger.sums.append((("row", str(r), None),
                            tuple(("cell", str(r), str(c)) for c in range(cols))))
    for c in range(cols):
        ledger.add(("col", str(c), None), sum(grid[r][c] for r in range(rows)),
                   written=not (implicit_column and c == cols - 1))
        ledger.sums.append((("col", str(c), None),
                            tuple(("cell", str(r), str(c)) for r in range(rows))))
    ledger.add(("all", None, None), sum(map(sum, grid)))
    ledger.sums.append((("all", None, None), tuple(("row", str(r), None) for r in range(rows))))
    ledger.sums.append((("all", None, None), tuple(("col", str(c), None) for c in range(cols))))
    return ledger


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_way())
def test_no_hidden_count_of_a_random_table_can_be_recovered(ledger):
    hidden = suppress(ledger, K)
    small = {k for k, v in ledger.values.items() if 1 <= v < K and k in ledger.written}
    assert small <= hidden
    assert all(ledger.values[k] > 0 for k in hidden)
    assert not attack(ledger, hidden)
