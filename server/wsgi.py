"""WSGI entry point for external servers: ``create_app`` configured from the environment."""

from flask import Flask

from server.app import create_app
from server.timers import start_timers
from server.warnings.engine import TIMER, EarlyWarning
from server.worker import start_workers


def application() -> Flask:
    """Factory: each worker process builds its own app (and its own store connections)
    and starts the outbox workers of the registered consumers (``server/worker.py``)
    with early warning's (``server/warnings/``) and the timer worker
    (``server/timers.py``); the threads end with the process's main thread."""
    app = create_app()
    amparo = app.extensions["amparo"]
    warnings = EarlyWarning(amparo.repo)
    app.extensions["amparo.workers"] = [
        *start_workers(amparo.store, {"early-warning": warnings}),
        start_timers(amparo.store, {TIMER: warnings.on_timer})]
    return app
