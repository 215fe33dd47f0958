"""read, vread and conditional read over HTTP. See: https://hl7.org/fhir/R4B/http.html#read"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from tests.conftest import assert_outcome, patient

R4B_JSON = "application/fhir+json; fhirVersion=4.3"



def created(live, **fields) -> dict:
    response = live.post("Patient", json=patient(**fields))
    assert response.status_code == 201, response.text
    return response.json()


def test_read_returns_the_current_version_as_written(live):
    written = created(live, active=True, gender="female")
    response = live.get(f"Patient/{written['id']}")
    assert response.status_code == 200
    assert response.json() == written
    assert response.json()["meta"]["versionId"] == "1"


def test_read_sends_a_weak_etag_last_modified_and_the_r4b_media_type(live):
    written = created(live, active=True)
    response = live.get(f"Patient/{written['id']}")
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Content-Type"] == R4B_JSON
    last_modified = parsedate_to_datetime(response.headers["Last-Modified"])
    updated = datetime.fromisoformat(written["meta"]["lastUpdated"])
    assert last_modified == updated.astimezone(UTC).replace(microsecond=0)


def test_read_after_an_update_returns_the_new_version_and_etag(live):
    written = created(live, active=True)
    live.put(f"Patient/{written['id']}", json=patient(id=written["id"], active=False))
    response = live.get(f"Patient/{written['id']}")
    assert response.json()["active"] is False
    assert response.json()["meta"]["versionId"] == "2"
    assert response.headers["ETag"] == 'W/"2"'


def test_vread_returns_each_version_as_it_was(live):
    pid = created(live, active=True)["id"]
    live.put(f"Patient/{pid}", json=patient(id=pid, active=False))
    first, second = live.get(f"Patient/{pid}/_history/1"), live.get(f"Patient/{pid}/_history/2")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json()["active"] is True and first.json()["meta"]["versionId"] == "1"
    assert second.json()["active"] is False and second.json()["meta"]["versionId"] == "2"
    assert first.headers["ETag"] == 'W/"1"' and second.headers["ETag"] == 'W/"2"'
    assert first.headers["Content-Type"] == R4B_JSON


@pytest.mark.parametrize("version", ["2", "0", "abc"])
def test_vread_of_a_version_that_does_not_exist_is_404(live, version):
    pid = created(live)["id"]
    assert_outcome(live.get(f"Patient/{pid}/_history/{version}"), 404, "not-found")


def test_read_of_an_unknown_id_is_404_operation_outcome(live):
    assert_outcome(live.get("Patient/does-not-exist"), 404, "not-found")


def test_vread_of_an_unknown_id_is_404(live):
    assert_outcome(live.get("Patient/does-not-exist/_history/1"), 404, "not-found")


@pytest.mark.parametrize("path", ["Patientt/1", "patient/1", "Resource/1", "ActorDefinition/1"])
def test_read_of_an_unknown_resource_type_is_404(live, path):
    assert_outcome(live.get(path), 404, "not-found")


@pytest.mark.parametrize("bad_id", ["a$b", "a_b", "x" * 65, "a%20b", "ñandú"])
def test_read_with_an_invalid_id_is_400(live, bad_id):
    assert_outcome(live.get(f"Patient/{bad_id}"), 400, "invalid")


def test_read_of_a_deleted_resource_is_410_with_the_deletion_etag(live):
    pid = created(live)["id"]
    assert live.delete(f"Patient/{pid}").status_code == 204
    response = live.get(f"Patient/{pid}")
    assert_outcome(response, 410, "deleted")
    assert response.headers["ETag"] == 'W/"2"'


def test_vread_of_the_deleted_version_is_410_and_earlier_versions_stay_readable(live):
    pid = created(live, active=True)["id"]
    live.delete(f"Patient/{pid}")
    assert_outcome(live.get(f"Patient/{pid}/_history/2"), 410, "deleted")
    earlier = live.get(f"Patient/{pid}/_history/1")
    assert earlier.status_code == 200
    assert earlier.json()["active"] is True


def test_if_none_match_with_the_current_etag_is_304_without_body(live):
    pid = created(live)["id"]
    response = live.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == 'W/"1"'


def test_if_none_match_with_an_older_etag_is_200_with_the_current_version(live):
    pid = created(live)["id"]
    live.put(f"Patient/{pid}", json=patient(id=pid, active=True))
    response = live.get(f"Patient/{pid}", headers={"If-None-Match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"


@pytest.mark.parametrize("tags", ['W/"7", W/"1"', '"1"', "*", 'W/"x", W/"1"'])
def test_if_none_match_listing_the_current_etag_is_304(live, tags):
    pid = created(live)["id"]
    assert live.get(f"Patient/{pid}", headers={"If-None-Match": tags}).status_code == 304


@pytest.mark.parametrize("tags", ['W/"7", W/"8"', "not-an-etag", 'W/"x"'])
def test_if_none_match_not_listing_the_current_etag_is_200(live, tags):
    pid = created(live)["id"]
    response = live.get(f"Patient/{pid}", headers={"If-None-Match": tags})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def test_if_modified_since_the_last_modified_time_is_304(live):
    pid = created(live)["id"]
    last_modified = live.get(f"Patient/{pid}").headers["Last-Modified"]
    response = live.get(f"Patient/{pid}", headers={"If-Modified-Since": last_modified})
    assert response.status_code == 304
    assert response.content == b""


def test_if_modified_since_a_second_before_the_last_modified_time_is_200(live):
    pid = created(live)["id"]
    last_modified = parsedate_to_datetime(live.get(f"Patient/{pid}").headers["Last-Modified"])
    earlier = format_datetime(last_modified - timedelta(seconds=1), usegmt=True)
    response = live.get(f"Patient/{pid}", headers={"If-Modified-Since": earlier})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def test_an_unparseable_if_modified_since_is_ignored(live):
    pid = created(live)["id"]
    response = live.get(f"Patient/{pid}", headers={"If-Modified-Since": "yesterday"})
    assert response.status_code == 200


def test_if_none_match_takes_precedence_over_if_modified_since(live):
    """RFC 9110 section 13.2.2: If-Modified-Since is ignored when If-None-Match is sent."""
    pid = created(live)["id"]
    response = live.get(f"Patient/{pid}", headers={
        "If-None-Match": 'W/"1"', "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert response.status_code == 304


def test_head_returns_the_read_headers_without_a_body(live):
    pid = created(live)["id"]
    get = live.get(f"Patient/{pid}")
    head = live.http.head(live.url(f"Patient/{pid}"))
    assert head.status_code == 200
    assert head.content == b""
    for name in ("ETag", "Last-Modified", "Content-Type", "Content-Length"):
        assert head.headers[name] == get.headers[name]


def test_head_of_an_unknown_id_is_404_without_a_body(live):
    head = live.http.head(live.url("Patient/does-not-exist"))
    assert head.status_code == 404
    assert head.content == b""
