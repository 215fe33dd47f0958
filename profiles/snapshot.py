"""Snapshot generation: a profile's full element list from its differential and its base.

A StructureDefinition that constrains another (``derivation: constraint``) is authored
as a differential — only what it changes — and published with a snapshot: every
element of the base, with the differential's constraints applied, slices inserted where
they belong, and complex datatypes "unfolded" into their child elements wherever the
differential constrains a child (https://hl7.org/fhir/R4B/profiling.html#snapshot).
Validators and tools read the snapshot; we generate ours with this module from the R4B
base definitions, so the published IG carries both.

The rules implemented, in the order the differential lists its elements:

- an element whose ``id`` exists in the working list takes the differential's values
  (``constraint`` is added to, every other key replaces);
- a slice (``path:name``) is a copy of the sliced element, named, inserted after the
  sliced element's subtree and any earlier slices;
- a child of an element not yet unfolded unfolds it: the element's type (its profile
  if it has one, else the base datatype; ``contentReference`` the referenced element)
  gives the children, re-rooted under the element's id and path;
- a choice renamed to one type (``value[x]`` constrained as ``valueQuantity``) applies
  to the choice element itself, narrowed to that type.

``resolve(url)`` finds any StructureDefinition (base resources, datatypes, other
profiles) by canonical URL; a ``resolver`` over the R4B bundles is provided.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

Resolver = Callable[[str], dict | None]

FHIR = "http://hl7.org/fhir/StructureDefinition/"


class SnapshotError(ValueError):
    """The differential names an element the base cannot hold."""


def resolver(*bundles: Path, extra: list[dict] | None = None) -> Resolver:
    """A resolver over StructureDefinition bundles (``profiles-resources.json``,
    ``profiles-types.json``) and loose definitions (``extra``)."""
    by_url: dict[str, dict] = {}
    for path in bundles:
        for entry in json.loads(Path(path).read_text("utf-8")).get("entry", []):
            resource = entry.get("resource", {})
            if resource.get("resourceType") == "StructureDefinition":
                by_url[resource["url"]] = resource
    for resource in extra or []:
        by_url[resource["url"]] = resource
    return lambda url: by_url.get(url.split("|")[0])


def generate(profile: dict, resolve: Resolver) -> list[dict]:
    """The snapshot elements of ``profile`` (its differential applied to its base's
    snapshot, which is generated first if the base is a profile without one)."""
    base = resolve(profile["baseDefinition"])
    if base is None:
        raise SnapshotError(f"unknown base definition {profile['baseDefinition']}")
    if "snapshot" in base:
        elements = copy.deepcopy(base["snapshot"]["element"])
    else:
        elements = generate(base, resolve)
    work = _Snapshot(elements, resolve)
    for diff in profile.get("differential", {}).get("element", []):
        work.apply(diff)
    return work.elements


def with_snapshot(profile: dict, resolve: Resolver) -> dict:
    """A copy of ``profile`` carrying its generated snapshot."""
    out = copy.deepcopy(profile)
    out["snapshot"] = {"element": generate(profile, resolve)}
    return out


class _Snapshot:
    def __init__(self, elements: list[dict], resolve: Resolver):
        self.elements = elements
        self.resolve = resolve
        for element in elements:
            element.setdefault("id", element["path"])

    def _index(self, id: str) -> int | None:
        for i, element in enumerate(self.elements):
            if element["id"] == id:
                return i
        return None

    def apply(self, diff: dict) -> None:
        id = diff.get("id") or diff["path"]
        i = self._find(id)
        target = self.elements[i]
        for key, value in diff.items():
            if key in ("id", "path"):
                continue
            if key == "constraint":
                known = {c.get("key") for c in target.get("constraint", [])}
                target.setdefault("constraint", []).extend(
                    copy.deepcopy(c) for c in value if c.get("key") not in known)
            else:
                target[key] = copy.deepcopy(value)

    def _find(self, id: str) -> int:
        """The index of element ``id``, creating it (a slice, unfolded children, a
        renamed choice) when the base does not list it yet."""
        found = self._index(id)
        if found is not None:
            return found
        parent_id, _, last = id.rpartition(".")
        name, _, slice_name = last.partition(":")
        if slice_name:
            sliced_id = f"{parent_id}.{name}" if parent_id else name
            at = self._slice(sliced_id, slice_name)
            if name.endswith("[x]") and slice_name.startswith(name[:-3]):
                # a type slice of a choice (``value[x]:valueCoding``) holds that type
                self._choice(parent_id, slice_name, at)
            return at
        if not parent_id:
            raise SnapshotError(f"element {id} is not in the base")
        parent = self._find(parent_id)
        if self._index(id) is None:
            self._unfold(parent)
        found = self._index(id)
        if found is not None:
            return found
        for i, element in enumerate(self.elements):  # ``valueQuantity`` for value[x]
            choice = element["id"]
            if choice.startswith(parent_id + ".") and choice.endswith("[x]") \
                    and "." not in choice[len(parent_id) + 1:] \
                    and name.startswith(choice[len(parent_id) + 1:-3]):
                narrowed = self._choice(parent_id, name, i)
                if narrowed is not None:
                    return narrowed
        raise SnapshotError(f"element {id} is not in the base")

    def _subtree_end(self, i: int) -> int:
        """The index after element ``i``'s children and slices."""
        id = self.elements[i]["id"]
        j = i + 1
        while j < len(self.elements):
            other = self.elements[j]["id"]
            if not (other.startswith(id + ".") or other.startswith(id + ":")):
                break
            j += 1
        return j

    def _slice(self, sliced_id: str, slice_name: str) -> int:
        sliced = self._find(sliced_id)
        element = copy.deepcopy(self.elements[sliced])
        element.pop("slicing", None)
        element["id"] = f"{sliced_id}:{slice_name}"
        element["sliceName"] = slice_name
        at = self._subtree_end(sliced)
        self.elements.insert(at, element)
        return at

    def _unfold(self, i: int) -> None:
        """Insert element ``i``'s children, from its type or its content reference."""
        element = self.elements[i]
        prefix = element["id"] + "."
        if any(e["id"].startswith(prefix) for e in self.elements[i + 1:self._subtree_end(i)]):
            return  # already has children
        children = self._children_of(element)
        if not children:
            return
        root = children[0]["path"]
        rooted = []
        for child in children[1:]:
            child = copy.deepcopy(child)
            suffix = child["path"][len(root):]
            child["path"] = element["path"] + suffix
            child_id = child.get("id", child["path"])
            child["id"] = element["id"] + child_id[len(root):] if child_id.startswith(root) \
                else element["id"] + suffix
            rooted.append(child)
        self.elements[i + 1:i + 1] = rooted

    def _children_of(self, element: dict) -> list[dict]:
        """The element followed by its children, as some definition lists them."""
        if ":" in element["id"] and element.get("type", [{}])[0].get("code") in (
                "BackboneElement", "Element"):
            # a slice of a backbone element: the children the unsliced element has
            return self._unsliced_subtree(
                ".".join(part.split(":")[0] for part in element["id"].split(".")))
        reference = element.get("contentReference")
        if reference:  # the base's definition of the element it names (not this
            return self._base_subtree(reference.split("#", 1)[1])  # profile's constraints)
        types = element.get("type", [])
        if len(types) != 1:
            return []
        kind = types[0]
        url = (kind.get("profile") or [None])[0] or FHIR + kind["code"]
        definition = self.resolve(url)
        if definition is None:
            raise SnapshotError(f"unknown type definition {url}")
        if "snapshot" in definition:
            return copy.deepcopy(definition["snapshot"]["element"])
        return generate(definition, self.resolve)

    def _base_subtree(self, id: str) -> list[dict]:
        """Element ``id`` and its children as the base specification defines them."""
        definition = self.resolve(FHIR + id.split(".", 1)[0])
        if definition is None or "snapshot" not in definition:
            raise SnapshotError(f"content reference #{id}: no base definition")
        return [copy.deepcopy(e) for e in definition["snapshot"]["element"]
                if e["path"] == id or e["path"].startswith(id + ".")]

    def _unsliced_subtree(self, id: str) -> list[dict]:
        """Element ``id`` and its children in the working list, without slices (those
        belong to where this profile made them, not to copies)."""
        start = self._index(id)
        if start is None:
            raise SnapshotError(f"element {id} not found")
        return [copy.deepcopy(e) for e in self.elements[start:self._subtree_end(start)]
                if ":" not in e["id"][len(id):]]

    def _choice(self, parent_id: str, name: str, i: int) -> int | None:
        """Element ``i``, a choice such as ``value[x]``, narrowed to the one type that
        ``name`` (``valueQuantity``) names; None if it allows no such type."""
        element = self.elements[i]
        path = element["path"]
        stem = path.rsplit(".", 1)[-1][:-3]
        wanted = name[len(stem):]
        types = [t for t in element.get("type", [])
                 if t["code"][:1].upper() + t["code"][1:] == wanted]
        if not types:
            return None
        element["type"] = types
        return i
