"""Base R4B structure validation: is this JSON a FHIR R4B resource at all?

One walk over the resource, driven by the R4B element definitions
(``profiles.r4b.elements()``, built from the spec's StructureDefinitions), reports every
problem, not only the first, each with a FHIRPath expression (``Patient.name[0].given[1]``):

- unknown ``resourceType``; unknown elements, ``resourceType`` outside a resource, a
  ``_x`` whose ``x`` is not a primitive element, keys other than ``id``/``extension`` in it;
- arrays where ``max`` is 1 and single values where it is ``*``; missing required
  elements (``min`` >= 1) of every object present; two types of one choice element;
- primitives: their JSON type (https://hl7.org/fhir/R4B/json.html#primitive), their
  regex as a whole-value match, integer bounds, real calendar dates, string length;
  ``null`` (allowed only in a primitive array paired with its ``_x`` array, json.html
  "Repeating primitives"), empty objects, arrays and (whitespace-only) strings;
- codes outside the required binding of ``code`` elements (``gender: "abc"``);
- contained resources validated as resources, without resources of their own (dom-2);
  Extension with a ``url`` and exactly one of ``value[x]`` or ``extension`` (ext-1);
  element ids unique within their resource (Element.id; a StructureDefinition's snapshot
  and differential each on their own);
  ``Narrative.div`` a string starting with a ``<div`` tag, with no entity but XML's
  five and numeric character references and no ``<!DOCTYPE``/``<!ENTITY`` declaration
  (the div is XML without a DTD; no full XHTML check); an element with nothing but an
  ``id`` (ele-1).

Issue messages never echo values (privacy); element names are echoed.
"""

from __future__ import annotations

import calendar
import math
import re
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

import orjson

from profiles._issues import ValidationIssue
from profiles.r4b import elements

__all__ = ["is_resource_type", "validate_structure"]

# Child kinds. A child is a tuple (kind, is_array, target, codes, group, defpath, attr):
# target is a _Node (complex, backbone) or a _Primitive; codes the required binding.
_PRIMITIVE, _COMPLEX, _RESOURCE, _XHTML = range(4)
_DAYS = ("date", "dateTime", "instant")
# Narrative.div starts with a <div> start tag, maybe namespace-prefixed (<x:div ...>);
# its content is not parsed (https://hl7.org/fhir/R4B/narrative.html#xhtml).
_DIV = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?div[\s/>]").match
# The div is XML with no DTD, so the only entities are XML's five predefined ones
# (XML 1.0 section 4.1, "Entity Declared"; a bare & is not well-formed, section 2.4), and
# it cannot declare any: inside an element "<!" opens only a comment or a CDATA section,
# whose text is not parsed (sections 2.5, 2.7, 3.1). "&reg;" or "&nbsp;" must be the
# character itself or "&#174;".
_UNDECLARED = re.compile(r"&(?!(?:lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)").search
# The same language as the spec's regex, which backtracks exponentially on Python's engine
# (each whitespace run fits either \s* around a quad): 120 bytes of "AAAA\n" lines and a
# "!" took 7 s, each further line doubling it. Here each run has one place to go.
_LINEAR = {"base64Binary": r"\s*(?:[0-9a-zA-Z+/=]{4}\s*)+"}


class _Primitive:
    __slots__ = ("name", "json", "regex", "low", "high", "max_length", "dated")

    def __init__(self, name: str, spec: dict) -> None:
        self.name, self.json = name, spec["json"]
        # FHIR regexes are Java regexes matched against the whole value; re.ASCII gives
        # \s and \S Java's (ASCII) meaning.
        regex = _LINEAR.get(name, spec.get("regex"))
        self.regex = re.compile(regex, re.ASCII).fullmatch if regex else None
        self.low, self.high = spec.get("minValue"), spec.get("maxValue")
        self.max_length = spec.get("maxLength")
        self.dated = name in _DAYS


#: Elements whose element ids are unique among themselves only: a StructureDefinition's
#: snapshot and differential list the same ElementDefinitions, ids included (every HL7
#: definition does so).
_OWN_ID_SCOPES = frozenset({"StructureDefinition.snapshot", "StructureDefinition.differential"})


class _Node:
    """The children of one structure or inline element, by JSON key."""

    __slots__ = ("name", "children", "required", "has_choices", "extension", "resource")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: dict[str, tuple] = {}
        self.required: tuple[tuple[str, tuple[str, ...]], ...] = ()
        self.has_choices = self.extension = self.resource = False


class _Model:
    def __init__(self, data: dict, codes: dict[str, frozenset[str]]) -> None:
        self.primitives = {n: _Primitive(n, s) for n, s in data["primitives"].items()}
        self.structures = data["structures"]
        self.nodes: dict[str, _Node] = {}
        self.codes = codes
        self.resource_types = frozenset(
            n for n, s in self.structures.items()
            if s["kind"] == "resource" and not s.get("abstract"))
        for name in self.structures:
            self.node(name)
        self.element = self.nodes["Element"]

    def node(self, name: str) -> _Node:
        """The node of a structure (``HumanName``) or inline element (``Patient.contact``)."""
        node = self.nodes.get(name)
        if node is not None:
            return node
        node = self.nodes[name] = _Node(name)
        structure_name = name.split(".", 1)[0]
        structure = self.structures[structure_name]
        table = structure["elements"]
        prefix = name + "."
        own = [(p, e) for p, e in table.items()
               if p.startswith(prefix) and "." not in p[len(prefix):]]
        if "." in name:  # inline: id, extension, modifierExtension come from its type
            base = self.structures[table[name].get("type", "Element")]["elements"]
            own = [(p, e) for p, e in base.items()] + own
        node.resource = "." not in name and structure["kind"] == "resource"
        node.extension = name == "Extension"
        required = []
        for path, element in own:
            leaf = path.rsplit(".", 1)[1]
            array = element.get("max", "1") != "1"
            attr = element.get("noExtensions", False)
            own_path = prefix + leaf
            if "choice" in element:
                node.has_choices = True
                keys = []
                for key, code in element["choice"].items():
                    node.children[key] = self._child(code, own_path, array, leaf[:-3], attr)
                    keys += [key, "_" + key] if code in self.primitives else [key]
                if element.get("min", 0):
                    required.append((leaf, tuple(keys)))
                continue
            if "contentReference" in element:
                target = self.node(element["contentReference"][1:])
                child = (_COMPLEX, array, target, None, None, own_path, attr)
            else:
                child = self._child(element["type"], own_path, array, None, attr)
            node.children[leaf] = child
            if element.get("min", 0):
                keys = (leaf, "_" + leaf) if child[0] == _PRIMITIVE else (leaf,)
                required.append((leaf, keys))
        node.required = tuple(required)
        return node

    def _child(self, code: str, path: str, array: bool, group: str | None,
               attr: bool) -> tuple:
        if code == "xhtml":
            return (_XHTML, array, None, None, group, path, attr)
        if code in self.primitives:
            return (_PRIMITIVE, array, self.primitives[code], self.codes.get(path), group,
                    path, attr)
        if code == "Resource":  # target: True for contained resources (dom-2)
            return (_RESOURCE, array, path.endswith(".contained"), None, group, path, attr)
        if code in ("BackboneElement", "Element"):
            return (_COMPLEX, array, self.node(path), None, group, path, attr)
        return (_COMPLEX, array, self.node(code), None, group, path, attr)


@cache
def _model() -> _Model:
    raw = resources.files("profiles.r4b").joinpath("required-codes.json").read_bytes()
    codes = {path: frozenset(c) for path, c in orjson.loads(raw).items()}
    return _Model(elements(), codes)


def is_resource_type(name: str) -> bool:
    """True for the R4B resource types (``Patient``), False for anything else."""
    return name in _model().resource_types


def validate_structure(resource: dict) -> list[ValidationIssue]:
    """Every structural problem of ``resource`` against the R4B definitions (never raises)."""
    issues: list[ValidationIssue] = []
    if not isinstance(resource, dict):
        return [_issue("structure", "a resource must be a JSON object", "resourceType")]
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not is_resource_type(rtype):
        return [_issue("structure", "unknown resourceType", "resourceType")]
    try:
        _walk(_model().nodes[rtype], resource, rtype, issues, {})
    except RecursionError:  # the server bounds depth to 64 first; this is the backstop
        issues.append(_issue("structure", "the resource is nested too deeply", rtype))
    return issues


def _issue(code: str, diagnostics: str, expression: str) -> ValidationIssue:
    return ValidationIssue("error", code, diagnostics, expression)


def _walk(node: _Node, obj: dict, path: str, issues: list, ids: dict) -> None:
    """Check one JSON object against ``node``; ``path`` is its FHIRPath, ``ids`` the element
    ids seen so far in its resource."""
    if not obj:
        issues.append(_issue("structure", "empty object", path))
        return
    if node.name in _OWN_ID_SCOPES:
        ids = {}
    if len(obj) == 1 and "id" in obj and not node.resource and node.name != "Element":
        issues.append(_issue("invariant", "an element must have a value or children (ele-1)",
                             path))
    children = node.children
    groups: dict[str, str] | None = {} if node.has_choices else None
    for key, value in obj.items():
        child = children.get(key)
        if child is None:
            if isinstance(key, str) and key[:1] == "_" and _sibling(
                    node, obj, key, value, path, issues, groups, ids):
                continue
            if key == "resourceType" and node.resource:
                continue
            issues.append(_issue("structure", f"unknown element {key!r} in {node.name}",
                                 f"{path}.{key}"))
            continue
        kind, array, target, codes, group, defpath, _attr = child
        if group is not None:
            _choose(groups, group, key, path, issues)
        if value is None:
            issues.append(_issue("structure", "null is not allowed", f"{path}.{key}"))
        elif isinstance(value, list):
            if not array:
                issues.append(_issue("structure", f"{key} must be a single value, not an "
                                     "array (max 1)", f"{path}.{key}"))
            if not value:
                issues.append(_issue("structure", "empty array", f"{path}.{key}"))
            for i, item in enumerate(value):
                if item is None:
                    if kind != _PRIMITIVE or not _paired(obj.get("_" + key), i):
                        issues.append(_issue("structure", "null is not allowed",
                                             f"{path}.{key}[{i}]"))
                elif kind == _PRIMITIVE:
                    _primitive(item, target, codes, defpath, path, key, i, issues)
                else:
                    _value(kind, item, target, f"{path}.{key}[{i}]", issues, ids)
        else:
            if array:
                issues.append(_issue("structure", f"{key} must be an array (max *)",
                                     f"{path}.{key}"))
            if kind == _PRIMITIVE:
                _primitive(value, target, codes, defpath, path, key, None, issues)
            else:
                _value(kind, value, target, f"{path}.{key}", issues, ids)
    for label, keys in node.required:
        for key in keys:
            if key in obj:
                break
        else:
            issues.append(_issue("required", f"missing required element {label!r}",
                                 f"{path}.{label}"))
    if node.extension:
        _ext_1(obj, groups, path, issues)
    if not node.resource and type(obj.get("id")) is str:
        seen = ids.setdefault(obj["id"], path)
        if seen != path:
            issues.append(_issue("duplicate", f"duplicate element id (also at {seen})",
                                 f"{path}.id"))


def _value(kind: int, value: Any, target: Any, here: str, issues: list, ids: dict) -> None:
    if kind == _COMPLEX:
        if isinstance(value, dict):
            _walk(target, value, here, issues, ids)
        else:
            issues.append(_issue("structure", f"expected a JSON object for {target.name}",
                                 here))
    elif kind == _RESOURCE:
        _resource(value, here, issues, target)
    elif not isinstance(value, str):  # _XHTML
        issues.append(_issue("value", "wrong JSON type for xhtml: expected a string", here))
    elif _DIV(value) is None:
        issues.append(_issue("value", "the narrative must be an XHTML <div> element", here))
    elif ("&" in value or "!" in value) and _undeclared(value):
        issues.append(_issue("value", "the narrative uses an entity or a declaration XML "
                             "does not allow without a DTD: only &lt; &gt; &amp; &quot; "
                             "&apos; and numeric character references", here))


def _undeclared(div: str) -> bool:
    """True when ``div`` uses an entity XML does not predefine, or holds a declaration
    (any ``<!`` other than a comment or CDATA section, whose text is skipped). Linear (a
    regex skipping comments backtracks on many unclosed ``<!--``), and it looks for the
    rare ``!`` rather than ``<!``, slow to find among a narrative's many ``<``."""
    if "!" in div:
        text, start, at = [], 0, div.find("!")
        while at >= 0:
            if at > start and div[at - 1] == "<":
                text.append(div[start:at - 1])
                if div.startswith("--", at + 1):
                    end = div.find("-->", at + 3)
                elif div.startswith("[CDATA[", at + 1):
                    end = div.find("]]>", at + 8)
                else:
                    return True
                if end < 0:
                    return True
                start = end + 3
                at = div.find("!", start)
            else:
                at = div.find("!", at + 1)
        if text:
            text.append(div[start:])
            div = "".join(text)
    return _UNDECLARED(div) is not None


def _resource(value: Any, here: str, issues: list, contained: bool) -> None:
    if not isinstance(value, dict):
        issues.append(_issue("structure", "expected a JSON object for a resource", here))
        return
    rtype = value.get("resourceType")
    model = _model()
    if not isinstance(rtype, str) or rtype not in model.resource_types:
        issues.append(_issue("structure", "unknown resourceType", f"{here}.resourceType"))
        return
    _walk(model.nodes[rtype], value, here, issues, {})
    if contained and "contained" in value:
        issues.append(_issue("invariant", "a contained resource cannot contain resources "
                             "(dom-2)", f"{here}.contained"))


def _choose(groups: dict | None, group: str, key: str, path: str, issues: list) -> None:
    if groups is None:
        return
    seen = groups.setdefault(group, key)
    if seen != key:
        issues.append(_issue("structure", f"only one type of {group}[x] is allowed "
                             f"({seen}, {key})", f"{path}.{key}"))


def _paired(other: Any, i: int) -> bool:
    """True when the parallel array ``other`` holds a non-null item at ``i``."""
    return isinstance(other, list) and i < len(other) and other[i] is not None


def _sibling(node: _Node, obj: dict, key: str, value: Any, path: str, issues: list,
             groups: dict | None, ids: dict) -> bool:
    """Check a primitive's ``_x`` (its id and extensions); False if ``x`` is no primitive."""
    name = key[1:]
    child = node.children.get(name)
    if child is None or child[0] != _PRIMITIVE or child[6]:
        return False
    array, group = child[1], child[4]
    if group is not None:
        _choose(groups, group, name, path, issues)
    here = f"{path}.{name}"
    if value is None:
        issues.append(_issue("structure", "null is not allowed", f"{path}.{key}"))
    elif isinstance(value, list):
        if not array:
            issues.append(_issue("structure", f"{key} must be a single value, not an array "
                                 "(max 1)", f"{path}.{key}"))
        if not value:
            issues.append(_issue("structure", "empty array", f"{path}.{key}"))
        values = obj.get(name)
        if isinstance(values, list) and len(values) != len(value):
            issues.append(_issue("structure", f"{key} and {name} must have the same length",
                                 f"{path}.{key}"))
        for i, item in enumerate(value):
            if item is None:
                if not _paired(values, i):
                    issues.append(_issue("structure", "null is not allowed",
                                         f"{path}.{key}[{i}]"))
            else:
                _extras(item, _paired(values, i), f"{here}[{i}]", issues, ids)
    elif isinstance(value, dict):
        if array:
            issues.append(_issue("structure", f"{key} must be an array (max *)",
                                 f"{path}.{key}"))
        _extras(value, obj.get(name) is not None, here, issues, ids)
    else:
        issues.append(_issue("structure", "expected a JSON object", f"{path}.{key}"))
    return True


def _extras(value: Any, has_value: bool, here: str, issues: list, ids: dict) -> None:
    """Check the id and extensions of one primitive (an item of ``_x``)."""
    if not isinstance(value, dict):
        issues.append(_issue("structure", "expected a JSON object", here))
        return
    _walk(_model().element, value, here, issues, ids)
    if value and not has_value and "extension" not in value:
        issues.append(_issue("invariant", "an element must have a value or children (ele-1)",
                             here))


def _primitive(value: Any, prim: _Primitive, codes: frozenset | None, defpath: str,
               path: str, key: str, index: int | None, issues: list) -> None:
    kind = prim.json
    if kind == "string":
        if type(value) is not str:
            problem, code = f"wrong JSON type for {prim.name}: expected a string", "value"
        elif not value or value.isspace():
            problem, code = "empty string", "value"
        elif _CONTROL(value) is not None:
            problem, code = "control characters other than tab, CR and LF", "value"
        elif prim.max_length is not None and len(value) > prim.max_length:
            problem, code = f"{prim.name} longer than {prim.max_length}", "value"
        elif prim.regex is not None and prim.regex(value) is None:
            problem, code = f"not a valid {prim.name}", "value"
        elif prim.dated and len(value) >= 10 and value[8:10] > "28" and not _real_day(value):
            problem, code = f"not a valid {prim.name}: no such day", "value"
        elif codes is not None and value not in codes:
            problem, code = f"code not in the required value set of {defpath}", "code-invalid"
        else:
            return
    elif kind == "boolean":
        if value is True or value is False:
            return
        problem, code = "wrong JSON type for boolean: expected true or false", "value"
    elif prim.low is None:  # decimal: any finite JSON number
        if type(value) is int or (type(value) is float and math.isfinite(value)) or (
                type(value) is Decimal and value.is_finite()):
            return
        problem, code = "wrong JSON type for decimal: expected a number", "value"
    elif type(value) is not int:  # bool is no int here: type(True) is bool
        problem, code = f"wrong JSON type for {prim.name}: expected an integer", "value"
    elif not prim.low <= value <= prim.high:
        problem, code = f"{prim.name} out of range", "value"
    elif prim.regex is not None and prim.regex(str(value)) is None:
        problem, code = f"not a valid {prim.name}", "value"
    else:
        return
    where = f"{path}.{key}" if index is None else f"{path}.{key}[{index}]"
    issues.append(_issue(code, problem, where))


# Strings may not hold characters below 32 other than tab, CR and LF
# (https://hl7.org/fhir/R4B/datatypes.html#string).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]").search


def _real_day(value: str) -> bool:
    year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
    return day <= calendar.monthrange(year, month)[1]


def _ext_1(obj: dict, groups: dict | None, path: str, issues: list) -> None:
    has_value = bool(groups) and "value" in groups
    if has_value == ("extension" in obj):
        issues.append(_issue("invariant", "an extension must have either extensions or a "
                             "value[x], not both (ext-1)", path))
