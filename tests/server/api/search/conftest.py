"""Search tests over HTTP on the official R4B examples.

``examples`` is one served app per test module, loaded (PUT by id) with the R4B
examples vendored in ``tests/data/fhir-r4b/examples`` (the domain model's resource
types and what they reference). Tests that change data use their own ``live`` server.

Conformance resources (``READ_ONLY_TYPES``: StructureDefinition, ValueSet, CodeSystem,
ConceptMap, SearchParameter) are read-only through the API, so an example of those types
is loaded through the internal path ``amparo init`` uses (``server.loading.load_resources``)
into the served app's store, and counts as loaded like the others. (The vendored set holds
none today: its conformance resources appear only contained, in Questionnaires.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.api.write import READ_ONLY_TYPES
from server.config import Settings
from server.loading import load_resources
from tests.conftest import GENERIC, LiveServer, serve
from tests.stores import TEST_STORE, drop_store, new_store_url

EXAMPLES = Path(__file__).resolve().parents[3] / "data" / "fhir-r4b" / "examples"


@dataclass
class Examples:
    live: LiveServer
    #: the example resources the server accepted, by (type, id)
    loaded: dict[tuple[str, str], dict]
    #: example files the server refused (file name -> status), for the record
    refused: dict[str, int]

    def search(self, path: str, params: dict | list | None = None, **headers) -> dict:
        """GET ``path`` (``Type`` or ``Type?query``) -> the searchset bundle (asserts 200)."""
        response = self.live.get(path, params=params, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["resourceType"] == "Bundle" and body["type"] == "searchset", body
        return body

    def ids(self, path: str, params: dict | list | None = None, **headers) -> set[str]:
        """The ids of the matches (mode ``match``) of a search."""
        return matches(self.search(path, params, **headers))

    def where(self, type: str, predicate) -> set[str]:
        """Ids of loaded examples of ``type`` for which ``predicate(resource)`` holds: the
        expected answer, computed from the JSON independently of the server."""
        return {id for (t, id), r in self.loaded.items() if t == type and predicate(r)}


def load_read_only(live: LiveServer, resources: list[dict]) -> None:
    """Store resources of read-only types (which the API refuses to write) in a served
    app's store, through the internal path ``amparo init`` uses."""
    load_resources(live.app.extensions["amparo"].store, resources)


def matches(bundle: dict) -> set[str]:
    return {e["resource"]["id"] for e in bundle.get("entry", [])
            if e.get("search", {}).get("mode") == "match"}


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> Iterator[Examples]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("examples"))
    for live in serve(Settings(store=url, profiles=GENERIC)):
        loaded, refused = {}, {}
        for path in sorted(EXAMPLES.glob("*.json")):
            resource = json.loads(path.read_text("utf-8"))
            type, id = resource["resourceType"], resource.get("id")
            if type in READ_ONLY_TYPES:
                load_read_only(live, [resource])
                loaded[(type, id)] = resource
                continue
            response = live.put(f"{type}/{id}", json=resource)
            if response.status_code in (200, 201):
                loaded[(type, id)] = resource
            else:
                refused[path.name] = response.status_code
        yield Examples(live, loaded, refused)
    drop_store(url)
