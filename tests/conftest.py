"""Shared fixtures: a fresh store per test, and a live server on 127.0.0.1.

The store is a SQLite file unless ``AMPARO_TEST_STORE`` names another adapter
(``tests/stores.py``): ``AMPARO_TEST_STORE=mongomock`` runs the HTTP suites on the
MongoDB adapter over mongomock, ``mongodb`` on the real MongoDB of ``MONGODB_URI``.

The server is the real application behind a real HTTP listener (Werkzeug's threaded
server in a background thread); tests talk to it with ``requests`` over TCP, as a
registered client of the test store with ``system/*.cruds``: its session carries a
bearer token obtained from the real token endpoint (``TestClient``), renewed before it
expires.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from server.app import create_app
from server.auth.clients import register
from server.config import Settings
from server.store import Store
from tests.stores import TEST_STORE, drop_store, new_store_url

FHIR_JSON = "application/fhir+json"
#: The project's shared reference data (../shared beside the checkout, or $AMPARO_SHARED).
#: Tests that need more of it than tests/data vendors skip when it is absent.
SHARED = Path(os.environ.get("AMPARO_SHARED") or Path(__file__).resolve().parents[2] / "shared")


#: scrypt cost of the test clients' secrets: the lowest, as the suite registers one per
#: server (the production cost, ``server.auth.secrets.COST``, takes ~80 ms per check).
CHEAP_HASH = (16, 1, 1)


class TestClient(requests.auth.AuthBase):
    """A client registered in a server's store that authenticates its requests with a
    bearer token from the server's token endpoint (client_secret_basic), fetched again
    shortly before it expires."""

    __test__ = False  # not a test class for pytest

    def __init__(self, store: Store, base: str, scope: str = "system/*.cruds",
                 purposes: tuple[str, ...] = ("TREAT",), org: str = "amparo-tests"):
        registered = register(store, org, "test client", scope.split(), list(purposes),
                              cost=CHEAP_HASH)
        self.client_id, self.secret = registered.client.client_id, registered.secret
        self.token_url, self.scope = f"{base}/auth/token", scope
        self._token, self._renew_at = "", 0.0
        self._lock = threading.Lock()

    @property
    def token(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                answer = requests.post(self.token_url, auth=(self.client_id, self.secret),
                                       data={"grant_type": "client_credentials",
                                             "scope": self.scope}, timeout=30)
                answer.raise_for_status()
                body = answer.json()
                self._token = body["access_token"]
                self._renew_at = time.monotonic() + body["expires_in"] - 30
            return self._token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@dataclass
class LiveServer:
    """A served app: ``base`` is its FHIR base URL, ``http`` a session with FHIR headers
    and the bearer token of ``auth``, a test client with ``system/*.cruds``."""

    base: str
    http: requests.Session
    app: object
    db: Path | None  # the SQLite file (None on other stores)
    auth: TestClient | None = None

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}" if path else self.base

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url(path), **kwargs)

    def post(self, path: str, json: object = None, **kwargs) -> requests.Response:
        return self.http.post(self.url(path), json=json, **kwargs)

    def put(self, path: str, json: object = None, **kwargs) -> requests.Response:
        return self.http.put(self.url(path), json=json, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.http.patch(self.url(path), **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.http.delete(self.url(path), **kwargs)


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = new_store_url(TEST_STORE, tmp_path)
    yield url
    drop_store(url)


def serve(settings: Settings) -> Iterator[LiveServer]:
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}/fhir"
    session = requests.Session()
    session.headers.update({"Accept": FHIR_JSON, "Content-Type": FHIR_JSON})
    session.auth = TestClient(app.extensions["amparo"].store, base)
    try:
        sqlite = settings.store.startswith("sqlite:///")
        yield LiveServer(base, session, app,
                         Path(settings.store[len("sqlite:///"):]) if sqlite else None,
                         session.auth)
    finally:
        session.close()
        server.shutdown()
        app.extensions["amparo"].store.close()


#: The profile mode of servers that test FHIR's REST mechanics with generic R4B data
#: (the spec's examples, minimal Patients): only resources claiming one of the guide's
#: profiles are held to it. The default, ``strict``, is tested where the guide is
#: (tests/server/api/test_profile_enforcement.py and the guide's own examples).
GENERIC = "claimed"


@pytest.fixture
def live(db_url: str) -> Iterator[LiveServer]:
    """A fresh server on a fresh store, for generic R4B data (``GENERIC``)."""
    yield from serve(Settings(store=db_url, profiles=GENERIC))


def assert_outcome(response, status: int, code: str | None = None) -> dict:
    """The response is an error OperationOutcome with ``status`` (and, if given, the first
    issue's ``code``); every issue is an error with diagnostics."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"], "an OperationOutcome needs at least one issue"
    assert all(issue["severity"] in ("error", "fatal") for issue in body["issue"])
    assert all(issue.get("diagnostics") for issue in body["issue"])
    if code is not None:
        assert body["issue"][0]["code"] == code
    return body


def patient(**fields) -> dict:
    """A minimal valid Patient with the given elements."""
    return {"resourceType": "Patient", **fields}
