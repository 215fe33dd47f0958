"""The ``store`` fixture: a fresh, initialised store of every adapter (``tests/stores.py``)."""

from __future__ import annotations

import pytest

from server.store import open_store
from tests.stores import adapters, drop_store, new_store_url


@pytest.fixture(params=adapters())
def store(request, tmp_path):
    url = new_store_url(request.param, tmp_path)
    store = open_store(url)
    store.init()
    yield store
    store.close()
    drop_store(url)
