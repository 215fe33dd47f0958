"""Profile validation: does a resource conform to a profile (a StructureDefinition with a
snapshot, ``profiles/snapshot.py``)? Base R4B structure is ``_structure.py``'s job; this
walks the profile's element tree beside the instance and reports every problem at once,
each as a ``ValidationIssue`` with a FHIRPath expression to the element:

- cardinality (``min``/``max``) of every element whose parent is present;
- ``fixed[x]`` (exactly equal) and ``pattern[x]`` (the value contains the pattern);
- bindings: a code outside a ``required`` value set is an error, outside an
  ``extensible`` one a warning (membership comes from the ``member`` function given,
  the terminology's; an unknown value set is not judged);
- the profile's invariants (``constraint`` entries not inherited from the base spec),
  evaluated with fhirpathpy on the element, at their own severity;
- slicing: values are sorted into slices by the discriminators (``value``/``pattern``
  on a path, ``type``, extensions by ``url``), each slice's cardinality is checked, a
  ``closed`` slicing refuses values no slice takes, and each value is validated
  against its slice's constraints;
- extensions used through a slice with a profile are validated against that extension's
  definition (its ``value[x]`` type, cardinality and binding, and its context);
- Reference targets: a reference's type must be one the element's ``targetProfile``
  allows.

Messages never echo resource values (privacy); element names and codes of the profile
are echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fhirpathpy.models import models

from profiles import fhirpath
from profiles._issues import ValidationIssue
from profiles.r4b import base_elements

#: (value set URL, system, code) -> member, not a member, or unknown (None).
Member = Callable[[str, str | None, str], bool | None]
Resolver = Callable[[str], dict | None]

BASE = "http://hl7.org/fhir/StructureDefinition/"


@dataclass(eq=False)
class _Node:
    """One element of the profile, with what the walk needs of it worked out once:
    children and slices by name, and only the children that carry a rule (``active``):
    elements the profile leaves as the base has them are not walked."""

    id: str
    element: dict
    children: dict[str, _Node] = field(default_factory=dict)
    slices: dict[str, _Node] = field(default_factory=dict)
    active: list[_Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        element = self.element
        self.name = self.id.rsplit(".", 1)[-1].split(":")[0]
        self.choice = self.name.endswith("[x]")
        self.narrowed = self.choice  # until ``against`` finds the base's types
        self.types = tuple(t.get("code") for t in element.get("type", []))
        self.low = element.get("min", 0)
        high = element.get("max", "*")
        self.high = None if high == "*" else int(high)
        self.array = element.get("base", {}).get("max", high) != "1"
        self.values = [(key.startswith("fixed"), value) for key, value in element.items()
                       if key.startswith(("fixed", "pattern"))]
        self.binding = _binding_of(element)
        self.constraints = [(c, _compiled(c["expression"]))
                            for c in element.get("constraint", [])
                            if "expression" in c and not c.get("source", "").startswith(BASE)]
        self.targets = [p for t in element.get("type", []) if t.get("code") == "Reference"
                        for p in t.get("targetProfile", [])]
        self.extensions = [t["profile"][0] for t in element.get("type", [])
                           if t.get("code") == "Extension" and t.get("profile")]
        base = element.get("base", {})
        tighter = self.low > base.get("min", 0) or (self.high is not None and (
            base.get("max", "*") == "*" or self.high < int(base["max"])))
        self.tighter = tighter or ":" in self.id.rsplit(".", 1)[-1] \
            or (element.get("slicing") or {}).get("rules") == "closed"

    def against(self, base: dict | None) -> None:
        """Keep only the rules the profile adds to its base element (``base``, from the
        base definition; the structure validator checks the base's own): narrowed
        choice types, a changed binding, narrowed reference targets."""
        if base is not None:
            if set(self.types) == {t.get("code") for t in base.get("type", [])}:
                self.narrowed = False
            if self.binding and self.binding == _binding_of(base):
                self.binding = None
            if set(self.targets) == {p for t in base.get("type", [])
                                     for p in t.get("targetProfile", [])}:
                self.targets = []
        if BASE + "Resource" in self.targets:
            self.targets = []
        self.own_rules = bool(self.values or self.binding or self.constraints or self.tighter
                              or self.extensions or self.targets or self.narrowed)

    def settle(self) -> bool:
        """Work out ``active`` below this node; whether this node needs walking. (An
        element defined by reference, ``Consent.provision.provision``, has only the
        rules its own unfolded children carry: a profile's constraints on the element
        it names do not apply to it.)"""
        for node in self.slices.values():
            node.settle()
        self.active = [child for child in self.children.values() if child.settle()]
        return self.own_rules or bool(self.active) or bool(self.slices)


def _compiled(expression: str) -> Callable | None:
    """A FHIRPath expression compiled once, with the FHIR model (so ``value`` finds
    ``valueBoolean``); None when it does not compile (every use then fails)."""
    try:
        return fhirpath.compile(expression, models["r4"])
    except Exception:  # noqa: BLE001 - reported as a failing invariant
        return None


def _binding_of(element: dict) -> tuple[str, str] | None:
    binding = element.get("binding") or {}
    if binding.get("strength") in ("required", "extensible") and binding.get("valueSet"):
        return binding["strength"], binding["valueSet"].split("|")[0]
    return None


def _tree(elements: list[dict], base: Callable[[str], dict | None]
          ) -> tuple[_Node, dict[str, _Node]]:
    """The element tree; ``base(path)`` is the base definition's element of a path
    (``Identifier.use`` for an unfolded ``Patient.identifier.use``)."""
    nodes: dict[str, _Node] = {}
    root = None
    for element in elements:
        id = element.get("id") or element["path"]
        node = nodes[id] = _Node(id, element)
        node.against(base(element.get("base", {}).get("path") or element["path"]))
        parent_id, _, last = id.rpartition(".")
        name, _, slice_name = last.partition(":")
        if not parent_id:
            root = node
        elif slice_name:
            sliced = nodes.get(f"{parent_id}.{name}")
            if sliced is not None:
                sliced.slices[slice_name] = node
        elif parent_id in nodes:
            nodes[parent_id].children[name] = node
    if root is None:
        raise ValueError("a snapshot without a root element")
    root.settle()
    return root, nodes


class ProfileValidator:
    """Validates resources against one profile. Build once per profile (the element
    tree is kept), call ``validate`` per resource."""

    def __init__(self, profile: dict, resolve: Resolver, member: Member | None = None):
        if "snapshot" not in profile:
            raise ValueError(f"profile {profile.get('url')} has no snapshot")
        self.profile = profile
        self.type = profile["type"]
        self.resolve = resolve
        self.member = member
        self.root, self.nodes = _tree(profile["snapshot"]["element"], base_elements().get)
        self._extensions: dict[str, ProfileValidator | None] = {}

    def validate(self, resource: dict) -> list[ValidationIssue]:
        issues: list[ValidationIssue] = []
        self._value(self.root, resource, self.type, self.type, resource, issues)
        return issues

    # -- the walk --------------------------------------------------------------------

    def _value(self, node: _Node, value: Any, type: str | None, where: str,
               resource: dict, issues: list, extra: dict | None = None) -> None:
        """One value of ``node``'s element: its own rules, then its children (a
        primitive's children, its id and extensions, are in ``extra``)."""
        if node.values:
            self._fixed(node, value, where, issues)
        if node.binding:
            self._binding(node, value, where, issues)
        if node.targets:
            self._reference(node, value, type, where, issues)
        if node.constraints:
            self._invariants(node, value, where, resource, issues)
        holder = value if isinstance(value, dict) else extra
        if holder is not None:
            for child in node.active:
                self._child(child, holder, where, resource, issues)

    def _child(self, node: _Node, parent: dict, where: str, resource: dict,
               issues: list) -> None:
        values = _values(node, parent)
        element = node.element
        path = f"{where}.{node.name.removesuffix('[x]')}"
        _cardinality(node, len(values), path, issues)
        if node.narrowed:
            for i, (_, type, _) in enumerate(values):
                if type not in node.types:
                    issues.append(ValidationIssue(
                        "error", "structure", f"{node.name} of a type the profile does not "
                        f"allow (allowed: {', '.join(sorted(t for t in node.types if t))})",
                        _at(path, i, node)))
        slices = node.slices
        if not slices:
            for i, (value, type, extra) in enumerate(values):
                self._value(node, value, type, _at(path, i, node), resource, issues, extra)
            return
        taken: dict[str, list] = {name: [] for name in slices}
        for i, (value, type, extra) in enumerate(values):
            slice_name = self._slice_of(node, value, type)
            at = _at(path, i, node)
            if slice_name is None:
                if (element.get("slicing") or {}).get("rules") == "closed":
                    issues.append(ValidationIssue(
                        "error", "structure", f"{node.name} holds a value that none of the "
                        "profile's slices allows (the slicing is closed)", at))
                self._value(node, value, type, at, resource, issues, extra)
                continue
            taken[slice_name].append(value)
            self._sliced(slices[slice_name], node, value, type, at, resource, issues)
        for name, members in taken.items():
            _cardinality(slices[name], len(members), f"{path}:{name}", issues)

    def _sliced(self, slice_node: _Node, sliced: _Node, value: Any, type: str | None,
                where: str, resource: dict, issues: list) -> None:
        """A value in a slice: the slice's rules (its children, or the sliced element's
        when the slice lists none), and an extension's own definition."""
        if slice_node.children or not sliced.children:
            self._value(slice_node, value, type, where, resource, issues)
        else:  # the slice's own rules, the sliced element's children
            self._value(_Node(slice_node.id, slice_node.element, active=sliced.active),
                        value, type, where, resource, issues)
        for url in slice_node.extensions:
            if isinstance(value, dict):
                extension = self._extension(url)
                if extension is None:
                    continue
                extension._value(extension.root, value, "Extension", where, resource, issues)
                holder = self.nodes.get(sliced.id.rsplit(".", 1)[0])
                if holder is not None and not _in_context(extension.profile, holder):
                    issues.append(ValidationIssue(
                        "error", "structure", f"the extension {url} is not "
                        f"allowed on {holder.element['path']} (its context)", where))

    def _extension(self, url: str) -> ProfileValidator | None:
        if url not in self._extensions:
            definition = self.resolve(url)
            self._extensions[url] = ProfileValidator(definition, self.resolve, self.member) \
                if definition is not None and "snapshot" in definition else None
        return self._extensions[url]

    def _slice_of(self, node: _Node, value: Any, type: str | None) -> str | None:
        discriminators = (node.element.get("slicing") or {}).get("discriminator", [])
        for name, slice_node in node.slices.items():
            if discriminators and all(self._discriminated(d, slice_node, value, type)
                                      for d in discriminators):
                return name
        return None

    def _discriminated(self, discriminator: dict, slice_node: _Node, value: Any,
                       type: str | None) -> bool:
        kind, path = discriminator.get("type"), discriminator.get("path", "$this")
        if kind == "type":
            codes = {t.get("code") for t in slice_node.element.get("type", [])}
            return type in codes
        if kind in ("value", "pattern"):
            expected = _expected_at(slice_node, path)
            if expected is None:
                return False
            found = _walk(value, path)
            return any(matches_pattern(f, expected) for f in found) if kind == "pattern" \
                else any(f == expected for f in found)
        if kind == "exists":
            return bool(_walk(value, path))
        return False

    # -- rules -----------------------------------------------------------------------

    def _fixed(self, node: _Node, value: Any, where: str, issues: list) -> None:
        for fixed, expected in node.values:
            if fixed and value != expected:
                issues.append(ValidationIssue(
                    "error", "value", "the value must be exactly the one the profile "
                    "fixes", where))
            elif not fixed and not matches_pattern(value, expected):
                issues.append(ValidationIssue(
                    "error", "value", "the value must contain what the profile's pattern "
                    "requires", where))

    def _binding(self, node: _Node, value: Any, where: str, issues: list) -> None:
        strength, url = node.binding
        if self.member is None:
            return
        codings = _codings(value)
        if not codings:
            return
        verdicts = [self.member(url, system, code) for system, code in codings]
        if any(v is True for v in verdicts) or all(v is None for v in verdicts):
            return
        severity = "error" if strength == "required" else "warning"
        issues.append(ValidationIssue(
            severity, "code-invalid", f"the code is not in the value set {url} "
            f"({strength} binding)", where))

    def _reference(self, node: _Node, value: Any, type: str | None, where: str,
                   issues: list) -> None:
        if type != "Reference" or not isinstance(value, dict):
            return
        reference = value.get("reference")
        if not isinstance(reference, str) or reference.startswith(("#", "urn:")):
            return
        allowed = {self._type_of(p) for p in node.targets}
        if not allowed or "Resource" in allowed:
            return
        if "?" in reference:  # a conditional reference: Patient?identifier=...
            referred = reference.split("?", 1)[0].rsplit("/", 1)[-1]
        else:
            parts = reference.split("/")
            referred = parts[-4] if len(parts) >= 4 and parts[-2] == "_history" \
                else parts[-2] if len(parts) >= 2 else None
        if referred not in allowed:
            issues.append(ValidationIssue(
                "error", "structure", "the reference must point to a "
                f"{' or '.join(sorted(t for t in allowed if t))}", where))

    def _type_of(self, profile_url: str) -> str | None:
        if profile_url.startswith(BASE):
            return profile_url[len(BASE):]
        definition = self.resolve(profile_url)
        return definition.get("type") if definition else None

    def _invariants(self, node: _Node, value: Any, where: str, resource: dict,
                    issues: list) -> None:
        """The profile's own invariants (the base spec's are the structure validator's)."""
        for constraint, compiled in node.constraints:
            try:
                ok = compiled is not None and compiled(value, {"resource": resource}) == [True]
            except Exception:  # noqa: BLE001 - a failing expression is the profile's fault
                ok = False
            if not ok:  # empty is not true (as the HL7 validator reads it)
                issues.append(ValidationIssue(
                    constraint.get("severity", "error"), "invariant",
                    f"{constraint.get('key')}: {constraint.get('human', '')}", where))


# -- helpers ---------------------------------------------------------------------------

def _values(node: _Node, parent: dict) -> list[tuple[Any, str | None, dict | None]]:
    """The instance values of ``node``'s element in ``parent``, each with its type and,
    for a primitive, the ``_name`` object holding its id and extensions (json.html)."""
    name, types = node.name, node.types
    if node.choice:
        stem = name[:-3]
        found = []
        for key in parent:
            suffix = key[len(stem):]
            if key.startswith(stem) and suffix[:1].isupper():
                type = next((t for t in types if t and t[:1].upper() + t[1:] == suffix),
                            suffix)
                found += _paired(parent, key, type)
        return found
    return _paired(parent, name, types[0] if len(types) == 1 else None)


def _paired(parent: dict, key: str, type: str | None) -> list[tuple[Any, str | None, dict | None]]:
    values, extras = parent.get(key), parent.get("_" + key)
    if values is None and extras is None:
        return []
    if not isinstance(values, list) and not isinstance(extras, list):
        return [(values, type, extras if isinstance(extras, dict) else None)]
    values = values if isinstance(values, list) else [values] * len(extras or [])
    extras = extras if isinstance(extras, list) else []
    return [(v, type, extras[i] if i < len(extras) and isinstance(extras[i], dict) else None)
            for i, v in enumerate(values)]


def _in_context(extension: dict, holder: _Node) -> bool:
    """Whether an extension may sit on ``holder`` (its definition's ``context``: an
    element path, maybe after a profile's URL and ``#``, or a datatype the holder is)."""
    contexts = [c.get("expression", "").rpartition("#")[2]  # "profile-url#path" too
                for c in extension.get("context", []) if c.get("type") == "element"]
    if not contexts:
        return True
    path = holder.element["path"]
    names = {path, holder.element.get("base", {}).get("path"), "Element", "Resource",
             "DomainResource",
             *(t.get("code") for t in holder.element.get("type", []))}
    if "." not in path:
        names.add(path)  # the resource itself
    return any(c in names for c in contexts)


def _cardinality(node: _Node, count: int, where: str, issues: list) -> None:
    if count < node.low:
        issues.append(ValidationIssue(
            "error", "required", f"at least {node.low} value(s) required, {count} present",
            where))
    if node.high is not None and count > node.high:
        issues.append(ValidationIssue(
            "error", "structure", f"at most {node.high} value(s) allowed, {count} present",
            where))


def _at(path: str, i: int, node: _Node) -> str:
    return f"{path}[{i}]" if node.array else path


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern matching: every element the pattern has, the value has equally;
    a pattern array's items each match some item of the value's array."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            matches_pattern(value.get(k), v) for k, v in pattern.items())
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(item, p) for item in items) for p in pattern)
    return value == pattern


def _walk(value: Any, path: str) -> list:
    """The values at a simple dotted discriminator path (``$this``, ``system``,
    ``coding.code``)."""
    found = [value]
    if path == "$this":
        return found
    for step in path.removeprefix("$this.").split("."):
        nxt = []
        for item in found:
            if isinstance(item, dict) and step in item:
                got = item[step]
                nxt += got if isinstance(got, list) else [got]
        found = nxt
    return found


def _expected_at(slice_node: _Node, path: str) -> Any:
    """The fixed or pattern value a slice sets at a discriminator path; for an
    extension's ``url``, the extension profile the slice uses."""
    node = slice_node
    if path != "$this":
        for step in path.removeprefix("$this.").split("."):
            node = node.children.get(step)
            if node is None:
                break
    if node is not None:
        for key, expected in node.element.items():
            if key.startswith(("fixed", "pattern")):
                return expected
    if path == "url":
        for kind in slice_node.element.get("type", []):
            if kind.get("code") == "Extension" and kind.get("profile"):
                return kind["profile"][0]
    return None


def _codings(value: Any) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding, CodeableConcept or Quantity value."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    if "coding" in value:
        return [(c.get("system"), c["code"]) for c in value["coding"]
                if isinstance(c, dict) and isinstance(c.get("code"), str)]
    if isinstance(value.get("code"), str):
        return [(value.get("system"), value["code"])]
    return []
