"""Write the snapshot of every StructureDefinition in ``profiles/ig/``, and vendor the
external definitions they use, so that the IG needs nothing outside the package.

Each ``profiles/ig/StructureDefinition-*.json`` is authored as a differential; this script
generates its snapshot with ``profiles.snapshot`` and writes it back into the same file
(differential untouched). The external extension definitions our profiles name in
``type.profile`` (CL Core, MINSAL MPI, FHIR core extensions) are copied into
``profiles/ig/external/`` with ``sources.json`` (url, file, source path, mode, SHA-256 of
the source file).

Source (read-only, from the project's shared reference data, ``../shared`` or
``$AMPARO_SHARED``):
  reference/fhir-r4b/profiles-resources.json, profiles-types.json   (R4B base definitions)
  reference/fhir-r4b/extension-definitions.json                      (R4B core extensions)
  reference/chile/clcore-1.8.7/StructureDefinition-*.json            (CL Core 1.8.7)
  reference/chile/minsal/nid-mpi-0.1.3/StructureDefinition-*.json    (MINSAL MPI 0.1.3)

Usage: python scripts/build_ig.py [--check] [SHARED_DIR]
``--check`` writes nothing and exits 1 when a file is not what the build would write.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiles.snapshot import Resolver, resolver, with_snapshot  # noqa: E402

IG = ROOT / "profiles" / "ig"
EXTERNAL = IG / "external"
DEFAULT_SHARED = Path(os.environ.get("AMPARO_SHARED") or ROOT.parent / "shared")
_R4B = Path("reference/fhir-r4b")
_LOOSE = (Path("reference/chile/clcore-1.8.7"), Path("reference/chile/minsal/nid-mpi-0.1.3"))


def dumps(resource: dict) -> str:
    """The JSON text every IG file is written with (2-space indent, UTF-8 kept)."""
    return json.dumps(resource, ensure_ascii=False, indent=2) + "\n"


def own_definitions() -> dict[Path, dict]:
    """Our StructureDefinitions by file, as committed."""
    return {path: json.loads(path.read_text("utf-8"))
            for path in sorted(IG.glob("StructureDefinition-*.json"))}


def _differential_only(definition: dict) -> dict:
    return {k: v for k, v in definition.items() if k != "snapshot"}


_Source = tuple[dict, str, str, bytes | None]


def _external_sources(shared: Path) -> dict[str, _Source]:
    """url -> (definition, source path, SHA-256 of the source file, the file's bytes when
    the definition is a file of its own rather than an entry of a bundle)."""
    found: dict[str, _Source] = {}
    bundle = shared / _R4B / "extension-definitions.json"
    raw = bundle.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    for entry in json.loads(raw)["entry"]:
        resource = entry["resource"]
        found[resource["url"]] = (resource, f"{_R4B}/extension-definitions.json", digest, None)
    for folder in _LOOSE:
        for path in sorted((shared / folder).glob("StructureDefinition-*.json")):
            raw = path.read_bytes()
            found[json.loads(raw)["url"]] = (json.loads(raw), str(folder / path.name),
                                             hashlib.sha256(raw).hexdigest(), raw)
    return found


def snapshot_resolver(shared: Path, own: list[dict] | None = None) -> Resolver:
    """A resolver over the R4B base, the external definitions and our own definitions
    (differentials; their snapshots are generated on demand)."""
    own = own if own is not None else [_differential_only(d) for d in own_definitions().values()]
    external = [source[0] for source in _external_sources(shared).values()]
    return resolver(shared / _R4B / "profiles-resources.json",
                    shared / _R4B / "profiles-types.json", extra=[*external, *own])


def referenced_profiles(definition: dict) -> set[str]:
    """Canonical URLs the differential names as a type's profile (extensions, datatypes)."""
    return {url.split("|")[0]
            for element in definition.get("differential", {}).get("element", [])
            for kind in element.get("type", []) for url in kind.get("profile", [])}


def build(shared: Path) -> dict[Path, str]:
    """Every file the IG build writes, with its text: our definitions with their snapshot,
    the vendored external definitions and ``external/sources.json``."""
    own = {path: _differential_only(d) for path, d in own_definitions().items()}
    resolve = snapshot_resolver(shared, list(own.values()))
    out = {path: dumps(with_snapshot(definition, resolve)) for path, definition in own.items()}
    ours = {d["url"] for d in own.values()}
    wanted = set().union(*(referenced_profiles(d) for d in own.values())) - ours
    sources = _external_sources(shared)
    missing = sorted(wanted - set(sources))
    if missing:
        raise SystemExit(f"unknown external definitions: {', '.join(missing)}")
    listed = []
    for url in sorted(wanted):
        definition, source, digest, raw = sources[url]
        target = EXTERNAL / f"StructureDefinition-{definition['id']}.json"
        # a file of its own is copied byte for byte; a bundle entry is written out alone
        out[target] = raw.decode("utf-8") if raw is not None else dumps(definition)
        listed.append({"url": url, "file": target.name, "source": source,
                       "mode": "verbatim" if raw is not None else "bundle entry",
                       "source_sha256": digest})
    out[EXTERNAL / "sources.json"] = dumps(listed)  # type: ignore[arg-type]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--check", action="store_true", help="report stale files, write none")
    args = parser.parse_args(argv)
    files = build(args.shared)
    stale = [path for path, text in files.items()
             if not path.exists() or path.read_text("utf-8") != text]
    unused = [path for path in sorted(EXTERNAL.glob("StructureDefinition-*.json"))
              if path not in files]
    if args.check:
        for path in stale + unused:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale or unused else 0
    for path in unused:  # an external definition no profile uses any more
        path.unlink()
    EXTERNAL.mkdir(exist_ok=True)
    init = EXTERNAL / "__init__.py"
    if not init.exists():
        init.write_text('"""External definitions the IG uses (scripts/build_ig.py)."""\n')
    for path in stale:
        path.write_text(files[path], "utf-8")
    print(f"{len(files)} files, {len(stale)} written, {len(unused)} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
