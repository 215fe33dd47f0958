"""The application factory (flaskr's ``create_app``): no module-level app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, jsonify

from profiles import is_resource_type
from profiles.r4b import summary_elements
from server import auth
from server.access import AccessGate
from server.api import flask_app, outcome
from server.audit.recorder import Auditor
from server.audit.spool import Spool, recover
from server.config import Settings
from server.conformance import warm_up
from server.repository import Repository
from server.search.definitions import params_for, resource_types
from server.store import Store, open_store


@dataclass
class Services:
    """What request handlers reach through ``app.extensions["amparo"]``."""

    settings: Settings
    store: Store
    repo: Repository
    auditor: Auditor
    auth: auth.AuthService | None = None


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    settings = settings or Settings.from_env()
    _load_definitions()
    if settings.profiles != "off":
        warm_up()
    store = store or open_store(settings.store)
    store.init()
    app = Flask("amparo")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    consent = settings.access == "consent"
    if not consent:
        app.logger.warning("AMPARO_ACCESS=permit-all: no access gate and no audit trail "
                           "(a benchmark baseline, never for real data)")
    repository = Repository(store, AccessGate(store, enabled=consent), settings.profiles)
    auditor = Auditor()  # permit-all keeps no trail
    if consent:
        recover(store, settings.spool_directory())  # what a process that died left
        auditor = Auditor(Spool(store, settings.spool_directory()))
    services = app.extensions["amparo"] = Services(settings, store, repository, auditor)
    outcome.init_app(app)
    services.auth = auth.init_app(app, store, settings)
    flask_app.init_app(app)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    return app


def _load_definitions() -> None:
    """Load the R4B definitions the request paths use now, once per process, rather than
    inside a worker's first requests (each would otherwise take a few hundred ms)."""
    for type in resource_types():
        params_for(type)
    is_resource_type("Patient")  # the structure validator's model
    summary_elements()
