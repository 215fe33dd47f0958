"""Write ``profiles/r4b/elements.json``: the R4B element definitions the structure validator walks.

Why: every written resource is checked against the base R4B StructureDefinitions. The
official snapshots are large (profiles-resources.json is 13 MB, mostly narrative and
descriptions); the validator needs, per element, only its type, cardinality and a few
flags, and per primitive type its JSON type and regex. The same table is the base the
implementation guide's profiles constrain (same element paths as ElementDefinition.path).

Sources (FHIR R4B 4.3.0, CC0-1.0; see ``/work/shared/reference/README.md`` and
``provenance.csv`` there): ``profiles-resources.json`` (resource StructureDefinitions) and
``profiles-types.json`` (datatype StructureDefinitions) of ``hl7.fhir.r4b.core`` 4.3.0.

Output format::

    {"fhirVersion": "4.3.0",
     "primitives": {"date": {"base": "Element", "json": "string", "regex": "..."},
                    "positiveInt": {"base": "integer", "json": "number", "regex": "[1-9][0-9]*",
                                    "minValue": -2147483648, "maxValue": 2147483647}, ...},
     "structures": {"Patient": {"kind": "resource", "base": "DomainResource",
                                "elements": {"Patient.name": {"type": "HumanName", "max": "*"},
                                             ...}}, ...}}

- ``primitives``: every primitive type. ``json`` is its JSON type (boolean, number,
  string; FHIR JSON section 2.6.2), ``regex`` the ``http://hl7.org/fhir/StructureDefinition/regex``
  extension on the type of its ``value`` element (a whole-value match, Java syntax),
  ``minValue``/``maxValue``/``maxLength`` from the same element; a type without its own
  (positiveInt has no bounds) inherits them from its base primitive.
- ``structures``: every resource and complex datatype (specializations, abstract ones
  included: Resource, DomainResource, Element, BackboneElement). ``kind`` is
  ``resource`` or ``complex-type``; ``abstract`` appears when true.
- ``elements`` of a structure, keyed by ElementDefinition.path, each with only what
  differs from the defaults ``min`` 0 and ``max`` "1":

  - ``type``: one type code (FHIRPath system types given their FHIR type: ``Resource.id``
    is ``id``). One correction: the id of an element (``Element.id`` and every element
    deriving it) is ``string``: its snapshot says ``id``, but its definition ("any string
    value that does not contain spaces"), the spec's ``fhir.schema.json`` and the reference
    validator all take a string (``StructureDefinition`` element ids such as
    ``Patient.name:official`` are no ``id``);
  - ``choice``: for ``x[x]`` elements, JSON name -> type code
    (``{"valueQuantity": "Quantity", "valueString": "string", ...}``);
  - ``contentReference``: the element whose definition this one reuses
    (``"#Questionnaire.item"``); its children are that element's children;
  - ``noExtensions``: true for elements typed with a FHIRPath system type (``Resource.id``,
    ``Element.id``, ``Extension.url``): they carry no id or extensions, so JSON gives them
    no ``_x`` sibling (as the spec's ``fhir.schema.json`` has no ``_id``).

  The ``id``, ``extension`` and ``modifierExtension`` of inline (backbone) elements are
  left out: they are those of the element's type (``BackboneElement`` or ``Element``),
  whose structures are in the file.

Usage: ``python scripts/build_r4b_elements.py [--reference DIR] [--out FILE]``
(defaults ``/work/shared/reference/fhir-r4b`` and ``profiles/r4b/elements.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_REFERENCE = Path("/work/shared/reference/fhir-r4b")
OUT = Path(__file__).resolve().parent.parent / "profiles" / "r4b" / "elements.json"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
SYSTEM = "http://hl7.org/fhirpath/System."
JSON_TYPES = {"Boolean": "boolean", "Integer": "number", "Decimal": "number"}
INHERITED_CHILDREN = ("id", "extension", "modifierExtension")


def _structures(bundle_path: Path) -> list[dict]:
    bundle = json.loads(bundle_path.read_text(encoding="utf-8"))
    return [entry["resource"] for entry in bundle["entry"]]


def _base_name(sd: dict) -> str | None:
    base = sd.get("baseDefinition")
    return base.rsplit("/", 1)[-1] if base else None


def _type_code(type_: dict) -> str:
    code = type_["code"]
    if code.startswith(SYSTEM):
        fhir = [e["valueUrl"] for e in type_.get("extension", []) if e["url"] == FHIR_TYPE_EXT]
        return fhir[0] if fhir else code[len(SYSTEM):].lower()
    return code


def primitives(structures: list[dict]) -> dict[str, dict]:
    """Primitive type -> JSON type, regex and bounds (inherited along ``base``)."""
    by_name = {sd["type"]: sd for sd in structures if sd.get("kind") == "primitive-type"}
    own: dict[str, dict] = {}
    for name, sd in by_name.items():
        value = next(e for e in sd["snapshot"]["element"] if e["path"] == f"{name}.value")
        entry: dict = {"base": _base_name(sd)}
        system = [t["code"][len(SYSTEM):] for t in value.get("type", [])
                  if t["code"].startswith(SYSTEM)]
        entry["system"] = system[0] if system else "String"
        regex = [e["valueString"] for t in value.get("type", [])
                 for e in t.get("extension", []) if e["url"] == REGEX_EXT]
        if regex:
            entry["regex"] = regex[0]
        for key in ("minValueInteger", "maxValueInteger"):
            if key in value:
                entry[key.replace("Integer", "")] = value[key]
        if "maxLength" in value:
            entry["maxLength"] = value["maxLength"]
        own[name] = entry
    out = {}
    for name in sorted(own):
        chain, current = [], name
        while current in own:
            chain.append(own[current])
            current = own[current]["base"]
        root = chain[-1]  # the primitive derived from Element: its system type decides
        entry = {"base": own[name]["base"], "json": JSON_TYPES.get(root["system"], "string")}
        for key in ("regex", "minValue", "maxValue", "maxLength"):
            found = next((c[key] for c in chain if key in c), None)
            if found is not None:
                entry[key] = found
        out[name] = entry
    return out


def _inline_paths(sd: dict) -> set[str]:
    return {e["path"] for e in sd["snapshot"]["element"]
            if [t["code"] for t in e.get("type", [])] in (["BackboneElement"], ["Element"])}


def _element(element: dict) -> dict:
    entry: dict = {}
    if "contentReference" in element:
        entry["contentReference"] = element["contentReference"]
    else:
        codes = list(dict.fromkeys(_type_code(t) for t in element.get("type", [])))
        if element["path"].endswith("[x]"):
            stem = element["path"].rsplit(".", 1)[-1][:-3]
            entry["choice"] = {stem + c[0].upper() + c[1:]: c for c in codes}
        elif element.get("base", {}).get("path") == "Element.id":
            entry["type"] = "string"  # see the module docstring
        else:
            (entry["type"],) = codes
    if element["min"] != 0:
        entry["min"] = element["min"]
    if element["max"] != "1":
        entry["max"] = element["max"]
    if any(t["code"].startswith(SYSTEM) for t in element.get("type", [])):
        entry["noExtensions"] = True
    return entry


def structures(all_structures: list[dict]) -> dict[str, dict]:
    """Resource and complex datatype name -> kind, base and element table."""
    out = {}
    for sd in all_structures:
        if sd.get("kind") not in ("resource", "complex-type"):
            continue
        if sd.get("derivation") == "constraint":
            continue  # SimpleQuantity, MoneyQuantity: profiles, not types of their own
        name = sd["type"]
        entry: dict = {"kind": sd["kind"]}
        if _base_name(sd):
            entry["base"] = _base_name(sd)
        if sd.get("abstract"):
            entry["abstract"] = True
        inline = _inline_paths(sd)
        elements = {}
        for element in sd["snapshot"]["element"]:
            path = element["path"]
            if path == name:
                continue
            parent, leaf = path.rsplit(".", 1)
            if parent in inline and leaf in INHERITED_CHILDREN:
                continue
            elements[path] = _element(element)
        entry["elements"] = elements
        out[name] = entry
    return dict(sorted(out.items()))


def build(reference: Path) -> dict:
    """The whole ``elements.json`` document from the R4B definitions in ``reference``."""
    all_structures = _structures(reference / "profiles-resources.json")
    all_structures += _structures(reference / "profiles-types.json")
    return {"fhirVersion": "4.3.0", "primitives": primitives(all_structures),
            "structures": structures(all_structures)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    document = build(args.reference)
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    args.out.write_text(text + "\n", encoding="utf-8")
    count = sum(len(s["elements"]) for s in document["structures"].values())
    print(f"wrote {len(document['structures'])} structures, {count} elements, "
          f"{len(document['primitives'])} primitives to {args.out} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
