"""Fixtures of the indicator tests: a store (SQLite file, or the MongoDB adapter when
``AMPARO_TEST_STORE`` says so) holding the hand-checked data set of ``dataset.py``, and
its evaluation over 2025."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.indicators.evaluation import Evaluation, evaluate
from server.indicators.period import parse_period
from server.store import Store, open_store
from tests.server.indicators import dataset
from tests.stores import TEST_STORE, drop_store, new_store_url

YEAR = parse_period("2025", "2025")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Iterator[Store]:
    """The data set, loaded once for a module's tests (they only read it)."""
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("indicators"))
    store = open_store(url)
    store.init()
    dataset.load(store)
    yield store
    store.close()
    drop_store(url)


@pytest.fixture(scope="module")
def year(loaded: Store) -> Evaluation:
    return evaluate(loaded, YEAR, dataset.NOW, 5)
