"""Every request is audited over real HTTP: a write's event commits with it, a read's is
stored before its response, refusals are recorded too, and only auditors read the trail,
which verifies intact afterwards."""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys

import orjson
import pytest
import requests

from server import clock
from server.access import Principal
from server.audit import trail
from server.audit.recorder import AuditRecord
from server.audit.spool import recover
from server.store import open_store
from server.store.port import AuditQuery
from tests.conftest import FHIR_JSON, LiveServer, TestClient
from tests.server.access.institutions import consent_permit

CENTRE = "centro-de-la-mujer-13101"
POLICE = "carabineros-13101"
AUDITORS = "sernameg"


class Client:
    """A registered client of ``org`` with ``scope``, sending ``user`` when given."""

    def __init__(self, live: LiveServer, org: str, scope: str = "system/*.cruds",
                 purpose: str = "TREAT", user: str | None = None,
                 justification: str | None = None):
        store = live.app.extensions["amparo"].store
        client = TestClient(store, live.base, scope, purposes=(purpose,), org=org)
        data = {"grant_type": "client_credentials", "scope": scope, "purpose_of_use": purpose}
        if justification:
            data["justification"] = justification
        answer = requests.post(live.url("auth/token"), auth=(client.client_id, client.secret),
                               data=data, timeout=30)
        assert answer.status_code == 200, answer.text
        self.client_id = client.client_id
        self.live = live
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}",
                        "Accept": FHIR_JSON, "Content-Type": FHIR_JSON}
        if user:
            self.headers["X-Amparo-User"] = user

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.live.url(path), headers=self.headers,
                                timeout=30, **kwargs)

    def events(self, **params) -> list[dict]:
        answer = self.call("GET", "AuditEvent", params={"_count": 200, **params})
        assert answer.status_code == 200, answer.text
        return [e["resource"] for e in answer.json().get("entry", [])]


def auditor(live: LiveServer) -> Client:
    return Client(live, AUDITORS, "system/AuditEvent.rs", purpose="HLEGAL")


def subtype(event: dict) -> str:
    return event["subtype"][0]["code"]


def whats(event: dict) -> list[str]:
    return [e["what"]["reference"] for e in event.get("entity", []) if "what" in e]


def policy(event: dict) -> list[str]:
    """What let the request through, as the requestor agent records it."""
    return next(a.get("policy", []) for a in event["agent"]
                if a["type"]["coding"][0]["code"] == "110153")


def agent_ids(event: dict) -> set[str]:
    return {a["who"].get("identifier", {}).get("value") or a["who"].get("reference")
            for a in event["agent"]}


def test_a_read_is_recorded_with_who_what_why_and_the_survivor(live):
    centre = Client(live, CENTRE, user="rut-11111111-1")
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    assert centre.call("GET", f"Patient/{her['id']}").status_code == 200
    reads = [e for e in auditor(live).events(patient=f"Patient/{her['id']}")
             if subtype(e) == "read"]
    assert len(reads) == 1
    event = reads[0]
    assert event["action"] == "R" and event["outcome"] == "0"
    assert {centre.client_id, f"Organization/{CENTRE}", "rut-11111111-1"} <= agent_ids(event)
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert whats(event) == [f"Patient/{her['id']}"]
    assert policy(event) == ["author"]  # read as its author


def test_a_write_commits_with_its_event_and_a_refused_one_is_recorded_as_refused(live):
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    bad = centre.call("POST", "Observation", json={"resourceType": "Observation"})
    assert bad.status_code in (400, 422)
    events = auditor(live).events(agent=f"Organization/{CENTRE}")
    created = [e for e in events if subtype(e) == "create" and e["outcome"] == "0"]
    assert [whats(e) for e in created] == [[f"Patient/{her['id']}"]]
    assert policy(created[0]) == ["author"]
    refused = [e for e in events if e["outcome"] == "4"]
    assert len(refused) == 1 and subtype(refused[0]) == "create"
    assert "entity" not in refused[0] or not whats(refused[0])  # nothing was written


def test_a_search_records_its_query_encoded_and_an_unauthenticated_call_is_recorded(live):
    centre = Client(live, CENTRE)
    assert centre.call("GET", "Patient", params={"identifier": "RUN|12345678-5"}).ok
    assert requests.get(live.url("Patient"), timeout=30).status_code == 401
    events = auditor(live).events()
    search = next(e for e in events if subtype(e) == "search-type")
    query = next(e["query"] for e in search["entity"] if "query" in e)
    assert base64.b64decode(query).decode() == "identifier=RUN%7C12345678-5"
    anonymous = [e for e in events if "anónimo" in agent_ids(e)]
    assert len(anonymous) == 1 and anonymous[0]["outcome"] == "4"
    assert anonymous[0]["outcomeDesc"] == "no autenticado"


def test_a_transaction_is_one_event_in_its_unit_and_a_batch_audits_each_write(live):
    centre = Client(live, CENTRE)
    transaction = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0b5a6f3e-1111-4c1e-9a55-000000000001",
         "resource": {"resourceType": "Patient"},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Observation", "status": "final",
                      "code": {"text": "incidente"},
                      "subject": {"reference": "urn:uuid:0b5a6f3e-1111-4c1e-9a55-000000000001"}},
         "request": {"method": "POST", "url": "Observation"}}]}
    assert centre.call("POST", "", json=transaction).status_code == 200
    batch = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}]}
    assert centre.call("POST", "", json=batch).status_code == 200
    events = auditor(live).events(agent=f"Organization/{CENTRE}")
    codes = sorted(subtype(e) for e in events)
    assert codes == ["batch", "create", "create", "transaction"]
    tx = next(e for e in events if subtype(e) == "transaction")
    assert sorted(w.split("/")[0] for w in whats(tx)) == ["Observation", "Patient"]


def test_the_basis_names_the_mandate_grant_or_her_consent_behind_each_read(live):
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    subject = {"reference": f"Patient/{her['id']}"}
    case = {"resourceType": "EpisodeOfCare", "status": "active", "patient": subject,
            "managingOrganization": {"reference": f"Organization/{POLICE}"}}
    assert centre.call("POST", "EpisodeOfCare", json=case).status_code == 201
    police = Client(live, POLICE, purpose="THREAT")
    assert police.call("GET", f"Patient/{her['id']}").status_code == 200
    assert police.call("GET", "Patient", params={"_id": her["id"]}).json()["total"] == 1
    hotline = Client(live, "linea-1455", purpose="TREAT")
    assert hotline.call("GET", f"Patient/{her['id']}").status_code == 404
    permit = centre.call("POST", "Consent",
                         json=consent_permit(f"Patient/{her['id']}", "linea-1455")).json()
    assert hotline.call("GET", f"Patient/{her['id']}").status_code == 200
    events = auditor(live).events()
    by = {(subtype(e), next(iter(agent_ids(e) & {f"Organization/{POLICE}",
                                                   "Organization/linea-1455"}), None),
           e["outcome"]): policy(e) for e in events}
    grant = ["policy:criminal-justice#police-protection"]
    assert by["read", f"Organization/{POLICE}", "0"] == grant
    assert by["search-type", f"Organization/{POLICE}", "0"] == grant
    assert by["read", "Organization/linea-1455", "0"] == [f"Consent/{permit['id']}"]
    assert by["read", "Organization/linea-1455", "4"] == []  # nothing let it through


def test_only_auditors_read_the_trail_and_nobody_writes_it(live):
    centre = Client(live, CENTRE)
    centre.call("POST", "Patient", json={"resourceType": "Patient"})
    wildcard = Client(live, POLICE, "system/*.cruds")
    answer = wildcard.call("GET", "AuditEvent", params={"_total": "accurate"})
    assert answer.status_code == 200 and answer.json()["total"] == 0
    audit = auditor(live)
    event = audit.events()[0]
    assert wildcard.call("GET", f"AuditEvent/{event['id']}").status_code == 404
    assert audit.call("GET", f"AuditEvent/{event['id']}").status_code == 200
    everything = Client(live, AUDITORS, "system/AuditEvent.cruds", purpose="HLEGAL")
    assert everything.call("DELETE", f"AuditEvent/{event['id']}").status_code == 405
    assert everything.call("PUT", f"AuditEvent/{event['id']}", json=event).status_code == 405
    assert everything.call("POST", "AuditEvent", json=event).status_code == 405
    assert audit.call("GET", f"AuditEvent/{event['id']}").json() == event


def test_break_the_glass_is_recorded_with_its_justification(live):
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    glass = Client(live, POLICE, purpose="BTG", justification="riesgo vital inminente")
    assert glass.call("GET", f"Patient/{her['id']}").status_code == 200
    found = auditor(live).events(purpose="BTG")
    assert len(found) == 1
    assert found[0]["purposeOfEvent"][0]["text"] == "riesgo vital inminente"
    assert whats(found[0]) == [f"Patient/{her['id']}"]
    assert policy(found[0]) == ["break-glass"]  # let through by break-the-glass alone


def test_the_trail_verifies_intact_after_traffic(live):
    centre = Client(live, CENTRE)
    for _ in range(5):
        her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
        centre.call("GET", f"Patient/{her['id']}")
    centre.call("GET", "Patient/missing")
    services = live.app.extensions["amparo"]
    services.auditor.flush()  # the reads' events, from the spool into the trail
    store = services.store
    assert trail.verify(store) is None
    assert store.audit_head()[0] >= 11


def test_no_response_leaves_when_its_event_cannot_be_stored(live, db_url):
    if not db_url.startswith("sqlite:///"):
        pytest.skip("breaks the SQLite file's audit tables directly")
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    # a write's event commits in its unit: a store that refuses the event refuses the write
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("CREATE TRIGGER no_audit BEFORE INSERT ON audit_event "
                     "BEGIN SELECT RAISE(ABORT, 'audit unavailable'); END")
    written = centre.call("POST", "Patient", json={"resourceType": "Patient"})
    assert written.status_code >= 500
    store = live.app.extensions["amparo"].store
    assert store.count("Patient") == 1  # the write rolled back with its event
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
        conn.execute("DROP TRIGGER no_audit")
    live.app.extensions["amparo"].auditor.flush()  # the failed write is audited as failed
    failed = store.audit_search(AuditQuery(outcome=("8",))).entries
    assert [orjson.loads(e.body)["subtype"][0]["code"] for e in failed] == ["create"]
    # a read's event goes to the spool first: a spool that cannot take it fails the read
    spool = live.app.extensions["amparo"].auditor.spool
    with spool._lock:
        os.close(spool._fd)  # the file is gone from under the process (EBADF on write)
        spool._fd = os.open(os.devnull, os.O_RDONLY)
    answer = centre.call("GET", f"Patient/{her['id']}")
    assert answer.status_code >= 500
    assert her["id"] not in answer.text  # nothing of her record left with the error


def test_a_dead_process_spool_is_moved_into_the_trail_by_the_next_one(live, tmp_path):
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    services = live.app.extensions["amparo"]
    services.auditor.flush()
    before = services.store.audit_head()[0]
    # a process died with two events spooled (one whose move had already committed)
    # and a torn last line it was writing
    directory = tmp_path / "spool"
    directory.mkdir()
    record = AuditRecord(Principal(client_id="c", institution=f"Organization/{CENTRE}"))
    record.entering("read")
    lines = [orjson.dumps({"id": f"00000000-0000-4000-8000-00000000000{i}",
                           "at": clock.now(), "event": record.event(200)}) for i in (1, 2)]
    with services.store.unit_of_work() as uow:  # the first one's move had committed
        trail.append(uow, record.event(200), clock.now(), id="00000000-0000-4000-8000-000000000001")
        uow.commit()
    (directory / "4242-dead-1.spool").write_bytes(b"\n".join(lines) + b"\n{\"id\": \"torn")
    assert recover(services.store, directory) == 1
    assert services.store.audit_head()[0] == before + 2
    assert not list(directory.glob("*.spool"))
    assert trail.verify(services.store) is None
    assert her  # the live traffic's trail verified with it


def test_auditors_page_through_the_trail_and_bad_parameters_are_refused(live):
    centre = Client(live, CENTRE)
    her = centre.call("POST", "Patient", json={"resourceType": "Patient"}).json()
    for _ in range(5):
        centre.call("GET", f"Patient/{her['id']}")
    audit = auditor(live)
    seen, url = [], None
    first = audit.call("GET", "AuditEvent", params={"patient": her["id"], "_count": 2,
                                                    "_total": "accurate"}).json()
    assert first["total"] == 6  # the create and five reads
    page = first
    while True:
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        if url is None:
            break
        page = requests.get(url, headers=audit.headers, timeout=30).json()
    assert len(seen) == len(set(seen)) == 6
    for params in ({"_count": "dos"}, {"date": "ayer"}, {"date": "sa2026"},
                   {"patient": "Observation/x"}, {"name": "x"},
                   {"patient": "x' OR '1'='1"}):
        answer = audit.call("GET", "AuditEvent", params=params)
        if params.get("patient", "").startswith("x'"):  # a value, not SQL: finds nothing
            assert answer.status_code == 200 and "entry" not in answer.json()
        else:
            assert answer.status_code == 400, params
            assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_process_that_stops_moves_what_it_spooled(tmp_path):
    script = f"""
import server.audit.spool as spool
from pathlib import Path
from server import clock
from server.access import Principal
from server.audit.recorder import AuditRecord
from server.store import open_store
spool.GATHER = 3600  # the mover never moves while the process runs
store = open_store("sqlite:///{tmp_path}/s.db")
store.init()
spooled = spool.Spool(store, Path("{tmp_path}/spool"))
record = AuditRecord(Principal(client_id="c"))
record.entering("read")
for _ in range(3):
    spooled.add(record.event(200), clock.now())
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    store = open_store(f"sqlite:///{tmp_path}/s.db")
    assert store.audit_head()[0] == 3 and trail.verify(store) is None
    assert not list((tmp_path / "spool").iterdir())  # nothing left for a next process
