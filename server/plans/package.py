"""The minimum service package: the one PlanDefinition (MinimumServicePackage) every
survivor's plan instantiates, shipped as data in ``profiles/ig/plans/`` beside the risk
instruments (``profiles/ig/instruments/``): both are the guide's definitions that the
platform applies. ``amparo init`` stores it (``server.loading``) so that clients read it
and ``PlanDefinition/[id]/$apply`` applies what the store holds."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from profiles import validate_structure
from profiles.ig import load_folder
from server import errors
from server.conformance import conformance

__all__ = ["CASE_PLAN_PROFILE", "PACKAGE_ID", "PACKAGE_PROFILE", "PACKAGE_URL",
           "SERVICE_SYSTEM", "check_package", "minimum_package", "package_resources",
           "service_of"]

PACKAGE_ID = "paquete-minimo"
PACKAGE_URL = "https://fhir.amparo.cl/PlanDefinition/paquete-minimo"
PACKAGE_PROFILE = "https://fhir.amparo.cl/StructureDefinition/MinimumServicePackage"
SERVICE_SYSTEM = "https://fhir.amparo.cl/CodeSystem/servicio-paquete-minimo"
#: what a plan made from the package is
CASE_PLAN_PROFILE = "https://fhir.amparo.cl/StructureDefinition/CasePlan"

Resource = dict[str, Any]


@cache
def _shipped() -> tuple[Resource, ...]:
    return load_folder("plans", "PlanDefinition-")


def package_resources() -> list[Resource]:
    """Every PlanDefinition the platform ships (today the minimum package), fresh copies."""
    return copy.deepcopy(list(_shipped()))


def minimum_package() -> Resource:
    """The minimum service package as shipped (a fresh copy)."""
    return next(p for p in package_resources() if p["id"] == PACKAGE_ID)


def check_package(definition: Resource, where: str = "PlanDefinition") -> None:
    """Raise 422 with every problem unless ``definition`` is a MinimumServicePackage: a
    plan made from anything else would not be a CasePlan (its activities are the
    package's services, each once). ``where`` locates it (a ``Parameters`` parameter)."""
    problems = [p for p in validate_structure(definition) if p.severity == "error"]
    if not problems:
        problems = [p for p in conformance().validate(definition, [PACKAGE_PROFILE])
                    if p.severity == "error"]
    if problems:
        issues = [errors.Issue("error", p.code, p.diagnostics,
                               [where + p.expression.removeprefix("PlanDefinition")])
                  for p in problems]
        raise errors.unprocessable("la definición a aplicar no es un paquete mínimo de "
                                   f"servicios (MinimumServicePackage): {len(issues)} "
                                   "problema(s)", issues=issues)


def service_of(concepts: object) -> dict | None:
    """The ``servicio-paquete-minimo`` coding of a CodeableConcept (or of the first of a
    list of them, as ``PlanDefinition.action.code``); None when it names none."""
    if isinstance(concepts, list):
        concepts = concepts[0] if concepts else None
    codings = concepts.get("coding") if isinstance(concepts, dict) else None
    return next((c for c in codings or [] if isinstance(c, dict)
                 and c.get("system") == SERVICE_SYSTEM and isinstance(c.get("code"), str)),
                None)
