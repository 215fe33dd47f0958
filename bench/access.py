#!/usr/bin/env python3
"""Access benchmark (issue 6): what authentication, the consent gate and the audit
trail cost on a served Amparo.

Runs ``amparo serve`` (production workers, a fresh SQLite file each time) alternately
with ``AMPARO_ACCESS=consent`` (the default: every read filtered by the consent keys,
every request audited before it answers) and ``AMPARO_ACCESS=permit-all`` (no gate, no
audit: the baseline), both with authentication on. Each run ingests the standard
workload's generated bundles (``bench/fhir_workload.py``, 4 concurrent clients) and
then reads them by id for ``--duration`` seconds. The machine's rate swings between
minutes, so the modes alternate ``--rounds`` times and the ratio of each consecutive
pair is printed, then the median.

Targets: read-by-id with consent and audit >= 70 % of permit-all; ingest with them
>= 1,500 resources/s.

Usage: python bench/access.py [--bundles 600] [--duration 15] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from core import bench_client, free_port, server_cpu, start_server, stop, workload
from stores import Stores  # bench/ is the script's directory, first on sys.path


def run(stores: Stores, work: Path, access: str, args: argparse.Namespace) -> dict:
    store = stores.fresh(access)
    port = free_port()
    try:
        proc = start_server(store, port, None, None, work / f"{access}.log", "claimed", access)
        try:
            lines = workload(f"http://127.0.0.1:{port}/fhir", "--concurrency", "4",
                             "--duration-s", str(args.duration), "--seed", "1",
                             "--bundles", str(args.bundles), "--only", "ingest,read",
                             "--label", access, credentials=bench_client(store))
            cpu = server_cpu(proc)
        finally:
            stop(proc)
    finally:
        stores.drop(store)
    by = {line["workload"]: line for line in lines}
    return {"access": access, "ingest_resources_s": by["ingest"]["resources_s"],
            "read_s": by["read"]["ops_s"], "read_p50_ms": by["read"]["p50_ms"],
            "read_p99_ms": by["read"]["p99_ms"],
            "errors": by["ingest"]["errors"] + by["read"]["errors"],
            "server_cpu_s": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundles", type=int, default=600)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    pairs = []
    with tempfile.TemporaryDirectory(prefix="amparo-access-") as tmp, \
            Stores.open("sqlite", Path(tmp)) as stores:
        for _ in range(args.rounds):
            pair = {}
            for access in ("permit-all", "consent"):
                pair[access] = run(stores, Path(tmp), access, args)
                print(json.dumps(pair[access]), flush=True)
            pairs.append(pair)
    print("\n# read by id, consent + audit against permit-all (same minutes)")
    ratios = []
    for pair in pairs:
        ratio = pair["consent"]["read_s"] / pair["permit-all"]["read_s"]
        ratios.append(ratio)
        base, gated = pair["permit-all"], pair["consent"]
        print(f"read permit-all {base['read_s']:7.0f}/s  consent {gated['read_s']:7.0f}/s"
              f"  ratio {ratio:.0%}   ingest permit-all {base['ingest_resources_s']:.0f}"
              f"  consent {gated['ingest_resources_s']:.0f} resources/s")
    print(f"median read ratio {statistics.median(ratios):.0%} (target >= 70 %); "
          f"consent ingest median "
          f"{statistics.median(p['consent']['ingest_resources_s'] for p in pairs):.0f} "
          "resources/s (target >= 1,500)")


if __name__ == "__main__":
    main()
