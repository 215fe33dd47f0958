"""Write ``profiles/r4b/summary-elements.json``: the top-level elements of every R4B
resource type, which of them are in the summary and which are mandatory.

Why: ``_summary=true`` returns "the elements marked as summary in the base definition
of the resource", ``_summary=text`` the text, id, meta and the top-level mandatory
elements, and ``_elements`` names top-level elements
(https://hl7.org/fhir/R4B/search.html#summary, #elements). ``elements.json`` keeps no
``isSummary`` flag, so this small table is extracted from the snapshots of
``profiles-resources.json`` (FHIR R4B 4.3.0, CC0-1.0; see
``/work/shared/reference/README.md``).

Output format::

    {"Patient": {"elements": {"identifier": ["identifier"], "deceased":
                              ["deceasedBoolean", "deceasedDateTime"], ...},
                 "summary": ["id", "meta", "implicitRules", "identifier", ...],
                 "mandatory": [...]}, ...}

``elements`` maps each top-level element's base name (a choice ``deceased[x]`` is
``deceased``) to its JSON property names; ``summary`` and ``mandatory`` list base names
(``isSummary`` true; ``min`` >= 1). Usage::

    python scripts/build_r4b_summary.py [profiles-resources.json] [out.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "reference" / "fhir-r4b" / "profiles-resources.json"
OUT = ROOT / "profiles" / "r4b" / "summary-elements.json"


def _json_names(name: str, element: dict) -> list[str]:
    if not name.endswith("[x]"):
        return [name]
    base = name[:-3]
    return [base + t["code"][0].upper() + t["code"][1:] for t in element.get("type", [])]


def build(bundle: dict) -> dict:
    out = {}
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource" \
                or sd.get("derivation") != "specialization" or sd.get("abstract"):
            continue
        type, elements, summary, mandatory = sd["type"], {}, [], []
        for element in sd["snapshot"]["element"]:
            path = element["path"].split(".")
            if len(path) != 2:
                continue
            name = path[1]
            base = name[:-3] if name.endswith("[x]") else name
            elements[base] = _json_names(name, element)
            if element.get("isSummary"):
                summary.append(base)
            if element.get("min", 0) >= 1:
                mandatory.append(base)
        out[type] = {"elements": elements, "summary": summary, "mandatory": mandatory}
    return dict(sorted(out.items()))


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else SOURCE
    out = Path(argv[1]) if len(argv) > 1 else OUT
    data = build(json.loads(source.read_text("utf-8")))
    out.write_text(json.dumps(data, separators=(",", ":"), sort_keys=True) + "\n", "utf-8")
    print(f"{out}: {len(data)} resource types")


if __name__ == "__main__":
    main(sys.argv[1:])
