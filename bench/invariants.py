"""Microseconds per evaluation of each IG invariant (``amp-*``), fhirpathpy against
``profiles.fhirpath`` (its compiled closures), on its profile's valid example.

Why: every write is validated against the profiles at >= 1,500 resources/s on 2 cores,
so an invariant must cost microseconds; fhirpathpy costs 0.2-4 ms each.

Usage: ``.venv/bin/python bench/invariants.py [--rounds N]``. Prints one row per
invariant (key, example, fhirpathpy us, fast us, speed-up, whether the fast path is used)
and the totals.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiles import fhirpath, ig  # noqa: E402


def _time(fn, resource, context, rounds: int) -> float:
    fn(resource, context)
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn(resource, context)
        best = min(best, (time.perf_counter() - start) / rounds)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    valid = {}
    by_url = {}
    for entry in ig.example_index():
        if entry["expected"] == "valid":
            valid.setdefault(entry["profile"].split("|")[0], entry["name"])
    for name, resource, _ in ig.examples():
        by_url[name] = resource
    rows = []
    for sd in ig.structure_definitions():
        example = valid.get(sd["url"])
        if example is None:
            continue
        resource = by_url[example]
        context = {"resource": resource}
        for element in sd.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                if not constraint.get("key", "").startswith("amp-"):
                    continue
                compiled = fhirpath.compile(constraint["expression"])
                fast = compiled.fast_for(resource, context) is not None
                if compiled(resource, context) != compiled.slow(resource, context):
                    raise SystemExit(f"{constraint['key']}: results differ")
                before = _time(compiled.slow, resource, context, max(args.rounds // 10, 5))
                after = _time(compiled, resource, context, args.rounds)
                rows.append((constraint["key"], example, before, after, fast))
    print(f"{'invariant':<11} {'example':<40} {'fhirpathpy us':>13} {'fast us':>8} "
          f"{'x':>6}  path")
    for key, example, before, after, fast in rows:
        print(f"{key:<11} {example[:40]:<40} {before:>13.1f} {after:>8.2f} "
              f"{before / after:>6.0f}  {'fast' if fast else 'fallback'}")
    total_before = sum(r[2] for r in rows)
    total_after = sum(r[3] for r in rows)
    print(f"{'total':<11} {len(rows):<40} {total_before:>13.1f} {total_after:>8.2f} "
          f"{total_before / total_after:>6.0f}")


if __name__ == "__main__":
    main()
