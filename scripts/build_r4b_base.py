"""Write ``profiles/r4b/base-elements.json``: what the profile validator needs to know of
the base spec's elements, so that it checks only what a profile adds to them.

Why: a profile's snapshot repeats its base's bindings, reference targets and choice types;
the base's own are the structure validator's job (``profiles/_structure.py``), and
checking them again per write would double the cost. The validator compares each profile
element with its base element (``profiles/validator.py``, ``_Node.against``); this table
keeps, for every element of every R4B resource and datatype that has one, its choice
types, its binding and its reference targets, in ElementDefinition shape. Extracted from
the snapshots of ``profiles-resources.json`` and ``profiles-types.json`` (FHIR R4B
4.3.0, CC0-1.0; see ``/work/shared/reference/README.md``).

Output format::

    {"Patient.deceased[x]": {"type": [{"code": "boolean"}, {"code": "dateTime"}]},
     "Patient.gender": {"binding": {"strength": "required", "valueSet": "..."}},
     "Patient.generalPractitioner": {"type": [{"code": "Reference", "targetProfile":
                                     [...]}]}, ...}

Usage::

    python scripts/build_r4b_base.py [fhir-r4b directory] [out.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "reference" / "fhir-r4b"
DEFAULT_OUT = ROOT / "profiles" / "r4b" / "base-elements.json"


def base_elements(source: Path) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for name in ("profiles-types.json", "profiles-resources.json"):
        bundle = json.loads((source / name).read_text("utf-8"))
        for entry in bundle["entry"]:
            definition = entry["resource"]
            if definition.get("resourceType") != "StructureDefinition" \
                    or definition.get("derivation") == "constraint":
                continue
            for element in definition.get("snapshot", {}).get("element", []):
                kept: dict = {}
                types = element.get("type", [])
                if element["path"].endswith("[x]"):
                    kept["type"] = [{k: v for k, v in t.items()
                                     if k in ("code", "targetProfile")} for t in types]
                targets = [{"code": "Reference", "targetProfile": t["targetProfile"]}
                           for t in types if t.get("targetProfile")]
                if targets and "type" not in kept:
                    kept["type"] = targets
                binding = element.get("binding", {})
                if binding.get("valueSet"):
                    kept["binding"] = {"strength": binding["strength"],
                                       "valueSet": binding["valueSet"]}
                if kept:
                    out[element["path"]] = kept
    return out


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SOURCE
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_OUT
    data = base_elements(source)
    out.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":"),
                              sort_keys=True) + "\n", "utf-8")
    print(f"{len(data)} elements -> {out}")


if __name__ == "__main__":
    main()
