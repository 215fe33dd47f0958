"""Write the FHIR R4B data that ``profiles.r4b`` ships: the search parameters and element types.

Why: the search index is computed from the SearchParameter FHIRPath expressions, and the
fast expression compiler (``server/search/extract.py``) must know the FHIR type of every
element a path reaches. The official definitions are large (profiles-resources.json is
13 MB); the server needs a small derived table, vendored so that a clean checkout works
without the shared reference folder.

Sources (FHIR R4B 4.3.0, CC0-1.0; see ``/work/shared/reference/README.md`` and
``provenance.csv`` there for commits and checksums):

- ``search-parameters.json``: the spec's ``Bundle-searchParams.json`` of the
  ``hl7.fhir.r4b.examples`` 4.3.0 package (via google/kotlin-fhir
  ``third_party/hl7.fhir.r4b.examples/package/Bundle-searchParams.json``). Copied
  verbatim; its two known errata are corrected at load by ``server/search/definitions.py``.
- ``profiles-resources.json``: every resource StructureDefinition of ``hl7.fhir.r4b.core``
  4.3.0 (narrative removed by the reference curator), and ``profiles-types.json``: the
  datatype StructureDefinitions of the same package, verbatim.

Outputs, in ``profiles/r4b/``:

- ``search-parameters.json``: verbatim copy.
- ``element-types.json``: ``{element path: [type code, ...]}`` from the snapshots of every
  resource and complex datatype (specializations only). The root of each structure maps to
  its base type (``"Patient": ["DomainResource"]``, ``"Age": ["Quantity"]``). A choice
  element is listed as ``Observation.value[x]`` with all its types, and again once per type
  under its JSON name (``Observation.valueQuantity: ["Quantity"]``). A contentReference
  element lists the element it reuses, as FHIR writes it
  (``"Questionnaire.item.item": ["#Questionnaire.item"]``). FHIRPath system types
  (``Resource.id``) are given their FHIR type. ``extension``, ``modifierExtension`` and
  the ``id`` of elements below the root are left out: every element has them.

Usage: ``python scripts/build_r4b_data.py [--reference DIR] [--out DIR]``
(defaults ``/work/shared/reference/fhir-r4b`` and ``profiles/r4b``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

DEFAULT_REFERENCE = Path("/work/shared/reference/fhir-r4b")
OUT = Path(__file__).resolve().parent.parent / "profiles" / "r4b"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SKIPPED_LEAVES = ("extension", "modifierExtension")


def _structures(bundle_path: Path) -> list[dict]:
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def _wanted(sd: dict) -> bool:
    if sd.get("kind") == "resource":
        return True
    return sd.get("kind") == "complex-type" and sd.get("derivation") in ("specialization", None)


def _type_codes(element: dict) -> list[str]:
    codes = []
    for t in element.get("type", []):
        code = t["code"]
        if code.startswith("http://hl7.org/fhirpath/System."):
            fhir = [e["valueUrl"] for e in t.get("extension", []) if e["url"] == FHIR_TYPE_EXT]
            code = fhir[0] if fhir else code.rsplit(".", 1)[-1].lower()
        if code not in codes:
            codes.append(code)
    return codes


def element_types(structures: list[dict]) -> dict[str, list[str]]:
    """Map every element path of the given structures to its type codes."""
    table: dict[str, list[str]] = {}
    for sd in structures:
        if not _wanted(sd):
            continue
        name = sd["type"]
        base = sd.get("baseDefinition", "").rsplit("/", 1)[-1]
        table[name] = [base] if base else []
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if path == name:
                continue
            leaf = path.rsplit(".", 1)[-1]
            if leaf in SKIPPED_LEAVES or (leaf == "id" and path.count(".") > 1):
                continue
            if leaf == "id" and sd.get("kind") != "resource":
                continue
            if "contentReference" in element:
                table[path] = [element["contentReference"]]
                continue
            codes = _type_codes(element)
            table[path] = codes
            if path.endswith("[x]"):
                stem = path[:-3]
                for code in codes:
                    table[stem + code[0].upper() + code[1:]] = [code]
    return dict(sorted(table.items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.reference / "search-parameters.json", out / "search-parameters.json")
    structures = _structures(args.reference / "profiles-resources.json")
    structures += _structures(args.reference / "profiles-types.json")
    table = element_types(structures)
    text = json.dumps(table, separators=(",", ":"), ensure_ascii=False)
    (out / "element-types.json").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(table)} element paths to {out / 'element-types.json'}")


if __name__ == "__main__":
    main()
