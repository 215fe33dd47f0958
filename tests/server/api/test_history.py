"""history at instance, type and system level over HTTP.

See: https://hl7.org/fhir/R4B/http.html#history
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_outcome, patient


def history(live, path: str, **params) -> dict:
    response = live.get(path, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "history"
    return body


def entries(bundle: dict) -> list[dict]:
    return bundle.get("entry", [])


def link(bundle: dict, relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


def version_keys(bundle: dict) -> list[tuple[str, str]]:
    """(fullUrl, etag) of every entry: one per version."""
    return [(e["fullUrl"], e["response"]["etag"]) for e in entries(bundle)]


def lifecycle(live) -> tuple[str, list[dict]]:
    """A Patient created (POST), updated (PUT), patched (PATCH) and deleted (DELETE)."""
    created = live.post("Patient", json=patient(active=True)).json()
    pid = created["id"]
    updated = live.put(f"Patient/{pid}", json=patient(id=pid, active=False)).json()
    patched = live.patch(f"Patient/{pid}", data='[{"op":"add","path":"/gender","value":"female"}]',
                         headers={"Content-Type": "application/json-patch+json"}).json()
    assert live.delete(f"Patient/{pid}").status_code == 204
    return pid, [created, updated, patched]


def test_instance_history_lists_every_version_newest_first(live):
    pid, (created, updated, patched) = lifecycle(live)
    bundle = history(live, f"Patient/{pid}/_history")
    found = entries(bundle)
    assert [e["request"]["method"] for e in found] == ["DELETE", "PATCH", "PUT", "POST"]
    assert [e["response"]["etag"] for e in found] == ['W/"4"', 'W/"3"', 'W/"2"', 'W/"1"']
    assert [e["resource"] for e in found[1:]] == [patched, updated, created]
    assert all(e["fullUrl"] == f"{live.base}/Patient/{pid}" for e in found)
    assert link(bundle, "self") == f"{live.base}/Patient/{pid}/_history"


def test_history_entries_carry_request_and_response_as_the_spec_describes(live):
    pid, (created, updated, patched) = lifecycle(live)
    deleted, patch_entry, put_entry, post_entry = entries(history(live, f"Patient/{pid}/_history"))
    assert post_entry["request"] == {"method": "POST", "url": "Patient"}
    assert put_entry["request"] == {"method": "PUT", "url": f"Patient/{pid}"}
    assert patch_entry["request"] == {"method": "PATCH", "url": f"Patient/{pid}"}
    assert deleted["request"] == {"method": "DELETE", "url": f"Patient/{pid}"}
    assert post_entry["response"]["status"].startswith("201")
    assert put_entry["response"]["status"].startswith("200")
    for entry, version in ((post_entry, created), (put_entry, updated), (patch_entry, patched)):
        assert entry["response"]["lastModified"] == version["meta"]["lastUpdated"]


def test_a_deleted_version_has_no_resource(live):
    pid, _ = lifecycle(live)
    deleted = entries(history(live, f"Patient/{pid}/_history"))[0]
    assert "resource" not in deleted
    assert deleted["response"]["status"].startswith("204")
    assert deleted["response"]["etag"] == 'W/"4"'
    assert deleted["response"]["lastModified"]


def test_update_as_create_is_201_in_history(live):
    live.put("Patient/client-id", json=patient(id="client-id"))
    (entry,) = entries(history(live, "Patient/client-id/_history"))
    assert entry["request"] == {"method": "PUT", "url": "Patient/client-id"}
    assert entry["response"]["status"].startswith("201")


def test_instance_history_of_an_unknown_id_is_404(live):
    live.post("Patient", json=patient())
    assert_outcome(live.get("Patient/unknown/_history"), 404, "not-found")


def test_instance_history_of_an_unknown_type_is_404(live):
    assert_outcome(live.get("Unknown/1/_history"), 404, "not-found")
    assert_outcome(live.get("Unknown/_history"), 404, "not-found")


def test_type_history_holds_only_that_type_newest_first(live):
    first = live.post("Patient", json=patient()).json()["id"]
    live.post("Organization", json={"resourceType": "Organization", "name": "SernamEG"})
    second = live.post("Patient", json=patient()).json()["id"]
    live.put(f"Patient/{first}", json=patient(id=first, active=True))
    found = entries(history(live, "Patient/_history"))
    assert [(e["fullUrl"].rsplit("/", 1)[1], e["response"]["etag"]) for e in found] == [
        (first, 'W/"2"'), (second, 'W/"1"'), (first, 'W/"1"')]
    assert all(e["resource"]["resourceType"] == "Patient" for e in found)


def test_system_history_holds_every_type(live):
    live.post("Patient", json=patient())
    live.post("Organization", json={"resourceType": "Organization", "name": "SernamEG"})
    found = entries(history(live, "_history"))
    assert [e["resource"]["resourceType"] for e in found] == ["Organization", "Patient"]


def test_history_of_an_empty_server_is_an_empty_bundle(live):
    bundle = history(live, "_history")
    assert entries(bundle) == []
    assert link(bundle, "next") is None


def follow(live, bundle: dict, limit: int = 50) -> list[dict]:
    """Every page from ``bundle`` on, by its next links."""
    pages = [bundle]
    while (url := link(pages[-1], "next")) is not None:
        assert len(pages) < limit, "next links do not end"
        response = live.http.get(url)
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def test_count_pages_through_every_version_without_duplicates(live):
    pid = live.post("Patient", json=patient()).json()["id"]
    for active in (True, False, True, False):
        live.put(f"Patient/{pid}", json=patient(id=pid, active=active))
    live.post("Patient", json=patient())
    everything = version_keys(history(live, "Patient/_history"))
    assert len(everything) == 6
    pages = follow(live, history(live, "Patient/_history", _count="2"))
    assert [len(entries(p)) for p in pages] == [2, 2, 2]
    paged = [key for page in pages for key in version_keys(page)]
    assert paged == everything


def test_instance_history_pages_by_count(live):
    pid = live.post("Patient", json=patient()).json()["id"]
    for active in (True, False):
        live.put(f"Patient/{pid}", json=patient(id=pid, active=active))
    pages = follow(live, history(live, f"Patient/{pid}/_history", _count="1"))
    assert [e["response"]["etag"] for p in pages for e in entries(p)] == [
        'W/"3"', 'W/"2"', 'W/"1"']
    assert all(link(p, "next") is None or "_count=1" in link(p, "next") for p in pages)


def test_versions_written_between_pages_do_not_shift_the_next_page(live):
    for _ in range(4):
        live.post("Patient", json=patient())
    first = history(live, "_history", _count="2")
    before = version_keys(history(live, "_history"))
    live.post("Patient", json=patient(active=True))
    rest = follow(live, first)[1:]
    paged = version_keys(first) + [key for page in rest for key in version_keys(page)]
    assert paged == before


def test_count_zero_returns_no_entries(live):
    live.post("Patient", json=patient())
    bundle = history(live, "_history", _count="0")
    assert entries(bundle) == []


@pytest.mark.parametrize("count", ["1001", "-1", "two", "1.5"])
def test_an_invalid_count_is_400(live, count):
    assert_outcome(live.get("_history", params={"_count": count}), 400, "invalid")


def test_since_keeps_only_versions_updated_at_or_after_it(live):
    old = live.post("Patient", json=patient()).json()
    new = live.post("Patient", json=patient()).json()
    since = new["meta"]["lastUpdated"]
    found = entries(history(live, "Patient/_history", _since=since))
    assert [e["resource"]["id"] for e in found] == [new["id"]]
    assert old["id"] not in {e["resource"]["id"] for e in found}
    assert link(history(live, "Patient/_history", _since=since), "self").endswith(
        "_since=" + since.replace(":", "%3A").replace("+", "%2B"))


def test_since_in_the_future_returns_nothing(live):
    live.post("Patient", json=patient())
    assert entries(history(live, "_history", _since="2999-01-01T00:00:00Z")) == []


def test_since_as_a_date_is_taken_as_its_midnight(live):
    live.post("Patient", json=patient())
    assert len(entries(history(live, "_history", _since="2000-01-01"))) == 1


@pytest.mark.parametrize("since", ["garbage", "2020-13-01T00:00:00Z", "2020-01-01T00:00:00",
                                   "yesterday", ""])
def test_a_bad_since_is_400(live, since):
    assert_outcome(live.get("_history", params={"_since": since}), 400, "invalid")


@pytest.mark.parametrize("name", ["bogus", "identifier", "_sort", "_at", "_list"])
def test_an_unknown_or_unsupported_history_parameter_is_400(live, name):
    live.post("Patient", json=patient())
    assert_outcome(live.get("Patient/_history", params={name: "x"}), 400, "invalid")


def test_a_page_token_that_is_not_a_history_token_is_400(live):
    assert_outcome(live.get("_history", params={"_page": "not-a-token"}), 400, "invalid")
