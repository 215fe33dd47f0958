#!/usr/bin/env python3
"""Search benchmark (issue 3): indexed lookups at 100,000 (and 1,000,000) resources.

Why these numbers: a hotline operator finds a survivor by her RUN and opens her case
(Encounters, Observations, referrals) while other institutions do the same; those are
token and reference searches (https://hl7.org/fhir/R4B/search.html#token,
https://hl7.org/fhir/R4B/search.html#reference) and must stay fast however large the
shared record grows, because every one is an index lookup, never a scan.

Steps, for each store size (100,000 resources; with ``--million`` also 1,000,000):

1. load the data set in-process through the storage port (``bench/search_load.py``: the
   standard workload's survivor journeys, validated, indexed and stored exactly as a
   transaction would store them, in units of 2,000 resources) and print the loading
   rate; loading over HTTP (about 1,500 resources/s) would take too long;
2. start ``amparo serve`` (Granian, production workers) on that store, as
   ``bench/core.py`` does;
3. targeted searches, 4 concurrent clients, each query kind on its own for
   ``--duration`` seconds, every answer checked (exactly one match: each journey has one
   Patient with that RUN and one Encounter, Observation and ServiceRequest for her):
   ``Patient?identifier=system|value``, ``Encounter?subject=Patient/<id>``,
   ``Observation?subject=...``, ``ServiceRequest?subject=...``;
   then ``ServiceRequest?status=active&_include=ServiceRequest:subject&_count=50``
   (reported as ignored when the bundle carries the OperationOutcome of a parameter
   that was not applied);
4. the standard workload client's mixed ``search`` workload (``bench/fhir_workload.py
   --only search --state``, with the loaded data as its state file).

Targets (4 clients, SQLite, production workers, the client sharing the 2 cores): p95 of
the token and reference searches <= 25 ms at 100,000 resources; the mixed workload
>= 1,000 searches/s; latency at 1,000,000 resources at most 2x that at 100,000.

``--store`` chooses the adapter (``bench/stores.py``): ``sqlite`` (the default), the URL
of an empty database on a MongoDB replica set (each size is loaded into a fresh database
on that server, dropped at the end), or ``mongomock``: the MongoDB adapter on mongomock,
in memory and pure Python, whose data exist only in the process that wrote them. With
mongomock, step 1 and 2 happen in one process (``bench/search_load.py --serve``): it
loads the data, then serves them as ``amparo serve --workers 1`` would, its one Granian
worker forked after the load; the default size is then 10,000 resources. Its figures
measure the adapter's code on an imitation of MongoDB and are not representative of
MongoDB.

Authentication: a benchmark client is registered in each store before it is served, and
every query carries a bearer token from the server's token endpoint (``--token-cmd`` of
``bench/core.py``). With ``--store mongomock`` the data and the client registry live only
in the serving process, so no client can be registered: that mode is refused.

Usage: python bench/search.py [--million] [--duration 10] [--workload-duration 20]
       [--data-dir DIR (keeps the stores and reuses them on the next run; SQLite only)]
       [--store sqlite|mongomock|mongodb://host/db?replicaSet=rs0] [--resources N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import fhir_workload as wl  # bench/ is the script's directory, first on sys.path
from core import (
    bench_client,
    free_port,
    server_cpu,
    start,
    start_server,
    stop,
    token_cmd,
    workload,
)
from search_load import load
from stores import STORE_HELP, Stores

from server.store import open_store

HUNDRED_K, MILLION = 100_000, 1_000_000
MONGOMOCK_SIZE = 10_000  # mongomock is pure Python: loading runs at about 160 resources/s
HERE = Path(__file__).resolve().parent
P95_TARGET_MS, RATE_TARGET, GROWTH_TARGET = 25.0, 1000.0, 2.0
INCLUDE_QUERY = "ServiceRequest?status=active&_include=ServiceRequest:subject&_count=50"


@dataclass(frozen=True)
class Targeted:
    """One targeted query kind: how to build it for a Patient (id, RUN)."""

    name: str
    path: Callable[[str, str], str]


TARGETED = (
    Targeted("patient_identifier", lambda pid, run: "Patient?" + urlencode(
        {"identifier": f"{wl.RUN_SYSTEM}|{run}"}, quote_via=quote)),
    Targeted("encounter_subject", lambda pid, run: f"Encounter?subject=Patient/{pid}"),
    Targeted("observation_subject", lambda pid, run: f"Observation?subject=Patient/{pid}"),
    Targeted("servicerequest_subject",
             lambda pid, run: f"ServiceRequest?subject=Patient/{pid}"),
)


def dataset(directory: Path, size: int, seed: int, unit: int,
            jobs: int) -> tuple[str, Path, dict]:
    """(store URL, state file, load report) of a store holding ``size`` resources;
    reused when ``directory`` already holds one from an earlier run."""
    db, state = directory / f"search-{size}.db", directory / f"search-{size}.state.json"
    url = f"sqlite:///{db}"
    if db.exists() and state.exists():
        store = open_store(url)
        try:
            store.init()  # indexes the schema gained since the store was loaded
        finally:
            store.close()
        return url, state, {"reused": str(db)}
    for stale in directory.glob(f"search-{size}.db*"):
        stale.unlink()
    print(f"# loading {size:,} resources into {db} ...", file=sys.stderr, flush=True)
    loaded = load(url, size, seed, unit, jobs)
    state.write_text(json.dumps(loaded.state("", seed)))
    return url, state, {
        "workload": "load", "resources": loaded.count, "seconds": round(loaded.seconds, 1),
        "resources_s": round(loaded.count / loaded.seconds),
        "prepare_cpu_s": round(loaded.prepare_seconds, 1), "unit": unit, "jobs": jobs,
        "db_mb": round(db.stat().st_size / 2**20)}


def mongodb_dataset(url: str, directory: Path, size: int, seed: int, unit: int,
                    jobs: int) -> tuple[Path, dict]:
    """(state file, load report) of ``size`` resources loaded into the fresh MongoDB
    database of ``url``."""
    state = directory / f"search-{size}.state.json"
    print(f"# loading {size:,} resources into a fresh MongoDB database ...", file=sys.stderr,
          flush=True)
    loaded = load(url, size, seed, unit, jobs)
    state.write_text(json.dumps(loaded.state("", seed)))
    return state, {
        "workload": "load", "resources": loaded.count, "seconds": round(loaded.seconds, 1),
        "resources_s": round(loaded.count / loaded.seconds),
        "prepare_cpu_s": round(loaded.prepare_seconds, 1), "unit": unit, "jobs": jobs}


def serve_mongomock(url: str, size: int, args: argparse.Namespace, work: Path, port: int
                    ) -> tuple[subprocess.Popen, Path, dict]:
    """(server, state file, load report): one process (``search_load.py --serve``) loads
    ``size`` resources into the mongomock store ``url`` and then serves it on ``port``:
    mongomock's data exist only in the process that wrote them."""
    state, log = work / f"search-{size}.state.json", work / f"serve-{size}.log"
    print(f"# loading {size:,} resources into mongomock, in the serving process ...",
          file=sys.stderr, flush=True)
    cmd = [sys.executable, str(HERE / "search_load.py"), "--store", url, "--resources",
           str(size), "--seed", str(args.seed), "--unit", str(args.unit), "--jobs",
           str(args.jobs), "--state", str(state), "--serve", str(port)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = start(cmd, port, log, None)
    loaded = next(json.loads(line) for line in log.read_text().splitlines()
                  if line.startswith('{"loaded"'))
    return proc, state, {
        "workload": "load", "resources": loaded["loaded"], "seconds": loaded["seconds"],
        "resources_s": loaded["resources_s"], "prepare_cpu_s": loaded["prepare_cpu_s"],
        "unit": args.unit, "jobs": args.jobs,
        # the serving process's CPU so far is the load's: left out of server_cpu_s_total
        "load_cpu_s": round(server_cpu(proc), 2)}


def matches(body: dict) -> list[dict]:
    return [e for e in body.get("entry") or []
            if (e.get("search") or {}).get("mode", "match") == "match"]


def ignored_params(body: dict) -> list[str]:
    """Diagnostics of the OperationOutcome entry a lenient search adds for parameters it
    did not apply (https://hl7.org/fhir/R4B/search.html#errors)."""
    out = []
    for e in body.get("entry") or []:
        resource = e.get("resource") or {}
        if resource.get("resourceType") == "OperationOutcome":
            out += [i.get("diagnostics", "") for i in resource.get("issue") or []]
    return out


def run_phase(base: str, name: str, concurrency: int, duration: float, seed: int,
              make: Callable[[random.Random], tuple[str, str | None]]) -> dict:
    """``concurrency`` clients sending ``make(rng)`` queries for ``duration`` seconds.
    ``make`` returns (path, expected id of the single match, or None: any answer).
    Authenticated with the benchmark client whose credentials ``main`` put in the
    environment."""
    auth = wl.Auth(None, token_cmd(base))
    stats, budget = wl.Stats(), wl.Budget(10**9, duration)
    included: list[int] = []

    def worker(w: int) -> None:
        rng = random.Random(f"{seed}:{name}:{w}")
        conn = wl.FhirConnection(base, auth, 60.0, {})
        try:
            while budget.take():
                path, expected = make(rng)
                t0 = time.perf_counter()
                try:
                    r = conn.request("GET", path)
                except Exception as exc:
                    stats.fail((time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: "
                               f"{exc}")
                    continue
                ms = (time.perf_counter() - t0) * 1000
                if r.status != 200:
                    stats.fail(ms, wl.describe_failure(r))
                    continue
                body = r.json() or {}
                found = matches(body)
                if expected is not None and [e["resource"]["id"] for e in found] != [expected]:
                    stats.fail(ms, f"{path}: {len(found)} matches, expected only {expected}")
                    continue
                if expected is None and not found:
                    stats.fail(ms, f"{path}: no match")
                    continue
                stats.ok(ms)
                if name == "include":
                    with stats.lock:
                        included.append(sum(
                            1 for e in body.get("entry") or []
                            if (e.get("search") or {}).get("mode") == "include"))
                    for diagnostics in ignored_params(body):
                        stats.count("not_applied:" + diagnostics[:120])
        finally:
            conn.close()

    seconds = wl.run_workers(concurrency, worker)
    out = wl.summarize(name, stats, seconds, {"concurrency": concurrency})
    if included:
        out["avg_included"] = round(sum(included) / len(included), 1)
    return out


def targeted_maker(kind: Targeted, state: dict, seed: int
                   ) -> Callable[[random.Random], tuple[str, str | None]]:
    patients = state["patients"]
    refs = _journey_ids(state, kind.name)
    journeys = min(len(patients), len(refs))  # the last journey may have been cut short

    def make(rng: random.Random) -> tuple[str, str | None]:
        i = rng.randrange(journeys)
        pid, run = patients[i]
        return kind.path(pid, run), refs[i]
    return make


def _journey_ids(state: dict, name: str) -> list[str]:
    """The id each query must find, by journey: the loader stores one Patient,
    Encounter, Observation and ServiceRequest per journey, in journey order."""
    type = {"patient": "Patient", "encounter": "Encounter", "observation": "Observation",
            "servicerequest": "ServiceRequest"}[name.split("_")[0]]
    return state["resources"][type][:len(state["patients"])]


def measure(size: int, proc: subprocess.Popen, port: int, state_file: Path,
            args: argparse.Namespace, work: Path, mixed: bool, labels: dict,
            cpu_before: float = 0.0) -> list[dict]:
    """Run the phases on the server ``proc`` (listening on ``port``), then stop it; the
    result lines, each with ``labels`` (``cpu_before``: CPU seconds of the server's
    processes not to count, the load's when it loaded the data itself)."""
    state = json.loads(state_file.read_text())
    base = f"http://127.0.0.1:{port}/fhir"
    results: list[dict] = []
    credentials = {k: os.environ[k] for k in ("AMPARO_BENCH_CLIENT_ID",
                                              "AMPARO_BENCH_CLIENT_SECRET")}

    def emit(line: dict) -> None:
        line["resources"] = size
        line["server_cpu_s_total"] = round(server_cpu(proc) - cpu_before, 2)
        line.update(labels)
        print(json.dumps(line, ensure_ascii=False), flush=True)
        results.append(line)

    try:
        # warm-up: each worker process opens its connections and compiles its plans, and
        # each query kind's index pages are read once (steady state, not a cold cache)
        for kind in TARGETED:
            run_phase(base, "warmup", args.concurrency, 2.0, args.seed,
                      targeted_maker(kind, state, args.seed))
        for kind in TARGETED:
            emit(run_phase(base, kind.name, args.concurrency, args.duration, args.seed,
                           targeted_maker(kind, state, args.seed)))
        emit(run_phase(base, "include", args.concurrency, args.duration, args.seed,
                       lambda rng: (INCLUDE_QUERY, None)))
        if mixed:
            tmp_state = work / f"workload-{size}.state.json"
            tmp_state.write_text(json.dumps({**state, "base": base}))
            for line in workload(base, "--only", "search", "--state", str(tmp_state),
                                 "--concurrency", str(args.concurrency), "--duration-s",
                                 str(args.workload_duration), "--seed", str(args.seed),
                                 "--label", f"search workload {size:,}",
                                 credentials=credentials):
                emit(line)
    finally:
        stop(proc)
    return results


def verdict(ok: bool) -> str:
    return "OK  " if ok else "MISS"


def summary(loads: dict[int, dict], results: list[dict], stores: Stores) -> None:
    served = ("loaded and served by one process, Granian with one worker forked after the "
              "load" if stores.kind == "mongomock" else "amparo serve production workers")
    print(f"\n# summary (4 concurrent clients, {stores.title}, {served}, "
          "the client sharing the cores)")
    for size, report in loads.items():
        if "resources_s" in report:
            db = f"; db {report['db_mb']} MB" if "db_mb" in report else ""
            print(f"load {size:>9,}: {report['resources']:,} resources in "
                  f"{report['seconds']} s = {report['resources_s']:,} resources/s "
                  f"(in-process, units of {report['unit']}, {report['jobs']} preparing processes"
                  f"{db})")
        else:
            print(f"load {size:>9,}: reused {report['reused']}")
    by = {(r["resources"], r.get("workload") if r.get("workload") != "search"
           else "mixed"): r for r in results}
    sizes = sorted({r["resources"] for r in results})
    for size in sizes:
        print(f"\n## {size:,} resources")
        for kind in [*(k.name for k in TARGETED), "include"]:
            r = by.get((size, kind))
            if r is None:
                continue
            line = (f"{kind:24s} p50 {r['p50_ms']:>6} ms  p95 {r['p95_ms']:>6} ms  "
                    f"p99 {r['p99_ms']:>6} ms  {r['ops_s']:>7.0f} req/s  errors {r['errors']}")
            if kind != "include" and size == HUNDRED_K:
                line += f"  [{verdict(r['p95_ms'] <= P95_TARGET_MS)} p95 <= {P95_TARGET_MS}]"
            if kind == "include":
                ignored = [k for k in r if k.startswith("not_applied:")]
                extra = r.get("avg_included", 0)
                if ignored:
                    line += "  _include IGNORED: " + "; ".join(k[12:] for k in ignored)
                elif not extra:
                    line += "  _include NOT APPLIED: no included entries, no OperationOutcome"
                else:
                    line += f"  ({extra} included/page)"
            print(line)
        mixed = by.get((size, "mixed"))
        if mixed is not None:
            print(f"{'mixed search workload':24s} p50 {mixed['p50_ms']:>6} ms  p95 "
                  f"{mixed['p95_ms']:>6} ms  p99 {mixed['p99_ms']:>6} ms  "
                  f"{mixed['ops_s']:>7.0f} req/s  errors {mixed['errors']}  "
                  f"[{verdict(mixed['ops_s'] >= RATE_TARGET)} >= {RATE_TARGET:.0f}/s]")
            for q, s in (mixed.get("by_query") or {}).items():
                print(f"  {q:22s} p50 {s['p50_ms']:>6} ms  p95 {s['p95_ms']:>6} ms  "
                      f"errors {s['errors']}")
    if len(sizes) > 1:
        small, big = sizes[0], sizes[-1]
        print(f"\n## growth {small:,} -> {big:,} resources (latency ratio)")
        for kind in (k.name for k in TARGETED):
            a, b = by.get((small, kind)), by.get((big, kind))
            if a and b:
                r50, r95 = b["p50_ms"] / a["p50_ms"], b["p95_ms"] / a["p95_ms"]
                print(f"{kind:24s} p50 {a['p50_ms']} -> {b['p50_ms']} ms (x{r50:.2f})  "
                      f"p95 {a['p95_ms']} -> {b['p95_ms']} ms (x{r95:.2f})  "
                      f"[{verdict(max(r50, r95) <= GROWTH_TARGET)} <= x{GROWTH_TARGET}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resources", type=int, default=None,
                        help=f"size of the default store (default {HUNDRED_K:,}; "
                             f"{MONGOMOCK_SIZE:,} with --store mongomock)")
    parser.add_argument("--million", action="store_true",
                        help=f"also measure at {MILLION:,} resources (loading: about 6 min)")
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds per targeted query kind")
    parser.add_argument("--workload-duration", type=float, default=20.0,
                        help="seconds of the mixed search workload")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unit", type=int, default=2000, help="resources per unit of work")
    parser.add_argument("--jobs", type=int, default=2,
                        help="loader processes preparing resources while one writes")
    parser.add_argument("--data-dir", help="keep the stores here and reuse them next time "
                        "(SQLite only)")
    parser.add_argument("--store", default="sqlite", help=STORE_HELP)
    args = parser.parse_args()
    loads: dict[int, dict] = {}
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="amparo-search-bench-") as tmp, \
            Stores.open(args.store, Path(tmp)) as stores:
        if stores.kind != "sqlite" and args.data_dir:
            parser.error("--data-dir keeps SQLite stores only")
        if stores.kind == "mongomock":
            parser.error("--store mongomock: the client registry lives in the serving "
                         "process's memory, so no client can be registered to get a token")
        if stores.kind == "mongomock" and args.workers not in (None, 1):
            parser.error("--store mongomock: one process holds the data, so --workers 1")
        if args.resources is None:
            args.resources = MONGOMOCK_SIZE if stores.kind == "mongomock" else HUNDRED_K
        sizes = [args.resources] + ([MILLION] if args.million else [])
        labels = {"store": stores.kind}
        if stores.kind == "mongomock":
            labels["served"] = "the loading process, Granian, 1 worker forked after the load"
            print("# mongomock: loaded and served by one process (one Granian worker, forked "
                  "after the load, holds the in-memory data); not representative of MongoDB",
                  flush=True)
        work = Path(tmp)
        data = Path(args.data_dir) if args.data_dir else work
        data.mkdir(parents=True, exist_ok=True)
        for size in sizes:
            port, cpu_before = free_port(), 0.0
            if stores.kind == "mongomock":
                proc, state_file, loads[size] = serve_mongomock(
                    stores.fresh(f"search-{size}"), size, args, work, port)
                cpu_before = loads[size]["load_cpu_s"]
                url = None
            else:
                if stores.kind == "sqlite":
                    url, state_file, loads[size] = dataset(data, size, args.seed, args.unit,
                                                           args.jobs)
                else:
                    url = stores.fresh(f"search-{size}")
                    state_file, loads[size] = mongodb_dataset(url, work, size, args.seed,
                                                              args.unit, args.jobs)
                os.environ.update(bench_client(url))  # run_phase's and --token-cmd's
                # reads only: the profile mode (which judges writes) does not matter
                proc = start_server(url, port, args.workers, args.threads,
                                    work / f"serve-{size}.log", "claimed")
            print(json.dumps({"resources": size, **loads[size], **labels}), flush=True)
            try:
                results += measure(size, proc, port, state_file, args, work, True, labels,
                                   cpu_before)
            finally:
                if url is not None:
                    stores.drop(url)
            if not args.data_dir:
                for f in data.glob(f"search-{size}.*"):
                    f.unlink()
    summary(loads, results, stores)


if __name__ == "__main__":
    main()
