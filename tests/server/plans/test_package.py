"""The minimum service package (server/plans/package.py): shipped as a PlanDefinition
that conforms to MinimumServicePackage, with the eight services of the issue, stored by
``amparo init`` where every institution reads it."""

from __future__ import annotations

import json

import pytest

from profiles import ig
from server import errors
from server.config import Settings
from server.loading import initialise
from server.plans import (
    PACKAGE_PROFILE,
    PACKAGE_URL,
    check_package,
    minimum_package,
    service_of,
)
from tests.conftest import GENERIC, serve
from tests.server.access.institutions import HOTLINE, POLICE, Institution

SERVICES = ["apoyo-psicosocial", "asesoria-juridica", "atencion-salud", "plan-seguridad",
            "casa-acogida", "medidas-proteccion", "autonomia-economica", "apoyo-hijos-hijas"]
EXAMPLES = {name: resource for name, resource, _ in ig.examples()}


def test_the_package_offers_each_service_of_the_issue_once_in_its_order():
    package = minimum_package()
    assert package["url"] == PACKAGE_URL and package["status"] == "active"
    assert [service_of(a["code"])["code"] for a in package["action"]] == SERVICES


def test_the_package_conforms_to_its_profile_and_the_guide_examples_are_told_apart():
    check_package(minimum_package())  # no error
    check_package(EXAMPLES["MinimumServicePackage-valid-1"])
    with pytest.raises(errors.FhirError) as raised:
        check_package(EXAMPLES["MinimumServicePackage-invalid-service-twice"])
    assert raised.value.status == 422
    assert [(i.code, i.diagnostics.split(":")[0], i.expression) for i in
            raised.value.issues] == [("invariant", "amp-psm-1", ["PlanDefinition"])]


def test_init_stores_the_package_once_and_it_validates_against_its_profile(db_url):
    settings = Settings(store=db_url, profiles=GENERIC)
    first = initialise(settings)
    assert first["plans"]["created"] == 1
    assert initialise(settings)["plans"] == {"created": 0, "updated": 0, "unchanged": 1,
                                             "removed": 0}
    for live in serve(settings):
        for org, purpose in ((HOTLINE, "TREAT"), (POLICE, "THREAT")):
            stored = Institution(live, org, purpose).get("PlanDefinition/paquete-minimo")
            assert stored.status_code == 200, stored.text
            assert stored.json()["action"] == minimum_package()["action"]
        found = Institution(live, HOTLINE, "TREAT").get("PlanDefinition", url=PACKAGE_URL)
        assert [e["resource"]["id"] for e in found.json()["entry"]] == ["paquete-minimo"]
        outcome = live.get("PlanDefinition/paquete-minimo/$validate",
                           params={"profile": PACKAGE_PROFILE})
        assert outcome.status_code == 200, outcome.text
        assert [i for i in outcome.json()["issue"] if i["severity"] == "error"] == [], \
            json.dumps(outcome.json(), ensure_ascii=False)
