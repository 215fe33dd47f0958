"""Consent provisions read as R4B defines them: nested exceptions, criteria, status,
periods; a deny beats a permit."""

from __future__ import annotations

from typing import Any

import pytest

from consent import Context, decide

from .world import APS, CONF, NOW, RESOURCES, TEAM, principal

INC = RESOURCES["INC"][0]  # an incident on 2026-05-02, authored by carabineros


def _read(provision: dict[str, Any], *, status: str = "active", who: str = "APS",
          purpose: str = "COC", more: tuple[dict[str, Any], ...] = ()) -> bool:
    consent = {"resourceType": "Consent", "id": "c", "status": status, "provision": provision}
    ctx = Context(author="Organization/otra", care_team=TEAM, institutions={APS: "aps"},
                  consents=(consent, *more), now=NOW)
    return decide(principal(who, purpose), "read", INC, ctx).permit


PERMIT = {"type": "permit"}


@pytest.mark.parametrize(("provision", "expected"), [
    (PERMIT, True),
    ({"type": "deny"}, False),
    ({}, False),  # a root without a type errs towards privacy
    (PERMIT | {"period": {"end": "2026-05-31"}}, False),
    (PERMIT | {"period": {"start": "2026-06-02"}}, False),
    (PERMIT | {"period": {"start": "2026-06", "end": "2026-06"}}, True),
    (PERMIT | {"actor": [{"reference": {"reference": APS}}]}, True),
    (PERMIT | {"actor": [{"reference": {"reference": "Organization/otra"}}]}, False),
    (PERMIT | {"purpose": [{"code": "TREAT"}]}, False),
    (PERMIT | {"class": [{"code": "Observation"}]}, True),
    (PERMIT | {"class": [{"code": "https://fhir.amparo.cl/StructureDefinition/"
                                  "ViolenceIncident"}]}, True),
    (PERMIT | {"class": [{"code": "Patient"}]}, False),
    (PERMIT | {"code": [{"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/"
                                               "formas-violencia", "code": "fisica"}]}]}, True),
    (PERMIT | {"action": [{"coding": [{"code": "access"}]}]}, True),
    (PERMIT | {"action": [{"coding": [{"code": "collect"}]}]}, False),
    (PERMIT | {"securityLabel": [{"system": CONF, "code": "R"}]}, False),
    (PERMIT | {"dataPeriod": {"start": "2026-05-01", "end": "2026-05-31"}}, True),
    (PERMIT | {"dataPeriod": {"end": "2026-04-30"}}, False),
    (PERMIT | {"data": [{"meaning": "instance", "reference": {"reference": "Observation/inc-1"}}]},
     True),
    (PERMIT | {"data": [{"meaning": "related",
                         "reference": {"reference": "Patient/sobreviviente"}}]}, True),
    (PERMIT | {"data": [{"meaning": "instance",
                         "reference": {"reference": "Observation/otra"}}]}, False),
    (PERMIT | {"provision": [{"type": "deny", "class": [{"code": "Observation"}]}]}, False),
    (PERMIT | {"provision": [{"type": "deny", "class": [{"code": "Patient"}]}]}, True),
    (PERMIT | {"provision": [{"type": "deny", "period": {"end": "2026-01-01"}}]}, True),
    ({"type": "deny", "provision": [{"type": "permit", "purpose": [{"code": "COC"}]}]}, True),
    ({"type": "deny", "provision": [{"type": "permit", "purpose": [{"code": "TREAT"}]}]},
     False),
    (PERMIT | {"provision": [{"type": "deny", "actor": [
        {"reference": {"reference": "PractitionerRole/x"}}]}]}, False),
])
def test_a_provision_applies_only_where_all_its_criteria_hold(
        provision: dict[str, Any], expected: bool) -> None:
    assert _read(provision) is expected


@pytest.mark.parametrize(("status", "expected"), [
    ("active", True), ("inactive", False), ("rejected", False), ("draft", False),
    ("proposed", False), ("entered-in-error", False)])
def test_only_an_active_consent_counts(status: str, expected: bool) -> None:
    assert _read(PERMIT, status=status) is expected


def test_a_deny_in_another_consent_beats_a_permit() -> None:
    deny = {"resourceType": "Consent", "id": "d", "status": "active",
            "provision": {"type": "deny", "actor": [{"reference": {"reference": APS}}]}}
    assert not _read(PERMIT, more=(deny,))
    assert _read(PERMIT, more=(deny | {"status": "inactive"},))
