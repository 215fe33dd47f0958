#!/usr/bin/env python3
"""Memory of a large bulk export: the server's RSS growth while it exports ``--count``
resources (default 1,000,000; target: under 200 MB).

1. Load: a fresh SQLite store gets the institutions and ``--count`` small incidents
   (Observation: status, a coded form of violence, a text; ~300 bytes) authored by the
   women's centre, written straight through the storage port in units of ``--unit``
   resources (one commit each). Every incident has the same search index rows and
   access keys but its own id, so the template's are computed once
   (``Repository.prepare``, ``AccessGate.access_keys``) and reused: that is the only
   difference from what a POST stores. The outbox consumers (early warning,
   subscription matching) are acknowledged past the load, as if they had seen it, so
   the server spends its time on the export alone.
2. Serve: ``amparo serve --workers 1`` (Granian: a main process and one worker process,
   the export worker running in it, as in production), exports in a temporary
   directory.
3. Export: the women's centre's client kicks off a system-level ``$export`` (all it may
   search: the incidents and the directory) and polls it; every 0.2 s the bench reads
   the RSS of the server's processes from ``/proc`` (total, and its anonymous part:
   the heap, as against file pages the SQLite mmap shares with the page cache).
4. Download: every file is downloaded (streamed, counted line by line) while RSS is
   sampled again, and the counts are checked against the manifest and the load.

Prints one JSON line with the figures and a summary against the target.

Usage: python bench/bulk_export.py [--count 1000000] [--unit 20000] [--page-size 1000]
       [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import requests

from server import clock
from server.access import AccessGate
from server.auth.clients import register
from server.config import Settings
from server.loading import load_bundles
from server.repository import Repository, new_id
from server.store import NewVersion, open_store
from server.synth import institutions_bundle
from server.validation import validate

CENTRE = "centro-de-la-mujer-13101"
CONSUMERS = ("early-warning", "subscriptions")
TARGET_MB = 200


def load(url: str, count: int, unit: int) -> tuple[str, str, float]:
    """The store with ``count`` incidents; (client id, secret, seconds)."""
    started = time.perf_counter()
    store = open_store(url)
    store.init()
    load_bundles(store, Settings(store=url, profiles="off"), [institutions_bundle()])
    gate = AccessGate(store)
    template = validate({"resourceType": "Observation", "status": "final",
                         "code": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/"
                                              "formas-violencia", "code": "fisica"}],
                                  "text": "incidente"}}, "Observation")
    at = clock.now()
    model = Repository(store, gate).prepare(template, "template", 1, at, "POST", CENTRE)
    body = orjson.loads(model.body)
    keys = gate.access_keys(body, store)
    written = 0
    while written < count:
        with store.unit_of_work() as uow:
            for _ in range(min(unit, count - written)):
                id = new_id()
                uow.write(NewVersion("Observation", id, 1, at[0], at[1], "POST",
                                     orjson.dumps({**body, "id": id}), model.index, keys))
            uow.commit()
        written += min(unit, count - written)
        print(f"# loaded {written:,} of {count:,}", file=sys.stderr, flush=True)
    position = store.version_count()  # a fresh store: one outbox event per version, 1..n
    for consumer in CONSUMERS:  # as if they had handled the load (see the docstring)
        store.outbox_ack(consumer, position)
    client = register(store, CENTRE, "bulk export bench", ["system/*.cruds"], ["TREAT"])
    store.close()
    return client.client.client_id, client.secret, time.perf_counter() - started


# -- the server's memory -------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):  # ended meanwhile
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def rss(pid: int) -> tuple[int, int]:
    """(RSS, anonymous RSS) in bytes of ``pid`` and its descendants, from /proc."""
    total = anon = 0
    for member in tree(pid):
        try:
            fields = dict(line.split(":", 1) for line in
                          Path(f"/proc/{member}/status").read_text().splitlines())
        except OSError:
            continue
        total += int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
        anon += int(fields.get("RssAnon", "0 kB").split()[0]) * 1024
    return total, anon


class Sampler:
    """RSS of a process tree every ``interval`` seconds, on a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.peak, self.peak_anon, self.samples = 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            total, anon = rss(self.pid)
            self.peak, self.peak_anon = max(self.peak, total), max(self.peak_anon, anon)
            self.samples += 1
            self._stop.wait(self.interval)


# -- the run ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int, exports: Path, page_size: int) -> subprocess.Popen:
    env = {**os.environ, "AMPARO_EXPORT_DIR": str(exports),
           "AMPARO_EXPORT_PAGE_SIZE": str(page_size)}
    process = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--store", url,
         "--port", str(port), "--workers", "1", "--threads", "2", "--ws-port", "0"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit("amparo serve exited")
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("amparo serve did not come up")
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--unit", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the store and files")
    args = parser.parse_args()
    work = args.dir or Path(tempfile.mkdtemp(prefix="amparo-bulk-"))
    work.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{work / 'bulk.db'}"
    try:
        client_id, secret, load_s = load(url, args.count, args.unit)
        db_mb = (work / "bulk.db").stat().st_size / 2**20
        port = free_port()
        base = f"http://127.0.0.1:{port}/fhir"
        server = serve(url, port, work / "exports", args.page_size)
        try:
            figures = run(base, server.pid, client_id, secret, args.count)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=120)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    figures.update(count=args.count, page_size=args.page_size, load_s=round(load_s, 1),
                   db_mb=round(db_mb), cores=os.cpu_count())
    print(json.dumps(figures), flush=True)
    verdict = "meets" if figures["export_growth_mb"] < TARGET_MB else "misses"
    print(f"exported {figures['exported']:,} resources in {figures['export_s']} s "
          f"({figures['export_per_s']:,}/s); server RSS {figures['baseline_mb']} MB before, "
          f"peak {figures['export_peak_mb']} MB while exporting: growth "
          f"{figures['export_growth_mb']} MB (anonymous {figures['export_anon_growth_mb']} MB), "
          f"{verdict} the target of < {TARGET_MB} MB; downloads: growth "
          f"{figures['download_growth_mb']} MB")


def run(base: str, pid: int, client_id: str, secret: str, count: int) -> dict:
    token = requests.post(f"{base}/auth/token", auth=(client_id, secret), timeout=30, data={
        "grant_type": "client_credentials", "scope": "system/*.cruds",
        "purpose_of_use": "TREAT"}).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    for _ in range(20):  # warm the worker process up before the baseline
        requests.get(f"{base}/Organization", params={"_count": 50}, headers=auth, timeout=30)
    time.sleep(2)
    baseline, baseline_anon = rss(pid)
    started = time.perf_counter()
    with Sampler(pid) as exporting:
        kicked = requests.get(f"{base}/$export", headers={**auth, "Prefer": "respond-async"},
                              timeout=30)
        assert kicked.status_code == 202, kicked.text
        status = kicked.headers["Content-Location"]
        while (answer := requests.get(status, headers=auth, timeout=30)).status_code == 202:
            time.sleep(1)
        assert answer.status_code == 200, answer.text
    export_s = time.perf_counter() - started
    manifest = answer.json()
    exported = sum(o["count"] for o in manifest["output"])
    incidents = sum(o["count"] for o in manifest["output"] if o["type"] == "Observation")
    assert incidents == count, (incidents, count)
    lines = size = 0
    with Sampler(pid) as downloading:
        for item in manifest["output"]:
            with requests.get(item["url"], headers=auth, stream=True, timeout=300) as file:
                assert file.status_code == 200
                for chunk in file.iter_content(1 << 20):
                    lines += chunk.count(b"\n")
                    size += len(chunk)
    assert lines == exported, (lines, exported)
    mb = 2**20
    return {
        "exported": exported, "files": len(manifest["output"]), "bytes_mb": round(size / mb),
        "export_s": round(export_s, 1), "export_per_s": round(exported / export_s),
        "baseline_mb": round(baseline / mb), "baseline_anon_mb": round(baseline_anon / mb),
        "export_peak_mb": round(exporting.peak / mb),
        "export_growth_mb": round((exporting.peak - baseline) / mb),
        "export_anon_growth_mb": round((exporting.peak_anon - baseline_anon) / mb),
        "download_growth_mb": round((downloading.peak - baseline) / mb),
        "download_anon_growth_mb": round((downloading.peak_anon - baseline_anon) / mb),
        "samples": exporting.samples + downloading.samples,
    }


if __name__ == "__main__":
    main()
