"""Content negotiation over HTTP: R4B by default, R4 where R4 and R4B agree, JSON only.

See: https://hl7.org/fhir/R4B/http.html#mime-type and #version-parameter; the unit
tests of the rules are in ``test_versions.py``.
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_outcome, patient

FHIR_JSON = "application/fhir+json"
R4 = f"{FHIR_JSON}; fhirVersion=4.0"
R4B = f"{FHIR_JSON}; fhirVersion=4.3"



@pytest.fixture
def pid(live) -> str:
    return live.post("Patient", json=patient(active=True)).json()["id"]


@pytest.fixture
def observation_about_an_organization(live) -> str:
    """An Observation whose subject is an Organization: R4B allows it, R4 does not."""
    org = live.post("Organization", json={"resourceType": "Organization", "name": "PDI"})
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "Denuncia"},
            "subject": {"reference": f"Organization/{org.json()['id']}"}}
    response = live.post("Observation", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_without_a_version_the_server_answers_r4b(live, pid):
    response = live.get(f"Patient/{pid}")
    assert response.headers["Content-Type"] == R4B


@pytest.mark.parametrize("accept", [R4, f"{FHIR_JSON}; fhirVersion=4.0.1",
                                    "application/json; fhirVersion=4.0"])
def test_an_r4_client_reads_a_patient_as_r4(live, pid, accept):
    response = live.get(f"Patient/{pid}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == R4
    assert response.json()["id"] == pid
    assert response.json() == live.get(f"Patient/{pid}").json()  # served as is, not converted


def test_an_r4_client_searches_patients_as_r4(live, pid):
    response = live.get("Patient", headers={"Accept": R4})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == R4
    assert response.json()["total"] == 1


def test_an_r4_client_reading_an_observation_about_an_organization_is_406(
        live, observation_about_an_organization):
    response = live.get(f"Observation/{observation_about_an_organization}",
                        headers={"Accept": R4})
    body = assert_outcome(response, 406)
    assert body["issue"][0]["code"] == "not-supported"
    assert response.headers["Content-Type"] == R4
    assert "Observation.subject" in body["issue"][0]["diagnostics"]


def test_an_r4_client_searching_observations_about_an_organization_is_406(
        live, observation_about_an_organization):
    assert_outcome(live.get("Observation", headers={"Accept": R4}), 406)


def test_the_same_observation_is_served_to_an_r4b_client(live, observation_about_an_organization):
    response = live.get(f"Observation/{observation_about_an_organization}",
                        headers={"Accept": R4B})
    assert response.status_code == 200
    assert response.json()["subject"]["reference"].startswith("Organization/")


@pytest.mark.parametrize("version", ["5.0", "3.0", "4.1", "4.6.0"])
def test_an_unsupported_fhir_version_is_406(live, pid, version):
    response = live.get(f"Patient/{pid}", headers={"Accept": f"{FHIR_JSON}; fhirVersion={version}"})
    assert_outcome(response, 406)


@pytest.mark.parametrize("fmt", ["xml", "application/fhir+xml", "text/xml", "html", "ttl"])
def test_a_format_other_than_json_is_406(live, pid, fmt):
    assert_outcome(live.get(f"Patient/{pid}", params={"_format": fmt}), 406)


@pytest.mark.parametrize("fmt", ["json", "application/json", "application/fhir+json"])
def test_format_json_is_served(live, pid, fmt):
    response = live.get(f"Patient/{pid}", params={"_format": fmt})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == R4B


@pytest.mark.parametrize("accept", ["application/fhir+xml", "application/xml", "text/html"])
def test_an_accept_that_names_no_json_is_406(live, pid, accept):
    assert_outcome(live.get(f"Patient/{pid}", headers={"Accept": accept}), 406)


@pytest.mark.parametrize("accept", ["text/html,*/*", "text/html,application/xhtml+xml,"
                                    "application/xml;q=0.9,*/*;q=0.8", "*/*", "application/*"])
def test_a_browser_style_accept_gets_r4b_json(live, pid, accept):
    response = live.get(f"Patient/{pid}", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == R4B
    assert response.json()["id"] == pid


@pytest.mark.parametrize("content_type", ["application/fhir+xml", "application/xml",
                                          "text/plain", f"{FHIR_JSON}; fhirVersion=5.0",
                                          f"{FHIR_JSON}; charset=latin-1"])
def test_a_body_in_another_format_is_415_and_writes_nothing(live, content_type):
    response = live.post("Patient", data=b'<Patient xmlns="http://hl7.org/fhir"/>',
                         headers={"Content-Type": content_type})
    assert_outcome(response, 415)
    assert live.get("Patient").json()["total"] == 0


def test_a_body_without_a_content_type_is_415(live):
    response = live.http.post(live.url("Patient"), data=b'{"resourceType":"Patient"}',
                              headers={"Content-Type": None})
    assert_outcome(response, 415)


@pytest.mark.parametrize("content_type", ["application/json", f"{FHIR_JSON}; charset=utf-8",
                                          R4, R4B])
def test_a_json_body_is_taken_with_any_accepted_json_media_type(live, content_type):
    response = live.post("Patient", data=b'{"resourceType":"Patient","active":true}',
                         headers={"Content-Type": content_type})
    assert response.status_code == 201, response.text


def test_an_r4_client_writing_what_r4_cannot_express_is_refused_before_anything_is_written(
        live):
    observation = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                   "subject": {"reference": "Organization/o1"}}
    response = live.post("Observation", json=observation,
                         headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert_outcome(response, 406)
    assert live.get("Observation/_history").json().get("entry") is None
