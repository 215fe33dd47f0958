"""Fixtures of the plan tests: a live server whose store holds what ``amparo init``
loads for them (the institutions and the minimum service package), and helpers that
meet a survivor at an institution and apply the package to her over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.config import Settings
from server.loading import load_bundles, load_resources
from server.plans import package_resources
from server.synth import institutions_bundle
from tests.conftest import GENERIC, LiveServer, serve
from tests.server.access.institutions import Institution


@pytest.fixture
def live(db_url: str) -> Iterator[LiveServer]:
    for server in serve(Settings(store=db_url, profiles=GENERIC)):
        store = server.app.extensions["amparo"].store
        load_resources(store, package_resources())
        load_bundles(store, server.app.extensions["amparo"].settings, [institutions_bundle()])
        yield server


def met(institution: Institution, org: str, family: str) -> dict:
    """A survivor ``institution`` (of ``org``) registers and meets: her contact opens
    her case."""
    her = institution.create({"resourceType": "Patient", "name": [{"family": family}]})
    institution.create({
        "resourceType": "Encounter", "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": f"Patient/{her['id']}"},
        "serviceProvider": {"reference": f"Organization/{org}"}})
    return her


def parameters(**inputs: str) -> dict:
    """A Parameters body of $apply with ``inputs`` as valueStrings."""
    return {"resourceType": "Parameters",
            "parameter": [{"name": name, "valueString": value} for name, value in inputs.items()]}


def applied(institution: Institution, her: dict, path: str = "PlanDefinition/paquete-minimo"
            ) -> dict:
    """The CasePlan ``$apply`` answers ``institution`` for her."""
    answer = institution.post(f"{path}/$apply", parameters(subject=f"Patient/{her['id']}"))
    assert answer.status_code == 200, answer.text
    return answer.json()
