"""Microseconds per resource spent in ``server.search.extract.extract``.

Why: ingest must reach 2,000 resources/s on 2 cores including parsing, validation and
SQLite writes, which leaves extraction about 100 microseconds per resource. Three sets:

- the 7 resources of one "survivor journey" bundle from the shared workload generator
  (``/work/shared/bench/fhir_workload.py``, ``make_bundle``), the server's real shape;
- the same generator's first 200 bundles with the value caches emptied before each
  round (every resource new: the realistic ingest case);
- every R4B example in ``/work/shared/reference/fhir-r4b/examples/`` (broad coverage,
  some large), each resource of a Bundle counted on its own.

Usage: ``.venv/bin/python bench/extract_bench.py [--rounds N]``. Plans are compiled before
timing starts (compile cost is reported apart).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.search import values  # noqa: E402
from server.search.extract import extract  # noqa: E402

SHARED = Path("/work/shared")
WORKLOAD = SHARED / "bench" / "fhir_workload.py"
EXAMPLES = SHARED / "reference" / "fhir-r4b" / "examples"


def _workload_resources(bundles: int = 1) -> list[dict]:
    spec = importlib.util.spec_from_file_location("fhir_workload", WORKLOAD)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["fhir_workload"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    orgs = ["Organization/inst-1", "Organization/inst-2", "Organization/inst-3"]
    resources = []
    for index in range(bundles):
        bundle, _run = module.make_bundle(1, index, orgs)
        resources += [entry["resource"] for entry in bundle["entry"]]
    return resources


def _example_resources() -> list[dict]:
    resources = []
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        resources.append(resource)
        if resource.get("resourceType") == "Bundle":
            resources += [e["resource"] for e in resource.get("entry", []) if "resource" in e]
    return resources


def _clear_caches() -> None:
    for cached in (values.normalize, values._date_bounds, values.parse_reference):
        cached.cache_clear()


def _time(resources: list[dict], rounds: int, cold: bool = False) -> float:
    """Best-of-rounds microseconds per resource; short lists are repeated to >= 500 calls.

    ``cold`` empties the value caches (normalised strings, dates, references) before
    each round, as when every resource brings new names and dates.
    """
    batch = resources * max(1, 500 // len(resources))
    best = float("inf")
    for _ in range(rounds):
        if cold:
            _clear_caches()
        start = time.perf_counter()
        for resource in batch:
            extract(resource)
        best = min(best, time.perf_counter() - start)
    return best / len(batch) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    sets = {"workload bundle": _workload_resources(), "R4B examples": _example_resources()}
    for name, resources in sets.items():
        start = time.perf_counter()
        for resource in resources:
            extract(resource)  # first call compiles each type's plan
        first = (time.perf_counter() - start) * 1e3
        per = _time(resources, args.rounds)
        print(f"{name}: {len(resources)} resources, {per:.1f} us/resource "
              f"(best of {args.rounds} rounds; first pass incl. compile {first:.0f} ms)")
    distinct = _workload_resources(200)
    per = _time(distinct, args.rounds, cold=True)
    print(f"workload, 200 distinct bundles, cold value caches: {len(distinct)} resources, "
          f"{per:.1f} us/resource")
    for resource in sets["workload bundle"]:
        per = _time([resource], args.rounds)
        print(f"  {resource['resourceType']}: {per:.1f} us")


if __name__ == "__main__":
    main()
