"""Fixtures of the access tests: a live server whose store holds the institutions
``amparo init`` loads, and a survivor's record written by the women's centre."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.config import Settings
from server.loading import load_bundles
from server.synth import institutions_bundle
from tests.conftest import GENERIC, LiveServer, serve
from tests.server.access.institutions import WOMENS_CENTRE, Institution


@pytest.fixture
def live(db_url: str) -> Iterator[LiveServer]:
    for server in serve(Settings(store=db_url, profiles=GENERIC)):
        store = server.app.extensions["amparo"].store
        load_bundles(store, server.app.extensions["amparo"].settings, [institutions_bundle()])
        yield server


@pytest.fixture
def record(live: LiveServer) -> tuple[Institution, dict, dict]:
    """A survivor's record written by the women's centre: her Patient and an incident."""
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
    incident = centre.create({"resourceType": "Observation", "status": "final",
                              "code": {"text": "incidente"},
                              "subject": {"reference": f"Patient/{her['id']}"}})
    return centre, her, incident
