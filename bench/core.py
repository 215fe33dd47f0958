#!/usr/bin/env python3
"""Core benchmark (issue 2): transaction ingest and read by id on a served Amparo.

Starts ``amparo serve`` (Granian, production workers) on a fresh SQLite store, then
drives it with the project's standard FHIR workload client (``bench/fhir_workload.py``,
a verbatim copy of ../shared/bench/fhir_workload.py) with 4 concurrent clients:

1. ingest of synthetic survivor journeys written by ``amparo synth`` (``--bundles-dir``:
   conditional creates, several contacts per survivor, references across bundles);
2. read by id of what was ingested;
3. the workload's own generated mode (its 7-resource journey bundles), ingest, read and
   update, for comparison with other servers measured with the same client.

Prints each workload's JSON line and a summary. The client shares the machine's two
cores with the server (its CPU seconds are in each line). Targets: ingest >= 2,000
resources/s and read >= 2,000 requests/s.

Usage: python bench/core.py [--cases 400] [--duration 20] [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "fhir_workload.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def amparo() -> str:
    return str(Path(sys.executable).with_name("amparo"))


def start_server(store: str, port: int, workers: int | None, threads: int | None,
                 log: Path) -> subprocess.Popen:
    cmd = [amparo(), "serve", "--store", store, "--port", str(port)]
    if workers:
        cmd += ["--workers", str(workers)]
    if threads:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start; see {log}")


def workload(base: str, *args: str) -> list[dict]:
    out = subprocess.run([sys.executable, str(WORKLOAD), "--base", base, *args],
                         capture_output=True, text=True, check=False)
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=400, help="synthetic survivors")
    parser.add_argument("--bundles", type=int, default=1500, help="generated-mode bundles")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per read/update")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="amparo-bench-") as tmp:
        work = Path(tmp)
        subprocess.run([amparo(), "synth", "--cases", str(args.cases), "--seed", "1",
                        "--out", str(work / "synth")], check=True, capture_output=True)
        for label, mode_args in (
            ("synthetic journeys", ["--bundles-dir", str(work / "synth" / "bundles"),
                                    "--bundles", "0", "--only", "ingest,read"]),
            ("generated workload", ["--bundles", str(args.bundles),
                                    "--only", "ingest,read,update"]),
        ):
            port = free_port()
            store = f"sqlite:///{work / (label.split()[0] + '.db')}"
            proc = start_server(store, port, args.workers, args.threads,
                                work / f"{label.split()[0]}.log")
            try:
                for line in workload(f"http://127.0.0.1:{port}/fhir", "--concurrency",
                                     str(args.concurrency), "--duration-s", str(args.duration),
                                     "--seed", "1", "--label", label, *mode_args):
                    line["server_cpu_s_total"] = round(server_cpu(proc), 2)
                    print(json.dumps(line, ensure_ascii=False), flush=True)
                    results.append(line)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
    print("\n# summary (4 concurrent clients, SQLite, production workers)")
    for r in results:
        rate = (f"{r['resources_s']:.0f} resources/s" if r["workload"] == "ingest"
                else f"{r['ops_s']:.0f} requests/s")
        print(f"{r['label']:20s} {r['workload']:7s} {rate:>20s}  p50 {r['p50_ms']} ms  "
              f"p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  errors {r['errors']}")


if __name__ == "__main__":
    main()
