#!/usr/bin/env python3
"""Replay ``amparo synth`` output as the institutions would send it: each bundle with a
token of the institution that wrote it (the synthetic-journeys phase of ``core.py``).

Why not the standard workload client (``fhir_workload.py --bundles-dir``): it sends
every bundle with one token, and Amparo decides by the token's institution. Resources
are authored by that institution and seen only by it and those it grants; a referral
Task is created by its requester (``Task.requester``) and its status changed by its
owner (``Task.owner``), the wrong side gets 403. One client replaying every journey
is therefore not what the server is built for, and its failures are not a measure.

Who wrote a bundle (``writer``; ``server/synth/journeys.py``): a contact's bundle is
sent by the institution of its Encounter (``Encounter.serviceProvider``), which is also
the requester of the referrals it sends and the owner of those it answers on arrival; an
answer without a contact (one conditional PUT of a referral Task) by the Task's owner.
The institutions bundle (``00-institutions.json``) has no writer: the platform loads the
institutions (``amparo init``) before any client can act for one, so it is skipped here.

Order (``waves``): synth names its files ``<contact>-<case>.json`` so that sorted names
give every first contact, then every second contact... A contact refers back to its
case's earlier contacts (conditional references, the referral Task it updates), so a
wave (one contact number) starts only when the previous one has ended; within a wave
``--concurrency`` workers take the bundles in name order.

HTTP, measurement and the output are the standard client's (``fhir_workload.py``,
imported, not modified): one keep-alive connection per worker, its checks of the
transaction-response and its result line (``summarize``: workload, ops, ops_s, p50_ms,
p95_ms, p99_ms, errors, resources, resources_s...). Failed bundles are also counted by
HTTP status (``failed_by_status``) and by the entry the server blamed
(``failed_by_entry``, e.g. ``422 PUT Task``). ``read`` then GETs random ingested
resources by id, each with a token of the institution whose bundle wrote it.

Credentials: ``AMPARO_BENCH_CLIENTS``, a JSON object ``{"Organization/<id>":
{"client_id": ..., "client_secret": ...}}`` in the environment (never on a command line);
tokens come from the server's token endpoint (client_secret_basic), again on a 401.

Usage: AMPARO_BENCH_CLIENTS=... python bench/journeys.py --base URL --bundles-dir DIR
       [--concurrency 4] [--duration-s 20] [--only ingest,read] [--label TEXT]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from typing import Any

from fhir_workload import (  # bench/ is the script's directory, first on sys.path
    Budget,
    FhirConnection,
    Stats,
    describe_failure,
    load_bundle_dir,
    read_transaction_response,
    run_workers,
    summarize,
)

CLIENTS_ENV = "AMPARO_BENCH_CLIENTS"
SCOPE = "system/*.cruds"
#: An OperationOutcome's expression that blames one entry of the transaction.
BLAMED_ENTRY = re.compile(r"Bundle\.entry\[(\d+)\]")
Bundle = dict[str, Any]


def access_token(base: str, client_id: str, client_secret: str) -> str:
    """A new access token of a registered client (client_credentials, secret_basic)."""
    pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    request = urllib.request.Request(
        f"{base}/auth/token", method="POST",
        data=urllib.parse.urlencode({"grant_type": "client_credentials",
                                     "scope": SCOPE}).encode(),
        headers={"Authorization": f"Basic {pair}",
                 "Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())["access_token"]


class ClientToken:
    """The bearer token of one institution's client, with the interface of the standard
    client's ``Auth`` (``header``, ``refresh``), so that its connections can use it:
    fetched on first use and again when the server answers 401 (it expired)."""

    def __init__(self, fetch: Callable[[], str]):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: str | None = None
        self._generation = 0

    def header(self) -> tuple[int, str | None]:
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._generation, f"Bearer {self._token}"

    def refresh(self, seen_generation: int) -> bool:
        with self._lock:
            if self._generation == seen_generation:  # else another worker just did
                self._token = self._fetch()
                self._generation += 1
        return True


def writer(bundle: Bundle) -> str | None:
    """The institution (``Organization/<id>``) that sends this synth bundle: its
    contact's ``Encounter.serviceProvider``, else the owner of the referral Task it
    updates; None for the institutions bundle (the platform's)."""
    entries = bundle.get("entry") or []
    resources = [e.get("resource") or {} for e in entries]
    for resource in resources:
        if resource.get("resourceType") == "Encounter":
            return resource["serviceProvider"]["reference"]
    if [r.get("resourceType") for r in resources] == ["Task"] \
            and entries[0]["request"]["method"] == "PUT":
        return resources[0]["owner"]["reference"]
    return None


def blamed(bundle: Bundle, outcome: Any) -> str:
    """``<method> <type>`` of the entry a failed transaction's OperationOutcome blames
    (its first issue's expression), or ``?``: which kind of write the server refused."""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    expressions = (issues[0].get("expression") or [""]) if issues else [""]
    found = BLAMED_ENTRY.match(str(expressions[0]))
    entries = bundle.get("entry") or []
    if not found or int(found.group(1)) >= len(entries):
        return "?"
    entry = entries[int(found.group(1))]
    return f"{entry['request']['method']} {entry['resource']['resourceType']}"


def waves(bundles_dir: str) -> tuple[list[list[tuple[str, str, Bundle]]], dict[str, int]]:
    """The bundles to replay as (source, writer, bundle), grouped by contact number (the
    file name's prefix), in name order; and what was skipped, by reason."""
    bundles, skipped = load_bundle_dir(bundles_dir, 0)
    written = []
    for source, bundle in bundles:
        institution = writer(bundle)
        if institution is None:
            skipped["no_writer"] = skipped.get("no_writer", 0) + 1  # the institutions
        else:
            written.append((source, institution, bundle))
    grouped = groupby(written, key=lambda item: os.path.basename(item[0]).split("-", 1)[0])
    return [list(wave) for _, wave in grouped], skipped


def writers(bundles_dir: str) -> list[str]:
    """Every institution that sends at least one bundle of ``bundles_dir``."""
    return sorted({institution for wave in waves(bundles_dir)[0] for _, institution, _ in wave})


def ingest(args: argparse.Namespace, tokens: dict[str, ClientToken]
           ) -> tuple[dict, list[tuple[str, str, str]]]:
    """Replay the bundles wave by wave; the result line and the (type, id, institution)
    of every resource written."""
    plan, skipped = waves(args.bundles_dir)
    stats = Stats()
    failed: dict[str, int] = {}
    failed_entries: dict[str, int] = {}
    written: dict[tuple[str, str], str] = {}
    by_type: dict[str, int] = {}
    resources = entries = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + args.max_ingest_s
    conns = [FhirConnection(args.base, next(iter(tokens.values())), args.timeout, {})
             for _ in range(args.concurrency)]

    def fail(ms: float, status: str, what: str, entry: str = "?") -> None:
        stats.fail(ms, what)
        with lock:
            failed[status] = failed.get(status, 0) + 1
            key = f"{status} {entry}"
            failed_entries[key] = failed_entries.get(key, 0) + 1

    def send(conn: FhirConnection, source: str, institution: str, bundle: Bundle) -> None:
        nonlocal resources, entries
        conn.auth = tokens[institution]
        t0 = time.perf_counter()
        try:
            r = conn.request("POST", "", bundle)
        except Exception as exc:  # network error / timeout
            fail((time.perf_counter() - t0) * 1000, type(exc).__name__,
                 f"{source} ({institution}): {type(exc).__name__}: {exc}")
            return
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            fail(ms, str(r.status), f"{source} ({institution}): {describe_failure(r)}",
                 blamed(bundle, _json(r.body)))
            return
        try:
            outcome = read_transaction_response(bundle, r.json())
        except Exception as exc:  # not JSON, not a transaction-response, an entry not 2xx
            fail(ms, "bad-response", f"{source} ({institution}): {exc}")
            return
        stats.ok(ms)
        with lock:
            resources += len(outcome.created)
            entries += outcome.entries
            for rtype, rid in outcome.created:
                by_type[rtype] = by_type.get(rtype, 0) + 1
                written.setdefault((rtype, rid), institution)

    def replay(wave: list[tuple[str, str, Bundle]]) -> float:
        """Send one wave's bundles with every worker; its wall time."""
        queue = iter(wave)

        def worker(w: int) -> None:
            while time.perf_counter() < deadline:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                send(conns[w], *item)

        return run_workers(args.concurrency, worker)

    try:
        seconds = sum(replay(wave) for wave in plan)
    finally:
        for conn in conns:
            if conn.reconnects:
                stats.count("reconnects", conn.reconnects)
            conn.close()
    line = summarize("ingest", stats, seconds, {
        "concurrency": args.concurrency,
        "resources": resources,
        "resources_s": round(resources / seconds, 2) if seconds else None,
        "bundles_dir": args.bundles_dir,
        "bundles_selected": sum(len(wave) for wave in plan),
        "waves": len(plan),
        "institutions": len(tokens),
        "entries": entries,
        "failed_by_status": dict(sorted(failed.items())),
        "failed_by_entry": dict(sorted(failed_entries.items())),
        "resources_by_type": dict(sorted(by_type.items())),
        "skipped": skipped,
    })
    return line, [(t, i, inst) for (t, i), inst in written.items()]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def read(args: argparse.Namespace, tokens: dict[str, ClientToken],
         pool: list[tuple[str, str, str]]) -> dict:
    """GET [type]/[id] of random ingested resources, each as the institution that wrote
    it, for ``--duration-s`` seconds (the standard client's read, per institution)."""
    if not pool:
        raise SystemExit("read: no ingested resources")
    stats = Stats()
    budget = Budget(args.max_ops, args.duration_s)

    def worker(w: int) -> None:
        rng = random.Random(f"{args.seed}:read:{w}")
        conn = FhirConnection(args.base, next(iter(tokens.values())), args.timeout, {})
        try:
            while budget.take():
                rtype, rid, institution = pool[rng.randrange(len(pool))]
                conn.auth = tokens[institution]
                t0 = time.perf_counter()
                try:
                    r = conn.request("GET", f"{rtype}/{rid}")
                except Exception as exc:
                    stats.fail((time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: {exc}")
                    continue
                ms = (time.perf_counter() - t0) * 1000
                if r.status == 200:
                    stats.ok(ms)
                else:
                    stats.fail(ms, f"{rtype}/{rid} ({institution}): {describe_failure(r)}")
        finally:
            if conn.reconnects:
                stats.count("reconnects", conn.reconnects)
            conn.close()

    seconds = run_workers(args.concurrency, worker)
    return summarize("read", stats, seconds, {"concurrency": args.concurrency,
                                              "resource_pool": len(pool)})


def client_tokens(base: str, clients: dict[str, dict[str, str]],
                  concurrency: int) -> dict[str, ClientToken]:
    """A ``ClientToken`` per institution, each with its first token already fetched
    (outside the timed replay: the token endpoint checks a scrypt hash per client)."""
    tokens = {institution: ClientToken(lambda c=client: access_token(
                  base, c["client_id"], c["client_secret"]))
              for institution, client in clients.items()}
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(ClientToken.header, tokens.values()))
    return tokens


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--base", required=True, help="FHIR base URL, e.g. http://127.0.0.1:8080/fhir")
    p.add_argument("--bundles-dir", required=True, metavar="DIR",
                   help="the bundles folder of amparo synth's output")
    p.add_argument("--concurrency", type=int, default=4, help="worker threads (connections)")
    p.add_argument("--duration-s", type=float, default=20.0, help="time bound of read")
    p.add_argument("--max-ops", type=int, default=200_000, help="op-count bound of read")
    p.add_argument("--max-ingest-s", type=float, default=600.0, help="time bound of ingest")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    p.add_argument("--seed", type=int, default=1, help="seeds the read's random choices")
    p.add_argument("--only", default="ingest,read", help="ingest, or ingest,read")
    p.add_argument("--label", help="free-text label copied into every result line")
    args = p.parse_args(argv)
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    if args.only not in (["ingest"], ["ingest", "read"]):  # read needs the ingested ids
        p.error("--only: ingest, or ingest,read")
    if args.concurrency < 1:
        p.error("--concurrency must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    clients = json.loads(os.environ.get(CLIENTS_ENV) or "{}")
    needed = writers(args.bundles_dir)
    if not needed:
        raise SystemExit(f"no synth bundle to replay under {args.bundles_dir}")
    missing = sorted(set(needed) - clients.keys())
    if missing:
        raise SystemExit(f"{CLIENTS_ENV} has no client of {len(missing)} institution(s) "
                         f"that send bundles, e.g. {missing[0]}")
    tokens = client_tokens(args.base, {i: clients[i] for i in needed}, args.concurrency)
    failed = False
    pool: list[tuple[str, str, str]] = []
    for name in args.only:
        print(f"# running {name} ...", file=sys.stderr)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cpu0 = time.process_time()
        if name == "ingest":
            result, pool = ingest(args, tokens)
        else:
            result = read(args, tokens, pool)
        result["client_cpu_s"] = round(time.process_time() - cpu0, 2)
        result["started_utc"] = started
        result["seed"] = args.seed
        result["mode"] = "journeys"
        if args.label:
            result["label"] = args.label
        print(json.dumps(result, ensure_ascii=False), flush=True)
        failed = failed or result["errors"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
