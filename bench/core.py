#!/usr/bin/env python3
"""Core benchmark (issue 2): transaction ingest and read by id on a served Amparo.

Starts ``amparo serve`` (Granian, production workers) on a fresh store (``--store``:
SQLite by default) for each of two phases, each with 4 concurrent clients:

1. synthetic journeys: the survivor journeys ``amparo synth`` writes (conditional
   creates, several contacts per survivor, referrals answered by other institutions,
   references across bundles), ingested by ``bench/journeys.py``, each bundle as the
   institution that sent it, then read by id;
2. generated workload: the project's standard FHIR workload client
   (``bench/fhir_workload.py``, a verbatim copy of ../shared/bench/fhir_workload.py) in
   its own generated mode (its 7-resource journey bundles): ingest, read and update, for
   comparison with other servers measured with the same client.

Prints each workload's JSON line and a summary. The client shares the machine's two
cores with the server (its CPU seconds are in each line). Targets: ingest >= 2,000
resources/s and read >= 2,000 requests/s (issue 2); with validation on, ingest >= 1,500
resources/s (issue 5).

Profiles (``AMPARO_PROFILES``): the synthetic journeys run under ``strict`` (the default:
every resource is checked against the guide's profile that recognises it), the generated
workload under ``claimed`` (its resources are generic FHIR with example.org codes, which
the guide refuses); ``--profiles`` sets one mode for both, e.g. ``off`` to measure what
the profile checks cost.

``--store`` chooses the adapter (``bench/stores.py``): ``sqlite`` (a fresh file per
run), ``mongomock`` (the MongoDB adapter on mongomock: in memory and pure Python, so
``amparo serve --workers 1``, one process holding the data; its figures are not
representative of MongoDB), or the URL of an empty database on a MongoDB replica set
(each run writes to a fresh database beside it and drops it at the end).

Authentication, synthetic journeys: Amparo decides by the token's institution (who
authored a resource, who may see or change it, which side of a referral may move its
Task), so the journeys are sent as the institutions would send them. Before serving,
the store gets the institutions (``amparo init``, which also loads the conformance
resources, as in a deployment; the synth institutions bundle is therefore not replayed)
and one client per institution that sends a bundle (``journeys_clients``, asking for
tokens for coordination of care, ``PURPOSE``). ``bench/journeys.py`` gets their
credentials in its environment (``AMPARO_BENCH_CLIENTS``, never on a command line) and
sends each bundle with a token of its institution (the contact's
``Encounter.serviceProvider``, or the owner of the referral Task an answer updates),
contact number by contact number; each read uses a token of the institution that wrote
the resource. Its ingest line adds ``failed_by_status`` and ``failed_by_entry`` (the
write the server refused); on a fresh store every bundle is accepted (synth moves each
referral Task one legal step at a time, by the side the referral workflow allows).

Authentication, generated workload: one benchmark client (org ``amparo-bench``,
``amparo client create``); the workload client gets its bearer tokens from the server's
token endpoint through ``--token-cmd`` (``python bench/core.py --print-token BASE``, with
the client's credentials in its environment, never on a command line), re-run when a
token expires.

With ``--store mongomock`` the served data live only in the serving process, so no client
can be registered from outside it: that mode cannot authenticate and is refused.

Usage: python bench/core.py [--cases 400] [--bundles 1500] [--duration 20] [--workers N]
       [--threads N] [--concurrency 4]
       [--store sqlite|mongomock|mongodb://host/db?replicaSet=rs0]
       [--profiles strict|claimed|off]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from journeys import CLIENTS_ENV, access_token, writers  # bench/ is first on sys.path
from stores import STORE_HELP, Stores

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "fhir_workload.py"
#: The purpose of use the institutions' clients ask for tokens with: coordination of care,
#: the purpose each synthetic survivor's Consent permits sharing her record for
#: (``server/synth/resources.py``), so that an institution finds what the earlier ones
#: wrote about her (under TREAT, the default, it creates her again instead).
PURPOSE = "COC"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def amparo() -> str:
    return str(Path(sys.executable).with_name("amparo"))


def start_server(store: str, port: int, workers: int | None, threads: int | None,
                 log: Path, profiles: str, access: str = "consent") -> subprocess.Popen:
    cmd = [amparo(), "serve", "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    # the store URL through the environment: a mongodb:// URL may carry a password,
    # which a command line would show to every user of the machine (ps)
    return start(cmd, port, log, 30.0, {"AMPARO_STORE": store, "AMPARO_PROFILES": profiles,
                                        "AMPARO_ACCESS": access})


def start(cmd: list[str], port: int, log: Path, timeout: float | None,
          env: dict[str, str] | None = None) -> subprocess.Popen:
    """Run ``cmd`` (a server on ``port``) until its ``/health`` answers; ``timeout``
    seconds at most (None: as long as it runs)."""
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    deadline = time.time() + timeout if timeout is not None else None
    try:
        while deadline is None or time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited ({proc.returncode}); see {log}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                return proc
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"the server did not start; see {log}")
    except BaseException:
        stop(proc)  # also on Ctrl-C while it loads: no server left behind
        raise


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended after a minute (Granian ends its workers)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        for pid in [*_children(proc.pid), proc.pid]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def bench_client(store: str) -> dict[str, str]:
    """Register a benchmark client (``system/*.cruds``) in ``store``; its credentials as
    the environment variables ``--print-token`` reads."""
    made = subprocess.run([amparo(), "client", "create", "--org", "amparo-bench", "--name",
                           "benchmark", "--scopes", "system/*.cruds"], capture_output=True,
                          text=True, check=True, env={**os.environ, "AMPARO_STORE": store})
    client = json.loads(made.stdout)
    return {"AMPARO_BENCH_CLIENT_ID": client["client_id"],
            "AMPARO_BENCH_CLIENT_SECRET": client["client_secret"]}


def token_cmd(base: str) -> str:
    """The shell command that prints a bearer token for the workload client's
    ``--token-cmd`` (credentials from the environment: see ``bench_client``)."""
    return " ".join(shlex.quote(part) for part in
                    (sys.executable, str(HERE / "core.py"), "--print-token", base))


def print_token(base: str) -> None:
    """Print an access token of the benchmark client (client_secret_basic)."""
    print(access_token(base, os.environ["AMPARO_BENCH_CLIENT_ID"],
                       os.environ["AMPARO_BENCH_CLIENT_SECRET"]))


def workload(base: str, *args: str, credentials: dict[str, str] | None = None) -> list[dict]:
    """The standard workload client's result lines; with ``credentials`` (from
    ``bench_client``) it authenticates through ``--token-cmd``."""
    auth = ["--token-cmd", token_cmd(base)] if credentials else []
    out = subprocess.run([sys.executable, str(WORKLOAD), "--base", base, *auth, *args],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, **(credentials or {})})
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def journeys_clients(store: str, bundles_dir: Path) -> dict[str, dict[str, str]]:
    """Load the institutions into ``store`` as a deployment does (``amparo init``), then
    register a client (``system/*.cruds``) for each institution that sends bundles of
    ``bundles_dir``; their credentials by institution, for ``replay_journeys``.

    Registered in this process with the function ``amparo client create`` calls: one
    command per institution (a hundred or more) would spend a second each starting up."""
    from server.auth.clients import register  # the venv's Amparo, as ``amparo()`` is
    from server.store import open_store

    subprocess.run([amparo(), "init"], capture_output=True, check=True,
                   env={**os.environ, "AMPARO_STORE": store})
    opened = open_store(store)
    try:
        clients = {}
        for institution in writers(str(bundles_dir)):
            made = register(opened, institution, f"benchmark {institution}",
                            ["system/*.cruds"], [PURPOSE]).credentials()
            clients[institution] = {"client_id": made["client_id"],
                                    "client_secret": made["client_secret"]}
        return clients
    finally:
        opened.close()


def replay_journeys(base: str, bundles_dir: Path, clients: dict[str, dict[str, str]],
                    *args: str) -> list[dict]:
    """The result lines of ``journeys.py`` (ingest, read) replaying ``bundles_dir``, each
    bundle as its institution; ``clients`` (from ``journeys_clients``) reach it in its
    environment."""
    out = subprocess.run([sys.executable, str(HERE / "journeys.py"), "--base", base,
                          "--bundles-dir", str(bundles_dir), "--only", "ingest,read", *args],
                         capture_output=True, text=True, check=False,
                         env={**os.environ, CLIENTS_ENV: json.dumps(clients)})
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
    return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def server_cpu(proc: subprocess.Popen) -> float:
    """CPU seconds of the server's process tree so far (from /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in [proc.pid, *_children(proc.pid)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def main() -> None:
    if sys.argv[1:2] == ["--print-token"]:  # the workload client's --token-cmd
        print_token(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=400, help="synthetic survivors")
    parser.add_argument("--bundles", type=int, default=1500, help="generated-mode bundles")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per read/update")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--store", default="sqlite", help=STORE_HELP)
    parser.add_argument("--profiles", choices=("strict", "claimed", "off"), default=None,
                        help="AMPARO_PROFILES for both runs (default: strict for the "
                             "synthetic journeys, claimed for the generated workload)")
    args = parser.parse_args()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="amparo-bench-") as tmp, \
            Stores.open(args.store, Path(tmp)) as stores:
        work = Path(tmp)
        if stores.kind == "mongomock":
            parser.error("--store mongomock: the client registry lives in the serving "
                         "process's memory, so no client can be registered to get a token")
        subprocess.run([amparo(), "synth", "--cases", str(args.cases), "--seed", "1",
                        "--out", str(work / "synth")], check=True, capture_output=True)
        synth = work / "synth" / "bundles"
        # the generated workload's resources are generic FHIR (example.org codes), which
        # the guide's required bindings refuse: it runs as peer servers run it, checking
        # only claimed profiles (base R4B structure is always validated)
        for label, profiles in (("synthetic journeys", "strict"),
                                ("generated workload", "claimed")):
            profiles = args.profiles or profiles
            port = free_port()
            base = f"http://127.0.0.1:{port}/fhir"
            store = stores.fresh(label.split()[0])
            common = ["--concurrency", str(args.concurrency), "--duration-s",
                      str(args.duration), "--seed", "1", "--label", label]
            synthetic = label == "synthetic journeys"
            try:
                # the institutions and their clients are in the store before it is served
                clients = journeys_clients(store, synth) if synthetic else {}
                proc = start_server(store, port, args.workers, args.threads,
                                    work / f"{label.split()[0]}.log", profiles)
                try:
                    if synthetic:
                        lines = replay_journeys(base, synth, clients, *common)
                    else:
                        lines = workload(base, *common, "--bundles", str(args.bundles),
                                         "--only", "ingest,read,update",
                                         credentials=bench_client(store))
                    for line in lines:
                        line["server_cpu_s_total"] = round(server_cpu(proc), 2)
                        line["store"] = stores.kind
                        line["profiles"] = profiles
                        print(json.dumps(line, ensure_ascii=False), flush=True)
                        results.append(line)
                finally:
                    stop(proc)
            finally:
                stores.drop(store)
        servers = ("one server process, amparo serve --workers 1" if stores.kind == "mongomock"
                   else "production workers")
    print(f"\n# summary (4 concurrent clients, {stores.title}, {servers})")
    for r in results:
        rate = (f"{r['resources_s']:.0f} resources/s" if r["workload"] == "ingest"
                else f"{r['ops_s']:.0f} requests/s")
        print(f"{r['label']:20s} {r['profiles']:7s} {r['workload']:7s} {rate:>20s}  "
              f"p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  "
              f"errors {r['errors']}"
              + (f" {r['failed_by_status']}" if r.get("failed_by_status") else ""))


if __name__ == "__main__":
    main()
