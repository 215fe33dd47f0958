"""The IG package over HTTP: ``GET /fhir/ig/package.tgz`` (server/api/ig.py)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from profiles import ig
from profiles.package import PACKAGE_NAME, package_files
from tests.conftest import assert_outcome


def test_the_package_is_served_as_gzip_and_opens_as_a_fhir_package(live):
    response = live.get("ig/package.tgz")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/gzip"
    assert "package.tgz" in response.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("package/package.json"))
    assert manifest["name"] == PACKAGE_NAME
    assert manifest["fhirVersions"] == ["4.3.0"]
    assert names == [path for path, _ in package_files()]


def test_the_package_holds_our_operation_definitions_grouped_as_operations(live):
    """The operations R4B does not define travel with the guide, so that a client
    resolves the CapabilityStatement's ``operation.definition`` offline too."""
    response = live.get("ig/package.tgz")
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        guide = json.load(tar.extractfile(f"package/ImplementationGuide-{PACKAGE_NAME}.json"))
        index = json.load(tar.extractfile("package/.index.json"))
        for definition in ig.operation_definitions():
            name = f"package/OperationDefinition-{definition['id']}.json"
            assert json.load(tar.extractfile(name)) == definition
    indexed = {(f["resourceType"], f.get("url")) for f in index["files"]}
    grouped = {e["reference"]["reference"]: e["groupingId"]
               for e in guide["definition"]["resource"]}
    assert "operaciones" in {g["id"] for g in guide["definition"]["grouping"]}
    for definition in ig.operation_definitions():
        assert ("OperationDefinition", definition["url"]) in indexed
        assert grouped[f"OperationDefinition/{definition['id']}"] == "operaciones"


def test_the_package_has_a_strong_etag_and_if_none_match_gets_304(live):
    first = live.get("ig/package.tgz")
    tag = first.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert live.get("ig/package.tgz").headers["ETag"] == tag  # built once, same bytes
    again = live.get("ig/package.tgz", headers={"If-None-Match": tag})
    assert again.status_code == 304
    assert again.content == b"" and again.headers["ETag"] == tag
    for matching in (f'W/{tag}', f'"other", {tag}', "*"):
        assert live.get("ig/package.tgz", headers={"If-None-Match": matching}
                        ).status_code == 304, matching
    stale = live.get("ig/package.tgz", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_head_sends_the_headers_without_the_body(live):
    response = live.http.head(live.url("ig/package.tgz"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.content == b""


@pytest.mark.parametrize("accept", ["application/gzip", "application/octet-stream",
                                    "application/x-gzip;q=0.9, */*;q=0.1",
                                    "application/gzip; q=0.5"])
def test_a_download_tool_accepting_only_gzip_gets_the_package(live, accept):
    response = live.get("ig/package.tgz", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as package:
        assert package.getmember("package/package.json")


def test_only_the_package_is_served_for_a_gzip_accept(live):
    assert_outcome(live.get("Patient", headers={"Accept": "application/gzip"}), 406)
    refused = live.get("ig/package.tgz", headers={"Accept": "application/gzip;q=0"})
    assert_outcome(refused, 406)


def test_an_r4_client_is_told_the_package_is_r4b(live):
    response = live.get("ig/package.tgz",
                        headers={"Accept": "application/fhir+json; fhirVersion=4.0"})
    assert_outcome(response, 406)


def test_other_paths_under_ig_are_not_found_and_writes_are_refused(live):
    assert_outcome(live.get("ig/other.tgz"), 404)
    assert live.post("ig/package.tgz", json={}).status_code in (404, 405)


def test_a_batch_entry_cannot_carry_the_package(live):
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "ig/package.tgz"}}]}
    response = live.post("", json=batch)
    assert response.status_code == 200, response.text
    entry = response.json()["entry"][0]
    assert entry["response"]["status"].startswith("400")
    assert "resource" not in entry


def test_another_method_on_the_package_is_405_whatever_the_route_order(live):
    response = live.http.post(live.url("ig/package.tgz"), data=b"{}")
    assert response.status_code == 405, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
