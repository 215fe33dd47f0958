"""FHIR version negotiation: https://hl7.org/fhir/R4B/http.html#version-parameter"""

from __future__ import annotations

import pytest

from server.api.versions import (
    R4,
    R4B,
    RELEASES,
    body_version,
    check_servable,
    media_type,
    r4_resource_types,
    requested_version,
)
from server.errors import FhirError

FHIR_JSON = "application/fhir+json"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,*/*;q=0.8"


def observation(subject: dict | None = None, **more) -> dict:
    resource = {"resourceType": "Observation", "status": "final",
                "code": {"text": "Tamizaje de violencia"}, **more}
    if subject is not None:
        resource["subject"] = subject
    return resource


def bundle(*resources: dict, full_urls: tuple[str, ...] = ()) -> dict:
    entries = [{"resource": r} for r in resources]
    for entry, url in zip(entries, full_urls, strict=False):
        entry["fullUrl"] = url
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


def assert_refused(resource: dict) -> FhirError:
    with pytest.raises(FhirError) as raised:
        check_servable(resource, R4)
    assert raised.value.status == 406
    assert raised.value.issues[0].code == "not-supported"
    return raised.value


# Accept ---------------------------------------------------------------------------------

@pytest.mark.parametrize("accept", [None, "", "  ", FHIR_JSON, "application/json", "*/*",
                                    "application/*", BROWSER, f"{FHIR_JSON}; charset=utf-8"])
def test_accept_without_fhir_version_gets_r4b(accept):
    assert requested_version(accept) == R4B


@pytest.mark.parametrize("version", ["4.0", "4.0.1", '"4.0"'])
def test_accept_asking_for_4_0_gets_r4(version):
    assert requested_version(f"{FHIR_JSON}; fhirVersion={version}") == R4


@pytest.mark.parametrize("version", ["4.3", "4.3.0"])
def test_accept_asking_for_4_3_gets_r4b(version):
    assert requested_version(f"{FHIR_JSON}; fhirVersion={version}") == R4B


def test_fhir_version_parameter_name_is_case_insensitive():
    assert requested_version(f"{FHIR_JSON};FHIRVERSION=4.0") == R4


def test_fhir_version_on_application_json_is_honoured():
    assert requested_version("application/json; fhirVersion=4.0") == R4


@pytest.mark.parametrize("version", ["3.0", "5.0", "4.1", "4.3.0-snapshot1", "garbage", ""])
def test_accept_asking_only_for_another_fhir_version_is_406(version):
    with pytest.raises(FhirError) as raised:
        requested_version(f"{FHIR_JSON}; fhirVersion={version}")
    assert raised.value.status == 406


@pytest.mark.parametrize("accept", ["application/fhir+xml", "text/html", "application/xml",
                                    "text/html, application/fhir+xml;q=0.9", "json"])
def test_accept_without_an_acceptable_json_media_type_is_406(accept):
    with pytest.raises(FhirError) as raised:
        requested_version(accept)
    assert raised.value.status == 406
    assert raised.value.issues[0].code == "not-supported"


def test_highest_q_wins_between_versions():
    accept = f"{FHIR_JSON}; fhirVersion=4.3; q=0.5, {FHIR_JSON}; fhirVersion=4.0"
    assert requested_version(accept) == R4


def test_r4b_wins_when_both_versions_have_the_same_q():
    accept = f"{FHIR_JSON}; fhirVersion=4.0, {FHIR_JSON}; fhirVersion=4.3"
    assert requested_version(accept) == R4B


def test_explicit_version_beats_bare_media_type_at_equal_q():
    assert requested_version(f"{FHIR_JSON}, {FHIR_JSON}; fhirVersion=4.0") == R4


def test_q_0_on_r4_leaves_the_default_r4b():
    assert requested_version(f"{FHIR_JSON}; fhirVersion=4.0; q=0, */*") == R4B


def test_q_0_on_r4b_leaves_r4_through_a_wildcard():
    assert requested_version(f"{FHIR_JSON}; fhirVersion=4.3; q=0, */*") == R4


@pytest.mark.parametrize("accept", [f"{FHIR_JSON}; q=0, */*", "*/*; q=0",
                                    f"application/json;q=0, {FHIR_JSON};q=0, text/html"])
def test_q_0_on_fhir_json_excludes_it_despite_a_broader_range(accept):
    with pytest.raises(FhirError) as raised:
        requested_version(accept)
    assert raised.value.status == 406


def test_unknown_version_with_a_wildcard_fallback_gets_r4b():
    assert requested_version(f"{FHIR_JSON}; fhirVersion=5.0, */*; q=0.1") == R4B


def test_unknown_version_with_an_r4_fallback_gets_r4():
    accept = f"{FHIR_JSON}; fhirVersion=5.0, {FHIR_JSON}; fhirVersion=4.0; q=0.5"
    assert requested_version(accept) == R4


def test_xml_preferred_over_json_still_gets_json():
    assert requested_version("application/fhir+xml, application/json;q=0.1") == R4B


def test_range_with_a_malformed_q_is_ignored():
    assert requested_version(f"{FHIR_JSON};q=high, application/json;fhirVersion=4.0") == R4
    with pytest.raises(FhirError):
        requested_version(f"{FHIR_JSON};q=2")


def test_quoted_parameter_may_contain_commas_and_semicolons():
    assert requested_version(f'{FHIR_JSON}; note="a, b; c"; fhirVersion=4.0') == R4


# Content-Type ---------------------------------------------------------------------------

@pytest.mark.parametrize("content_type", [FHIR_JSON, "application/json", "Application/FHIR+JSON",
                                          f"{FHIR_JSON}; charset=utf-8",
                                          f"{FHIR_JSON}; charset=UTF-8; fhirVersion=4.3.0"])
def test_body_without_fhir_version_is_r4b(content_type):
    assert body_version(content_type) == R4B


@pytest.mark.parametrize("content_type", [f"{FHIR_JSON}; fhirVersion=4.0",
                                          f"{FHIR_JSON}; fhirVersion=4.0.1",
                                          "application/json; charset=utf-8; fhirVersion=4.0"])
def test_body_asking_for_4_0_is_r4(content_type):
    assert body_version(content_type) == R4


@pytest.mark.parametrize("content_type", [
    None, "", "application/fhir+xml", "application/xml", "text/plain", "text/html",
    "application/json-patch+json", "application/x-www-form-urlencoded",
    f"{FHIR_JSON}; fhirVersion=5.0", f"{FHIR_JSON}; fhirVersion=3.0",
    f"{FHIR_JSON}; fhirVersion=garbage", f"{FHIR_JSON}; charset=iso-8859-1",
    f"{FHIR_JSON}, application/json"])
def test_body_in_anything_but_fhir_json_4_3_or_4_0_is_415(content_type):
    with pytest.raises(FhirError) as raised:
        body_version(content_type)
    assert raised.value.status == 415
    assert raised.value.issues[0].code == "not-supported"


# media_type -----------------------------------------------------------------------------

def test_media_type_names_the_version_served():
    assert media_type(R4B) == "application/fhir+json; fhirVersion=4.3"
    assert media_type(R4) == "application/fhir+json; fhirVersion=4.0"
    assert RELEASES == {R4B: "4.3.0", R4: "4.0.1"}


def test_media_type_of_an_unknown_version_is_a_programming_error():
    with pytest.raises(ValueError):
        media_type("5.0")


# check_servable -------------------------------------------------------------------------

def test_anything_is_servable_as_r4b():
    check_servable({"resourceType": "SubscriptionStatus", "status": "active"}, R4B)
    check_servable(observation({"reference": "Organization/1"}), R4B)


def test_check_servable_with_an_unknown_version_is_a_programming_error():
    with pytest.raises(ValueError):
        check_servable({"resourceType": "Patient"}, "5.0")


@pytest.mark.parametrize("resource", [
    {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
     "fhirVersion": "4.0.1", "format": ["json"], "date": "2024-01-01",
     "rest": [{"mode": "server", "resource": [{"type": "Patient"}]}]},
    {"resourceType": "Patient", "id": "p1", "name": [{"family": "Soto"}]},
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "invalid"}]},
    {"resourceType": "Task", "status": "requested", "intent": "order"},
    {"resourceType": "Consent", "status": "active", "scope": {"text": "x"}, "category": []},
])
def test_resources_of_identical_types_are_servable_as_r4(resource):
    check_servable(resource, R4)


@pytest.mark.parametrize("reference", ["Patient/1", "Patient/1/_history/2",
                                       "https://amparo.example/fhir/Patient/1", "Group/g"])
def test_observation_about_a_patient_or_group_is_servable_as_r4(reference):
    check_servable(observation({"reference": reference}), R4)


def test_observation_about_an_organization_is_refused_as_r4():
    error = assert_refused(observation({"reference": "Organization/1"}))
    assert "Observation.subject" in error.diagnostics
    assert "R4B" in error.diagnostics


@pytest.mark.parametrize("subject", [{"type": "Organization", "display": "Sernameg"},
                                     {"reference": "Organization?identifier=x"},
                                     {"reference": "Patient/1", "type": "Organization"},
                                     {"reference": "urn:uuid:8a4c2f1e-unknown"},
                                     {"reference": "#missing"}])
def test_observation_whose_subject_is_not_shown_to_be_r4_allowed_is_refused(subject):
    assert_refused(observation(subject))


@pytest.mark.parametrize("subject", [None, {"display": "Paciente"},
                                     {"identifier": {"value": "12345678-9"}},
                                     {"type": "Patient", "identifier": {"value": "1-9"}},
                                     {"type": "http://hl7.org/fhir/StructureDefinition/Patient",
                                      "reference": "Patient/1"}])
def test_observation_without_a_disallowed_subject_is_servable_as_r4(subject):
    check_servable(observation(subject), R4)


def test_subject_pointing_to_a_contained_resource_is_judged_by_its_type():
    patient = {"resourceType": "Patient", "id": "p"}
    organization = {"resourceType": "Organization", "id": "o"}
    check_servable(observation({"reference": "#p"}, contained=[patient, organization]), R4)
    assert_refused(observation({"reference": "#o"}, contained=[patient, organization]))


def test_other_target_differences_are_checked_too():
    check_servable({"resourceType": "DiagnosticReport", "status": "final", "code": {},
                    "subject": {"reference": "Patient/1"}}, R4)
    assert_refused({"resourceType": "DiagnosticReport", "status": "final", "code": {},
                    "subject": {"reference": "Practitioner/1"}})
    assert_refused({"resourceType": "Group", "type": "person", "actual": True,
                    "member": [{"entity": {"reference": "RelatedPerson/1"}}]})


@pytest.mark.parametrize("resource_type", ["SubscriptionStatus", "SubscriptionTopic",
                                           "Citation", "NotAType"])
def test_types_missing_from_r4_are_refused(resource_type):
    error = assert_refused({"resourceType": resource_type})
    assert resource_type in error.diagnostics


def test_resource_without_resource_type_is_refused():
    assert_refused({"id": "x"})


def test_type_with_other_differences_is_servable_when_they_are_absent():
    composition = {"resourceType": "Composition", "status": "final", "type": {},
                   "date": "2024-01-01", "author": [{"reference": "Practitioner/1"}],
                   "title": "Informe"}
    check_servable(composition, R4)
    assert_refused(composition | {"confidentiality": "R"})
    assert_refused(composition | {"_confidentiality": {"extension": []}})


def test_choice_element_differences_match_every_choice_type():
    activity = {"resourceType": "ActivityDefinition", "status": "active"}
    check_servable(activity, R4)
    assert_refused(activity | {"subjectCodeableConcept": {"text": "x"}})
    assert_refused(activity | {"subjectCanonical": "http://example.org/x"})


def test_differences_are_found_in_elements_reused_by_content_reference():
    action = {"title": "Acompañar"}
    plan = {"resourceType": "PlanDefinition", "status": "active",
            "action": [action | {"action": [action]}]}
    check_servable(plan, R4)
    nested = {"resourceType": "PlanDefinition", "status": "active",
              "action": [action | {"action": [action | {"subjectCanonical": "http://x"}]}]}
    error = assert_refused(nested)
    assert "PlanDefinition.action.subject[x]" in error.diagnostics


def test_elements_r4_requires_and_r4b_dropped_make_the_type_unservable():
    assert_refused({"resourceType": "Evidence", "status": "active"})
    assert_refused({"resourceType": "EvidenceVariable", "status": "active"})


def test_bundle_of_servable_resources_is_servable():
    check_servable(bundle({"resourceType": "Patient", "id": "1"},
                          observation({"reference": "Patient/1"})), R4)


def test_bundle_with_one_unservable_resource_is_refused():
    assert_refused(bundle({"resourceType": "Patient", "id": "1"},
                          observation({"reference": "Patient/1"}),
                          observation({"reference": "Organization/1"})))
    assert_refused(bundle({"resourceType": "Patient", "id": "1"},
                          {"resourceType": "SubscriptionStatus", "status": "active"}))


def test_bundle_references_resolve_through_full_urls():
    patient = {"resourceType": "Patient"}
    organization = {"resourceType": "Organization"}
    check_servable(bundle(patient, observation({"reference": "urn:uuid:1"}),
                          full_urls=("urn:uuid:1",)), R4)
    assert_refused(bundle(organization, observation({"reference": "urn:uuid:1"}),
                          full_urls=("urn:uuid:1",)))


def test_bundle_entry_response_outcome_is_checked():
    outcome = {"resourceType": "OperationOutcome", "issue": [],
               "contained": [observation({"reference": "Organization/1"})]}
    response = {"resourceType": "Bundle", "type": "transaction-response",
                "entry": [{"response": {"status": "201 Created", "outcome": outcome}}]}
    assert_refused(response)
    outcome["contained"] = []
    check_servable(response, R4)


def test_nested_contained_resources_are_checked():
    patient = {"resourceType": "Patient",
               "contained": [observation({"reference": "Organization/1"})]}
    assert_refused(patient)
    assert_refused(bundle(patient))
    assert_refused({"resourceType": "Patient",
                    "contained": [{"resourceType": "SubscriptionTopic"}]})


def test_contained_reference_to_the_container_uses_the_container_type():
    patient = {"resourceType": "Patient", "contained": [observation({"reference": "#"})]}
    check_servable(patient, R4)


def test_resources_inside_parameters_are_checked():
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "return", "resource": {"resourceType": "SubscriptionStatus"}}]}
    assert_refused(parameters)


# r4_resource_types ----------------------------------------------------------------------

def test_r4_capability_statement_lists_identical_and_target_only_types():
    types = r4_resource_types()
    assert isinstance(types, frozenset)
    assert {"CapabilityStatement", "Bundle", "OperationOutcome", "Patient", "Observation",
            "DiagnosticReport", "Group", "Encounter", "Consent", "Task"} <= types
    assert not {"SubscriptionTopic", "SubscriptionStatus", "Composition", "Evidence",
                "MedicinalProduct"} & types
    assert len(types) == 123
