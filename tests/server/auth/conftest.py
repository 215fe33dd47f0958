"""The ``store`` fixture of the storage suites (every adapter), for the key ring tests."""

from tests.server.store.conftest import store  # noqa: F401
