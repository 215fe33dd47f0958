"""Institutions' clients for the access tests: each registered like ``tests/server/auth/``
for one institution and purpose on a live server, talking to it over real HTTP; and
``seen``, what one response tells its caller once ids are masked, to compare a hidden
resource's answers with a missing one's."""

from __future__ import annotations

import base64
import json
import re
import uuid
from urllib.parse import quote_plus

import requests

from tests.conftest import FHIR_JSON, LiveServer, TestClient

WOMENS_CENTRE = "centro-de-la-mujer-13101"  # authors the record
POLICE = "carabineros-13101"  # outside the case, then on it
HOTLINE = "linea-1455"  # a care service she may object to
PROSECUTOR = "fiscalia-13101"  # never on the case

JSON_PATCH = "application/json-patch+json"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: the headers that could tell a hidden resource from a missing one
_TOLD = ("ETag", "Location", "Last-Modified", "Content-Location")


class Institution:
    """A client of ``org`` holding a token for ``purpose`` (``justification`` for BTG)."""

    def __init__(self, live: LiveServer, org: str, purpose: str,
                 justification: str | None = None, scope: str = "system/*.cruds"):
        store = live.app.extensions["amparo"].store
        client = TestClient(store, live.base, scope, purposes=(purpose,), org=org)
        data = {"grant_type": "client_credentials", "scope": scope,
                "purpose_of_use": purpose}
        if justification:
            data["justification"] = justification
        answer = requests.post(live.url("auth/token"), auth=(client.client_id, client.secret),
                               data=data, timeout=30)
        assert answer.status_code == 200, answer.text
        self.live = live
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}",
                        "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}

    def request(self, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None, **params) -> requests.Response:
        """Any request, ``headers`` added to the token's (a raw ``bytes`` body is sent
        as is, anything else as JSON)."""
        sent = {**self.headers, **(headers or {})}
        payload = {"data": body} if isinstance(body, bytes) else {"json": body}
        return requests.request(method, self.live.url(path), params=params or None,
                                headers=sent, timeout=30, **payload)

    def get(self, path: str, **params) -> requests.Response:
        return self.request("GET", path, **params)

    def post(self, path: str, body: dict, headers: dict[str, str] | None = None
             ) -> requests.Response:
        return self.request("POST", path, body, headers)

    def put(self, path: str, body: dict, headers: dict[str, str] | None = None
            ) -> requests.Response:
        return self.request("PUT", path, body, headers)

    def delete(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        return self.request("DELETE", path, None, headers)

    def patch(self, path: str, operations: list[dict],
              headers: dict[str, str] | None = None) -> requests.Response:
        return self.request("PATCH", path, json.dumps(operations).encode(),
                            {"Content-Type": JSON_PATCH, **(headers or {})})

    def bundle(self, kind: str, *entries: dict) -> requests.Response:
        """POST a ``kind`` (batch, transaction) Bundle of ``entries``."""
        return self.post("", {"resourceType": "Bundle", "type": kind, "entry": list(entries)})

    def create(self, body: dict) -> dict:
        answer = self.post(body["resourceType"], body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def ids(self, path: str, **params) -> set[str]:
        answer = self.get(path, **params)
        assert answer.status_code == 200, answer.text
        return {e["resource"]["id"] for e in answer.json().get("entry", [])
                if e["resource"]["resourceType"] != "OperationOutcome"}

    def total(self, path: str, **params) -> int:
        return self.get(path, _total="accurate", **params).json()["total"]

    def pages(self, path: str, **params) -> tuple[list[str], list[int | None]]:
        """Every entry's ``Type/id`` over all the pages a search or history gives
        (following its ``next`` links), and each page's ``total``."""
        found: list[str] = []
        totals: list[int | None] = []
        answer = self.get(path, **params)
        while True:
            assert answer.status_code == 200, answer.text
            page = answer.json()
            totals.append(page.get("total"))
            found += [e["fullUrl"].removeprefix(f"{self.live.base}/")
                      for e in page.get("entry", [])]
            following = [link["url"] for link in page.get("link", [])
                         if link["relation"] == "next"]
            if not following:
                return found, totals
            answer = requests.get(following[0], headers=self.headers, timeout=30)


def seen(response: requests.Response, *masked: str) -> tuple[int, dict, object]:
    """What ``response`` tells its caller: status, the headers that could differ, and
    the body, with every uuid (the server's ids, a made-up missing one) and ``masked``
    (the values that differ by construction) replaced, so a hidden resource's answer
    and a missing one's compare equal exactly when they tell the same."""
    def mask(text: str) -> str:
        for value in masked:  # as is, and as a query string encodes it
            text = text.replace(value, "<masked>").replace(quote_plus(value), "<masked>")
        return _UUID.sub("<id>", text)

    headers = {name: mask(response.headers[name]) for name in _TOLD
               if name in response.headers}
    body = json.loads(mask(response.text)) if response.text else None
    return response.status_code, headers, body


def consent_permit(patient: str, institution: str, *classes: str) -> dict:
    """Her active Consent permitting ``institution`` (an Organization id) to read her record,
    or only resources of ``classes`` (resource types) when given."""
    provision: dict = {"type": "permit", "actor": [{
        "role": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
            "code": "IRCP"}]},
        "reference": {"reference": f"Organization/{institution}"}}]}
    if classes:
        provision["class"] = [{"system": "http://hl7.org/fhir/resource-types", "code": c}
                              for c in classes]
    return {"resourceType": "Consent", "status": "active", "patient": {"reference": patient},
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                  "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "provision": provision}


def missing_id() -> str:
    """An id no resource has (server-assigned ids are uuids too)."""
    return str(uuid.uuid4())


def binary_patch(operations: list[dict]) -> dict:
    """A JSON Patch as the Binary a PATCH entry of a batch or transaction carries."""
    return {"resourceType": "Binary", "contentType": JSON_PATCH,
            "data": base64.b64encode(json.dumps(operations).encode()).decode()}
