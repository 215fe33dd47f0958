"""Bad input over HTTP: every error is an OperationOutcome with the right status, its
diagnostics do not echo what was sent, and nothing is written (DESIGN.md, "Non-negotiables").

Malformed JSON comes partly from the FHIR validator's test cases (``tests/data/README.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.config import Settings
from tests.conftest import GENERIC, LiveServer, assert_outcome, patient, serve

VALIDATOR_CASES = Path(__file__).parents[2] / "data/fhir-test-cases/validator"
MARKER = "Zq7-Marcela-Rojas-Vidal"  # a distinctive value that must never come back
SMALL_BODY = 2048



def written(live) -> int:
    """How many versions the server holds, of anything (system history)."""
    return len(live.get("_history", params={"_count": "1000"}).json().get("entry", []))


def post_raw(live, body: bytes, path: str = "Patient"):
    return live.post(path, data=body, headers={"Content-Type": "application/fhir+json"})


@pytest.fixture
def small(db_url: str) -> Iterator[LiveServer]:
    """A server that takes request bodies of at most SMALL_BODY bytes."""
    yield from serve(Settings(store=db_url, max_body_bytes=SMALL_BODY, profiles=GENERIC))


# malformed JSON -------------------------------------------------------------------------

VALIDATOR_FILES = ["json-comments-1.json", "bad-json-close-1.json", "bad-json-close-2.json",
                   "bad-json-close-3.json", "list-bad-syntax.json", "json-comma-bad-1.json",
                   "json-no-quotes-1.json"]


@pytest.mark.parametrize("name", VALIDATOR_FILES)
def test_the_fhir_validators_malformed_json_is_400(live, name):
    body = (VALIDATOR_CASES / name).read_bytes()
    resource_type = "List" if name.startswith("list") else \
        "Bundle" if name.startswith("bad-json-close") else "Patient"
    assert_outcome(post_raw(live, body, resource_type), 400)
    assert written(live) == 0


MALFORMED = {
    "truncated": b'{"resourceType": "Patient", "active": tr',
    "unclosed-object": b'{"resourceType": "Patient"',
    "trailing-comma": b'{"resourceType": "Patient", "active": true,}',
    "single-quotes": b"{'resourceType': 'Patient'}",
    "unquoted-key": b'{resourceType: "Patient"}',
    "nan": b'{"resourceType": "Patient", "multipleBirthInteger": NaN}',
    "leading-zero": b'{"resourceType": "Patient", "multipleBirthInteger": 02}',
    "comment": b'{"resourceType": "Patient" /* a comment */}',
    "trailing-garbage": b'{"resourceType": "Patient"} {"resourceType": "Patient"}',
    "not-utf8": b'{"resourceType": "Patient", "name": [{"family": "\xe1"}]}',
    "lone-surrogate": b'{"resourceType": "Patient", "name": [{"family": "\\ud800"}]}',
    "control-character": b'{"resourceType": "Patient", "name": [{"family": "a\x01"}]}',
    "empty": b"",
    "whitespace": b" \n\t ",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_400_and_writes_nothing(live, body):
    assert_outcome(post_raw(live, body), 400)
    live.put("Patient/kept", json=patient(id="kept"))
    assert_outcome(live.put("Patient/kept", data=body,
                          headers={"Content-Type": "application/fhir+json"}), 400)
    assert written(live) == 1


@pytest.mark.parametrize("body", [b"[]", b'[{"resourceType": "Patient"}]', b'"Patient"',
                                  b"42", b"true", b"null", b"{}", b'{"active": true}'])
def test_a_body_that_is_not_a_resource_is_400(live, body):
    body_outcome = assert_outcome(post_raw(live, body), 400)
    assert body_outcome["issue"][0]["code"] == "invalid"
    assert written(live) == 0


def test_malformed_json_diagnostics_do_not_echo_the_body(live):
    body = b'{"resourceType": "Patient", "name": [{"family": "' + MARKER.encode() + b'" ]}'
    response = post_raw(live, body)
    assert_outcome(response, 400)
    assert MARKER not in response.text


# resources that are not R4B -------------------------------------------------------------

NOT_R4B = {
    "unknown-type": ({"resourceType": "Pateint"}, 400),
    "r5-only-type": ({"resourceType": "ActorDefinition", "status": "active"}, 400),
    "abstract-type": ({"resourceType": "DomainResource"}, 400),
    "no-type": ({"id": "x", "active": True}, 400),
    "type-not-a-string": ({"resourceType": ["Patient"]}, 400),
    "unknown-element": (patient(colour="blue"), 422),
    "unknown-nested-element": (patient(contact=[{"gender": "female", "nickname": "x"}]), 422),
    "r5-only-element": ({"resourceType": "Encounter", "status": "in-progress",
                         "class": {"code": "AMB"}, "virtualService": [{"sessionKey": "x"}]}, 422),
    "r5-only-observation-element": ({"resourceType": "Observation", "status": "final",
                                     "code": {"text": "x"},
                                     "instantiatesCanonical": "http://example.org/x"}, 422),
    "r4b-choice-twice": (patient(deceasedBoolean=True, deceasedDateTime="2020-01-01"), 422),
    "unknown-contained-type": (patient(contained=[{"resourceType": "Foo", "id": "a"}]), 422),
}


@pytest.mark.parametrize("resource,status", NOT_R4B.values(), ids=NOT_R4B.keys())
def test_a_resource_that_is_not_r4b_is_refused_and_nothing_is_written(live, resource, status):
    path = resource["resourceType"] if resource.get("resourceType") in (
        "Encounter", "Observation") else "Patient"
    assert_outcome(live.post(path, json=resource), status)
    assert written(live) == 0


WRONG_VALUES = {
    "boolean-as-string": patient(active="yes"),
    "boolean-as-number": patient(active=1),
    "integer-as-string": patient(multipleBirthInteger="2"),
    "integer-as-decimal": patient(multipleBirthInteger=2.5),
    "integer-out-of-range": patient(multipleBirthInteger=3_000_000_000),
    "date-as-number": patient(birthDate=19900101),
    "bad-date": patient(birthDate="1990-13-45"),
    "positive-int-zero": patient(telecom=[{"value": "1", "rank": 0}]),
    "bad-base64": patient(photo=[{"data": "***"}]),
    "bad-id": patient(id="no spaces allowed"),
    "string-for-array": patient(name={"family": "Rojas"}),
    "array-for-single": patient(active=[True]),
    "object-for-string": patient(gender={"code": "female"}),
    "unknown-required-code": patient(gender="abc"),
    "unknown-nested-required-code": patient(telecom=[{"system": "pager-ish", "value": "1"}]),
    "missing-required-element": {"resourceType": "Observation", "code": {"text": "x"}},
    "empty-array": patient(name=[]),
    "empty-object": patient(name=[{}]),
    "empty-meta": patient(meta={}),
    "empty-string": patient(name=[{"family": ""}]),
    "null-value": patient(active=None),
    "null-in-array": patient(name=[None]),
    "empty-primitive-extension": patient(gender="female", _gender={"extension": []}),
}


@pytest.mark.parametrize("resource", WRONG_VALUES.values(), ids=WRONG_VALUES.keys())
def test_a_resource_with_wrong_values_is_422_with_the_element_and_nothing_is_written(
        live, resource):
    body = assert_outcome(live.post(resource["resourceType"], json=resource), 422)
    assert all(issue["expression"][0].startswith(resource["resourceType"])
               for issue in body["issue"])
    assert written(live) == 0


def test_the_validators_empty_array_case_is_422(live):
    body = json.loads((VALIDATOR_CASES / "empty-array.json").read_text(encoding="utf-8"))
    outcome = assert_outcome(live.post("DocumentReference", json=body), 422)
    assert outcome["issue"][0]["expression"] == ["DocumentReference.category[0].coding"]
    assert written(live) == 0


def test_every_problem_of_a_resource_is_reported_at_once(live):
    response = live.post("Patient", json=patient(active="yes", gender="abc", colour="blue"))
    expressions = {issue["expression"][0] for issue in assert_outcome(response, 422)["issue"]}
    assert {"Patient.active", "Patient.gender", "Patient.colour"} <= expressions


def test_an_invalid_update_changes_nothing(live):
    live.put("Patient/kept", json=patient(id="kept", active=True))
    assert_outcome(live.put("Patient/kept", json=patient(id="kept", active="no")), 422)
    current = live.get("Patient/kept").json()
    assert current["active"] is True and current["meta"]["versionId"] == "1"
    assert written(live) == 1


# diagnostics never echo resource contents ------------------------------------------------

ECHO_CASES = {
    "unknown-element-value": patient(colour=MARKER),
    "bad-date": patient(birthDate=MARKER),
    "wrong-type": patient(active=MARKER),
    "unknown-code": patient(gender=MARKER),
    "bad-id": patient(id=f"{MARKER}!"),
    "bad-instant": patient(meta={"lastUpdated": MARKER}),
    "nested-code": patient(telecom=[{"system": MARKER, "value": "1"}]),
    "bad-base64": patient(photo=[{"data": f"{MARKER}***"}]),
    "integer-as-string": patient(multipleBirthInteger=MARKER),
    "contained": patient(contained=[{"resourceType": "Organization", "id": "o",
                                     "active": MARKER}]),
    "resource-type": {"resourceType": MARKER},
    "mismatched-type": {"resourceType": "Observation", "status": MARKER},
}


@pytest.mark.parametrize("resource", ECHO_CASES.values(), ids=ECHO_CASES.keys())
def test_diagnostics_do_not_echo_resource_contents(live, resource):
    response = live.post("Patient", json={**resource, "name": [{"family": MARKER}]})
    assert response.status_code in (400, 422)
    assert_outcome(response, response.status_code)
    assert MARKER not in response.text


def test_diagnostics_of_a_bad_update_do_not_echo_the_url_id_or_body(live):
    response = live.put("Patient/kept", json=patient(id="other", name=[{"family": MARKER}]))
    assert_outcome(response, 400)
    assert MARKER not in response.text


# limits ---------------------------------------------------------------------------------

def padded(size: int) -> bytes:
    """A valid Patient of about ``size`` bytes."""
    body = json.dumps(patient(name=[{"family": "x" * size}])).encode()
    assert len(body) >= size
    return body


def test_a_body_over_the_size_limit_is_413_and_writes_nothing(small):
    assert_outcome(post_raw(small, padded(SMALL_BODY + 1)), 413)
    assert_outcome(small.put("Patient/big", data=padded(SMALL_BODY * 4),
                           headers={"Content-Type": "application/fhir+json"}), 413)
    assert small.get("Patient/big").status_code == 404
    assert written(small) == 0


def test_a_patch_over_the_size_limit_is_413(small):
    small.put("Patient/kept", json=patient(id="kept"))
    operations = json.dumps([{"op": "add", "path": "/name",
                              "value": [{"family": "x" * SMALL_BODY}]}])
    response = small.patch("Patient/kept", data=operations,
                           headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(response, 413)
    assert written(small) == 1


def test_a_body_under_the_size_limit_is_taken(small):
    assert small.post("Patient", data=padded(SMALL_BODY // 2)).status_code == 201


def nested(depth: int) -> dict:
    """A Patient whose extensions nest ``depth`` levels of JSON objects and arrays deep."""
    resource = patient()
    node = resource
    for _ in range(depth // 2):
        child = {"url": "http://example.org/nested"}
        node["extension"] = [child]
        node = child
    node["valueString"] = "leaf"
    return resource


def test_nesting_deeper_than_the_limit_is_400_and_writes_nothing(live):
    limit = Settings().max_json_depth
    assert_outcome(live.post("Patient", json=nested(limit + 2)), 400)
    assert_outcome(live.post("Patient", data=b"[" * 100_000 + b"]" * 100_000,
                           headers={"Content-Type": "application/fhir+json"}), 400)
    assert written(live) == 0


def test_nesting_within_the_limit_is_taken(live):
    limit = Settings().max_json_depth
    assert live.post("Patient", json=nested(limit - 2)).status_code == 201


def test_a_patch_document_nested_deeper_than_the_limit_is_400(live):
    live.put("Patient/kept", json=patient(id="kept"))
    operations = [{"op": "add", "path": "/extension", "value": nested(100)["extension"]}]
    response = live.patch("Patient/kept", data=json.dumps(operations),
                          headers={"Content-Type": "application/json-patch+json"})
    assert_outcome(response, 400)
    assert written(live) == 1


# routing --------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("DELETE", "metadata"), ("PUT", "metadata"), ("POST", "metadata"),
    ("POST", "Patient/x"), ("DELETE", "_history"), ("PUT", "Patient/_history"),
    ("PATCH", "Patient/x/_history/1"), ("GET", "Patient/_search"), ("DELETE", ""),
])
def test_a_method_the_endpoint_does_not_take_is_405(live, method, path):
    response = live.http.request(method, live.url(path), json=patient())
    assert_outcome(response, 405)
    assert written(live) == 0


@pytest.mark.parametrize("path", ["Unknown", "Unknown/1", "patient/1",
                                  "Patient/1/_history/1/more", "Patient/1/extra",
                                  "_history/Patient"])
def test_an_unknown_fhir_path_is_404(live, path):
    assert_outcome(live.get(path), 404)


def test_an_unknown_path_outside_the_fhir_base_is_404_operation_outcome(live):
    response = live.http.get(live.base.removesuffix("/fhir") + "/nothing-here")
    assert_outcome(response, 404)


# every error status, and nothing written -------------------------------------------------

def _setup(live) -> None:
    live.put("Patient/p", json=patient(id="p", identifier=[{"system": "s", "value": "1"}]))
    live.put("Patient/q", json=patient(id="q", identifier=[{"system": "s", "value": "2"}]))
    live.put("Patient/r", json=patient(id="r", identifier=[{"system": "s", "value": "2"}]))
    live.put("Patient/gone", json=patient(id="gone"))
    live.delete("Patient/gone")
    org = live.post("Organization", json={"resourceType": "Organization", "name": "PDI"})
    live.put("Observation/o", json={
        "resourceType": "Observation", "id": "o", "status": "final", "code": {"text": "x"},
        "subject": {"reference": f"Organization/{org.json()['id']}"}})


ERRORS = {
    "400-bad-id": (400, lambda s: s.get("Patient/a$b")),
    "400-id-mismatch": (400, lambda s: s.put("Patient/p", json=patient(id="q"))),
    "404-unknown": (404, lambda s: s.get("Patient/unknown")),
    "404-unknown-type": (404, lambda s: s.post("Unknown", json=patient())),
    "405-method": (405, lambda s: s.delete("metadata")),
    "406-r4": (406, lambda s: s.get("Observation/o",
                                    headers={"Accept": "application/fhir+json; fhirVersion=4.0"})),
    "409-conditional-update": (409, lambda s: s.put("Patient?identifier=s|9", json=patient(
        id="p", identifier=[{"system": "s", "value": "9"}]))),
    "410-deleted": (410, lambda s: s.patch(
        "Patient/gone", data="[]", headers={"Content-Type": "application/json-patch+json"})),
    "412-if-match": (412, lambda s: s.put("Patient/p", json=patient(id="p"),
                                          headers={"If-Match": 'W/"7"'})),
    "412-several": (412, lambda s: s.delete("Patient?identifier=s|2")),
    "415-xml": (415, lambda s: s.post("Patient", data=b"<Patient/>",
                                      headers={"Content-Type": "application/fhir+xml"})),
    "422-invalid": (422, lambda s: s.put("Patient/p", json=patient(id="p", gender="abc"))),
}


@pytest.mark.parametrize("status,request_", ERRORS.values(), ids=ERRORS.keys())
def test_every_error_is_an_operation_outcome_and_writes_nothing(live, status, request_):
    _setup(live)
    before = written(live)
    assert_outcome(request_(live), status)
    assert written(live) == before


def test_a_413_is_an_operation_outcome_and_writes_nothing(small):
    assert_outcome(post_raw(small, padded(SMALL_BODY * 2)), 413)
    assert written(small) == 0


def test_control_characters_in_strings_are_422(live):
    before = written(live)
    response = live.post("Patient", json=patient(name=[{"family": "Soto\u0000"}]))
    assert_outcome(response, 422)
    assert written(live) == before


def test_an_operation_this_server_does_not_have_is_400_not_supported(live):
    response = live.get("Patient/$everything")
    body = assert_outcome(response, 400)
    assert body["issue"][0]["code"] == "not-supported"
