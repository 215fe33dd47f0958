"""Fixtures of the bulk export tests: a live server (``tests/conftest.py``) whose store
holds the institutions ``amparo init`` loads, with the real export worker running on a
thread beside it (as ``amparo serve`` runs it in each process), its files in the test's
own directory; and helpers that speak the Bulk Data IG's asynchronous pattern over real
HTTP as an institution's client (``tests/server/access/institutions.py``)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
import requests

from server.bulk.config import ExportConfig
from server.bulk.worker import ExportWorker
from server.config import Settings
from server.loading import load_bundles
from server.synth import institutions_bundle
from tests.conftest import FHIR_JSON, GENERIC, LiveServer, TestClient, serve
from tests.server.access.institutions import Institution
from tests.server.store.conftest import store  # noqa: F401 (every adapter's store)
from tests.stores import TEST_STORE, drop_store, new_store_url

ASYNC = {"Prefer": "respond-async"}


class Client(Institution):
    """An institution's client (``Institution``) that keeps its registration, so that a
    test can hold another token of the same client (another scope or purpose)."""

    def __init__(self, live: LiveServer, org: str, purpose: str,
                 justification: str | None = None, scope: str = "system/*.cruds",
                 purposes: tuple[str, ...] = ()):
        self.registered = TestClient(live.app.extensions["amparo"].store, live.base, scope,
                                     purposes=purposes or (purpose,),
                                     org=org)
        self.live = live
        self.headers = {"Authorization": f"Bearer {self.token(scope, purpose, justification)}",
                        "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}

    def token(self, scope: str, purpose: str, justification: str | None = None) -> str:
        data = {"grant_type": "client_credentials", "scope": scope, "purpose_of_use": purpose}
        if justification:
            data["justification"] = justification
        answer = requests.post(self.live.url("auth/token"), data=data, timeout=30,
                               auth=(self.registered.client_id, self.registered.secret))
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def with_token(self, scope: str = "system/*.cruds", purpose: str = "TREAT") -> Client:
        """The same client holding another token."""
        other = copy.copy(self)
        other.headers = {**self.headers,
                         "Authorization": f"Bearer {self.token(scope, purpose)}"}
        return other


@dataclass
class Bulk:
    live: LiveServer
    worker: ExportWorker
    config: ExportConfig

    def institution(self, org: str, purpose: str, scope: str = "system/*.cruds",
                    justification: str | None = None,
                    purposes: tuple[str, ...] = ()) -> Client:
        return Client(self.live, org, purpose, justification, scope, purposes)

    def path(self, url: str) -> str:
        """A URL the server handed out, relative to its FHIR base."""
        assert url.startswith(self.live.base + "/"), url
        return url.removeprefix(self.live.base + "/")


@pytest.fixture
def bulk(tmp_path, monkeypatch) -> Iterator[Bulk]:
    monkeypatch.setenv("AMPARO_EXPORT_DIR", str(tmp_path / "exports"))
    url = new_store_url(TEST_STORE, tmp_path)
    for live in serve(Settings(store=url, profiles=GENERIC)):
        amparo = live.app.extensions["amparo"]
        load_bundles(amparo.store, amparo.settings, [institutions_bundle()])
        # small pages: every export spans several commits
        config = replace(ExportConfig.from_env(url), page_size=7)
        worker = ExportWorker(amparo.store, amparo.repo, config, idle_seconds=0.02)
        worker.start()
        try:
            yield Bulk(live, worker, config)
        finally:
            worker.stop()
    drop_store(url)


def kick_off(who: Institution, path: str = "$export", headers: dict | None = None,
             **params) -> requests.Response:
    return who.request("GET", path, headers={**ASYNC, **(headers or {})}, **params)


def started(bulk: Bulk, who: Institution, path: str = "$export", **params) -> str:
    """Kick an export off; its status path."""
    answer = kick_off(who, path, **params)
    assert answer.status_code == 202, answer.text
    return bulk.path(answer.headers["Content-Location"])


def finished(who: Institution, status: str, timeout: float = 60) -> requests.Response:
    """Poll ``status`` until it stops answering 202 (each 202 carries the IG's headers)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = who.get(status)
        if answer.status_code != 202:
            return answer
        assert answer.headers["Retry-After"].isdigit()
        assert 0 < len(answer.headers["X-Progress"]) < 100
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.05)


def manifest(bulk: Bulk, who: Institution, path: str = "$export", **params) -> dict:
    """Kick off, wait, and return the completion manifest."""
    answer = finished(who, started(bulk, who, path, **params))
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    return answer.json()


def lines(bulk: Bulk, who: Institution, url: str) -> list[dict]:
    """One file's resources, downloaded with ``who``'s token."""
    answer = who.request("GET", bulk.path(url), headers={"Accept": "application/fhir+ndjson"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/fhir+ndjson"
    assert answer.text.endswith("\n") or not answer.text
    return [json.loads(line) for line in answer.text.splitlines()]


def exported(bulk: Bulk, who: Institution, result: dict) -> dict[str, list[dict]]:
    """Every resource of a manifest's files, by type; each file's count checked."""
    out: dict[str, list[dict]] = {}
    for item in result["output"]:
        found = lines(bulk, who, item["url"])
        assert len(found) == item["count"] > 0
        assert {r["resourceType"] for r in found} == {item["type"]}
        out.setdefault(item["type"], []).extend(found)
    return out


def ids(found: dict[str, list[dict]], type: str) -> list[str]:
    return sorted(r["id"] for r in found.get(type, []))
