"""The gate every written resource passes: R4B structure, then a ``Valid`` wrapper.

Write paths take ``Valid`` rather than a dict, so a resource that skipped validation
cannot reach the store (a type the reader can see, instead of a convention). Transaction
bundles validate all their entries before taking the store's write lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profiles import is_resource_type, validate_structure
from server.conformance import conformance, enforced_profiles
from server.errors import Issue, invalid, unprocessable
from server.store import NewVersion


@dataclass(slots=True)
class Valid:
    """A resource dict that passed R4B structure validation.

    ``prepared`` may carry the version a transaction computed from it before taking the
    store's write lock (``Repository.prepare``); it is used only if id, version and
    timestamp still agree.
    """

    resource: dict
    prepared: NewVersion | None = None

    @property
    def type(self) -> str:
        return self.resource["resourceType"]


def check_type(resource: Any, expected_type: str | None = None, where: str = "") -> str:
    """The resource's type; 400 if the body is not a resource of ``expected_type``."""
    prefix = f"{where}: " if where else ""
    if not isinstance(resource, dict):
        raise invalid(f"{prefix}the body must be a JSON object (a FHIR resource)")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not is_resource_type(rtype):
        raise invalid(f"{prefix}resourceType must name an R4B resource type",
                      [f"{where}.resourceType" if where else "resourceType"])
    if expected_type is not None and rtype != expected_type:
        raise invalid(f"{prefix}resourceType {rtype} does not match the URL's "
                      f"{expected_type}")
    return rtype


def validate(resource: Any, expected_type: str | None = None, where: str = "",
             profiles: str = "off") -> Valid:
    """``resource`` as ``Valid``; 400 when it is not a resource, 422 with every issue when
    it is not a conforming R4B one or, under ``profiles`` (``Settings.profiles``), breaks
    a profile of the implementation guide it must conform to. ``where`` prefixes the
    FHIRPath expressions (``Bundle.entry[3].resource``) for bundle entries."""
    rtype = check_type(resource, expected_type, where)
    problems = validate_structure(resource)
    if not problems and profiles != "off":
        urls = enforced_profiles(resource, profiles)
        if urls:
            problems = [p for p in conformance().validate(resource, urls)
                        if p.severity == "error"]
    if problems:
        issues = [Issue(p.severity, p.code, p.diagnostics,
                        [_locate(where, rtype, p.expression)]) for p in problems]
        raise unprocessable(f"{len(issues)} problem(s) in the {rtype} resource",
                            issues=issues)
    return Valid(resource)


def _locate(where: str, rtype: str, expression: str) -> str:
    if not where:
        return expression
    return where + expression[len(rtype):] if expression.startswith(rtype) else where
