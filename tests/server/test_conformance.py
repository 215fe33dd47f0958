"""Which of the implementation guide's profiles apply to a resource (server/conformance.py)."""

from __future__ import annotations

import copy

from profiles import ig
from server.conformance import applicable_profiles, conformance

BASE = "https://fhir.amparo.cl/StructureDefinition/"
EXAMPLES = {name: resource for name, resource, _ in ig.examples()}


def unclaimed(name: str) -> dict:
    resource = copy.deepcopy(EXAMPLES[name])
    resource.pop("meta", None)
    return resource


def test_claiming_another_profile_does_not_escape_the_guides():
    resource = unclaimed("Survivor-valid-1")
    resource["meta"] = {"profile": ["urn:somebody:else"]}
    assert applicable_profiles(resource) == ["urn:somebody:else", BASE + "Survivor"]


def test_unclaimed_resources_are_recognised_by_their_profile_patterns():
    assert applicable_profiles(unclaimed("Survivor-valid-1")) == [BASE + "Survivor"]
    assert applicable_profiles(unclaimed("ViolenceIncident-valid-1")) == [
        BASE + "ViolenceIncident"]
    assert applicable_profiles(unclaimed("Referral-valid-1")) == [BASE + "Referral"]
    assert applicable_profiles(unclaimed("ProtectionMeasure-valid-1")) == [
        BASE + "ProtectionMeasure"]  # the more specific of the two that match


def test_a_resource_no_profile_recognises_gets_none():
    vital_sign = {"resourceType": "Observation", "status": "final",
                  "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}
    assert applicable_profiles(vital_sign) == []
    assert applicable_profiles({"resourceType": "Basic", "code": {"text": "x"}}) == []


def test_conditional_references_are_checked_by_their_type():
    resource = unclaimed("Aggressor-valid-1")
    resource["patient"] = {"reference": "Patient?identifier=http://regcivil.cl/Validacion/RUN|1-9"}
    assert [i for i in conformance().validate(resource, [BASE + "Aggressor"])
            if i.severity == "error"] == []
    resource["patient"] = {"reference": "Group?identifier=x|1"}
    assert [i.expression for i in conformance().validate(resource, [BASE + "Aggressor"])
            if i.severity == "error"] == ["RelatedPerson.patient"]
