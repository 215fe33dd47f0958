"""Fixtures of the early-warning tests: a live server whose store holds what ``amparo
init`` loads for them (the institutions and the minimum service package), profiles
checked where claimed, and ``drain``, a real outbox worker running early warning."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from server.warnings.engine import EarlyWarning
from server.worker import OutboxWorker
from tests.conftest import LiveServer
from tests.server.plans.conftest import live  # noqa: F401 (the same live server)


@pytest.fixture
def drain(live: LiveServer) -> Iterator[Callable[[], None]]:  # noqa: F811
    """Run a fresh early-warning consumer until the outbox is handled (a real worker on
    the live server's store; its own consumer name, so it starts from the beginning)."""
    amparo = live.app.extensions["amparo"]
    worker = OutboxWorker(amparo.store, f"early-warning-{uuid.uuid4()}",
                          EarlyWarning(amparo.repo))

    def run() -> None:
        while worker.run_once():
            pass
        assert worker.failures == 0
    yield run
    worker.stop()
