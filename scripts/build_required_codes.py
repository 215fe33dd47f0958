"""Write ``profiles/r4b/required-codes.json``: element path -> codes its required binding allows.

Source (read-only, from the project's shared reference data):
  ../shared/reference/fhir-r4b/required-bindings-index.json   (required binding -> paths)
  ../shared/reference/fhir-r4b/valueset-expansions-required.json  (official expansions)
Only elements of type ``code`` in resources and datatypes are kept (a ``code`` carries no
system, so the expansion alone decides); ``Extension.*`` paths are skipped because they
mix the bindings of many extension definitions. Value sets without an official
expansion are left out (the implementation-guide issue validates those through the
terminology service).

Usage: python scripts/build_required_codes.py [REFERENCE_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(reference: Path) -> None:
    index = json.loads((reference / "required-bindings-index.json").read_text("utf-8"))
    expansions = json.loads(
        (reference / "valueset-expansions-required.json").read_text("utf-8"))
    types = json.loads((ROOT / "profiles/r4b/element-types.json").read_text("utf-8"))
    codes_by_vs: dict[str, list[str]] = {}
    for entry in expansions["entry"]:
        vs = entry["resource"]
        codes = sorted({c["code"] for c in _contains(vs.get("expansion", {}).get("contains", []))})
        codes_by_vs[vs["url"]] = codes
    out: dict[str, list[str]] = {}
    for binding in index["bindings"]:
        codes = codes_by_vs.get(binding["valueSet"].split("|")[0])
        if not codes:
            continue
        for path in binding["paths"]:
            if path.startswith("Extension.") or types.get(path) != ["code"]:
                continue
            out[path] = codes
    target = ROOT / "profiles/r4b/required-codes.json"
    target.write_text(json.dumps(out, sort_keys=True, separators=(",", ":")) + "\n", "utf-8")
    print(f"{len(out)} code elements with required bindings -> {target}")


def _contains(items: list[dict]):
    for item in items:
        if "code" in item and not item.get("abstract"):
            yield item
        yield from _contains(item.get("contains", []))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared/reference/fhir-r4b")
