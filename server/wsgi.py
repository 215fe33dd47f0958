"""WSGI entry point for external servers: ``create_app`` configured from the environment."""

from flask import Flask

from server.app import create_app
from server.timers import start_timers
from server.warnings.engine import EarlyWarning
from server.worker import start_workers


def application() -> Flask:
    """Factory: each worker process builds its own app (and its own store connections)
    and starts the outbox workers of the registered consumers (``server/worker.py``)
    with early warning's (``server/warnings/``) and the timer worker
    (``server/timers.py``); the threads end with the process's main thread."""
    app = create_app()
    amparo = app.extensions["amparo"]
    consumers = {"early-warning": EarlyWarning(amparo.repo)}
    app.extensions["amparo.workers"] = [*start_workers(amparo.store, consumers),
                                        start_timers(amparo.store)]
    return app
