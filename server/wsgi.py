"""WSGI entry point for external servers: ``create_app`` configured from the environment."""

from flask import Flask

from server.app import create_app
from server.bulk.config import ExportConfig
from server.bulk.worker import ExportWorker
from server.subscriptions.break_glass import BreakGlassWatch
from server.subscriptions.delivery import RestHookDelivery
from server.subscriptions.matching import Matcher
from server.subscriptions.websocket import start_channel
from server.timers import start_timers
from server.warnings.engine import TIMER, EarlyWarning
from server.worker import start_workers


def application() -> Flask:
    """Factory: each worker process builds its own app (and its own store connections)
    and starts its background threads, which end with the process's main thread: the
    outbox workers of the registered consumers (``server/worker.py``) with early
    warning's (``server/warnings/``) and subscription matching's
    (``server/subscriptions/``), the timer worker (``server/timers.py``), the
    rest-hook delivery loop, the break-glass watch on the audit trail and the bulk
    export worker (``server/bulk/worker.py``). Each is leased: one process at a time
    does each job. With ``AMPARO_WS_PORT`` set it also
    serves the websocket channel (``server/subscriptions/websocket.py``) on that port,
    which every process binds (``SO_REUSEPORT``)."""
    app = create_app()
    amparo = app.extensions["amparo"]
    settings = amparo.settings
    warnings = EarlyWarning(amparo.repo)
    delivery = RestHookDelivery(amparo.store, amparo.repo,
                                settings.base_url or "http://localhost/fhir",
                                settings.subscription_off_after)
    delivery.start()
    break_glass = BreakGlassWatch(amparo.store)
    break_glass.start()
    exports = ExportWorker(amparo.store, amparo.repo, ExportConfig.from_env(settings.store))
    exports.start()
    app.extensions["amparo.workers"] = [
        *start_workers(amparo.store, {"early-warning": warnings, "subscriptions": Matcher()}),
        start_timers(amparo.store, {TIMER: warnings.on_timer}),
        delivery, break_glass, exports]
    channel = start_channel(amparo.repo, amparo.auth.ring)
    if channel is not None:
        app.extensions["amparo.workers"].append(channel)
    return app
