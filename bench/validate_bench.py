"""Microseconds per resource spent in ``profiles.validate_structure``.

Why: ingest must reach 2,000 resources/s on 2 cores including HTTP, JSON, validation,
indexing and SQLite, which leaves structure validation well under 100 microseconds per
resource (target: under 80 for the workload). Two sets:

- the 7 resources of one "survivor journey" bundle (``make_bundle(seed, i, orgs)`` of the
  vendored workload generator ``bench/fhir_workload.py``), over several bundles: the
  server's real shape;
- every R4B example in ``/work/shared/reference/fhir-r4b/examples/`` (broad coverage,
  some large), each resource of a Bundle also counted on its own (skipped when absent).

``--before`` also times what validation cost before the single-pass validator: two passes,
fhir.resources' R4B pydantic models (``model_validate``, timed alone too) and then a JSON
walk (the single pass stands in for the old, smaller walk, so "before" is within a few
microseconds of the old code).

Usage: ``.venv/bin/python bench/validate_bench.py [--rounds N] [--before]``. Definitions
are loaded before timing starts (load cost reported apart).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fhir_workload import make_bundle  # noqa: E402

from profiles import validate_structure  # noqa: E402

EXAMPLES = Path("/work/shared/reference/fhir-r4b/examples")
ORGS = ["Organization/inst-1", "Organization/inst-2", "Organization/inst-3"]


def workload_resources(bundles: int = 20) -> list[dict]:
    """The resources of the first ``bundles`` workload bundles (seed 1)."""
    resources = []
    for index in range(bundles):
        bundle, _run = make_bundle(1, index, ORGS)
        resources += [entry["resource"] for entry in bundle["entry"]]
    return resources


def example_resources() -> list[dict]:
    """Every R4B example, plus each resource inside an example Bundle."""
    resources = []
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        resources.append(resource)
        if resource.get("resourceType") == "Bundle":
            resources += [e["resource"] for e in resource.get("entry", []) if "resource" in e]
    return resources


def _pydantic(resource: dict) -> object:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _two_passes(resource: dict) -> object:
    _pydantic(resource)
    return validate_structure(resource)


def per_resource_us(check, resources: list[dict], rounds: int) -> float:
    """Best of ``rounds`` passes over ``resources``, in microseconds per resource."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for resource in resources:
            check(resource)
        best = min(best, time.perf_counter() - start)
    return best / len(resources) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--before", action="store_true",
                        help="also time the two passes (fhir.resources models + walk)")
    args = parser.parse_args(argv)
    sets = {"workload (7 per bundle, 20 bundles)": workload_resources()}
    if EXAMPLES.is_dir():
        sets[f"R4B examples ({EXAMPLES})"] = example_resources()
    start = time.perf_counter()
    validate_structure(sets["workload (7 per bundle, 20 bundles)"][0])
    print(f"first call (loads definitions): {(time.perf_counter() - start) * 1e3:.1f} ms")
    for name, resources in sets.items():
        problems = sum(1 for r in resources if validate_structure(r))
        us = per_resource_us(validate_structure, resources, args.rounds)
        print(f"{name}: {len(resources)} resources, {problems} with issues")
        print(f"  after, validate_structure (one pass): {us:8.1f} us/resource")
        if args.before:
            rounds = max(1, args.rounds // 4)
            _pydantic(resources[0])
            us = per_resource_us(_two_passes, resources, rounds)
            print(f"  before, two passes:                   {us:8.1f} us/resource")
            us = per_resource_us(_pydantic, resources, rounds)
            print(f"    of which fhir.resources models:     {us:8.1f} us/resource")


if __name__ == "__main__":
    main()
