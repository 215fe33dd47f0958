"""Fixtures of the analytics tests: ``store``, a fresh store of every adapter."""

from tests.server.store.conftest import store  # noqa: F401 (every adapter's store)
