"""An export survives the death of the process writing it: ``amparo serve`` (Granian,
one worker process, the export worker running in it as in production) is SIGKILLed,
its whole process group, while it writes an export; a new ``amparo serve`` on the same
SQLite file takes the lease over once the dead one's expires and finishes the export
from its last committed page; the files then hold every resource exactly once.

Always on a SQLite file, whatever ``AMPARO_TEST_STORE`` says: two processes cannot
share a mongomock store (it lives in one process's memory)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import requests

from server.access import AccessGate, Principal
from server.auth.clients import register
from server.config import Settings
from server.loading import load_bundles
from server.repository import Repository
from server.store import open_store
from server.synth import institutions_bundle
from server.validation import validate
from tests.conftest import CHEAP_HASH
from tests.server.access.institutions import WOMENS_CENTRE

RESOURCES = 4000
PAGE = 10  # 400 commits: the kill lands mid-export


def prepared(url: str) -> tuple[set[str], str, str]:
    """The store with the institutions, ``RESOURCES`` incidents written by the women's
    centre, and a client of the centre: (the incidents' ids, client id, secret)."""
    store = open_store(url)
    store.init()
    settings = Settings(store=url, profiles="off")
    load_bundles(store, settings, [institutions_bundle()])
    repo = Repository(store, AccessGate(store), "off")
    author = Principal(client_id="loader", institution=f"Organization/{WOMENS_CENTRE}")
    ids = set()
    with repo.write(author) as w:
        for n in range(RESOURCES):
            resource = {"resourceType": "Observation", "status": "final",
                        "code": {"text": f"incidente {n}"}}
            ids.add(repo.create(w, validate(resource, "Observation")).version.id)
        w.uow.commit()
    client = register(store, WOMENS_CENTRE, "export test", ["system/*.cruds"], ["TREAT"],
                      cost=CHEAP_HASH)
    store.close()
    return ids, client.client.client_id, client.secret


def serve(url: str, port: int, exports) -> subprocess.Popen:
    env = {**os.environ, "AMPARO_EXPORT_DIR": str(exports), "AMPARO_EXPORT_PAGE_SIZE": str(PAGE),
           "AMPARO_PROFILES": "off"}
    return subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--store", url,
         "--port", str(port), "--workers", "1", "--threads", "2", "--ws-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # its own process group: the kill takes its workers too


def up(base: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "amparo serve exited"
        try:
            if requests.get(f"{base.removesuffix('/fhir')}/health", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, "amparo serve did not come up"
        time.sleep(0.1)


def token(base: str, client_id: str, secret: str) -> dict[str, str]:
    answer = requests.post(f"{base}/auth/token", auth=(client_id, secret), timeout=30,
                           data={"grant_type": "client_credentials", "scope": "system/*.cruds",
                                 "purpose_of_use": "TREAT"})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def written(url: str, job: str) -> int:
    store = open_store(url)
    try:
        found = store.export_job(job)
        return json.loads(found.body)["progress"]["written"] if found else 0
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_killed_server_process_leaves_an_export_the_next_one_completes(tmp_path):
    url = f"sqlite:///{tmp_path / 'amparo.db'}"
    exports = tmp_path / "exports"
    ids, client_id, secret = prepared(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}/fhir"
    first = serve(url, port, exports)
    try:
        up(base, first)
        auth = token(base, client_id, secret)
        kicked = requests.get(f"{base}/$export", params={"_type": "Observation"}, timeout=30,
                              headers={**auth, "Prefer": "respond-async"})
        assert kicked.status_code == 202, kicked.text
        status = kicked.headers["Content-Location"]
        job = status.rsplit("/", 1)[1]
        deadline = time.monotonic() + 120
        while written(url, job) < RESOURCES // 4:
            assert time.monotonic() < deadline, "the export did not start"
            time.sleep(0.02)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    at_kill = written(url, job)
    assert RESOURCES // 4 <= at_kill < RESOURCES, "the kill did not land mid-export"

    second = serve(url, port, exports)
    try:
        up(base, second)
        auth = token(base, client_id, secret)
        deadline = time.monotonic() + 120  # the dead process's lease expires first (10 s)
        while (answer := requests.get(status, headers=auth, timeout=30)).status_code == 202:
            assert time.monotonic() < deadline, "the export was not completed"
            time.sleep(0.2)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        found: Counter[str] = Counter()
        for item in result["output"]:
            text = requests.get(item["url"], headers=auth, timeout=60).text
            lines = [json.loads(line) for line in text.splitlines()]
            assert len(lines) == item["count"]
            found.update(r["id"] for r in lines)
        assert set(found) == ids and set(found.values()) == {1}  # each exactly once
        runs = {item["url"].rsplit("/", 1)[1].split("-")[1] for item in result["output"]}
        assert runs == {"1", "2"}  # the first run's files kept, the second's added
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)
