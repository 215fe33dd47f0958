"""Layer 5's inputs and a permit's obligations: default security labels assigned on
write (declarative rules in ``labels/default-labels.json``) and redaction.

Labels are v3-Confidentiality codings (http://terminology.hl7.org/CodeSystem/v3-Confidentiality);
a redacted copy carries v3-ObservationValue ``REDACTED``
(https://hl7.org/fhir/R4B/security-labels.html).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from ._facts import facts
from ._model import CONFIDENTIALITY, Obligation
from ._policy import PolicyError, Selector

__all__ = ["REDACTED", "default_labels", "redact"]

REDACTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "REDACTED", "display": "redacted"}
_DISPLAY = {"R": "restricted", "V": "very restricted"}
_RANK = {"U": 0, "L": 1, "M": 2, "N": 3, "R": 4, "V": 5}


@cache
def _rules() -> tuple[tuple[Selector, str], ...]:
    folder = resources.files("consent")
    doc = json.loads(folder.joinpath("labels/default-labels.json").read_text("utf-8"))
    schema = json.loads(folder.joinpath("schemas/default-labels.schema.json").read_text("utf-8"))
    errors = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
              for e in jsonschema.Draft202012Validator(schema).iter_errors(doc)]
    if errors:
        raise PolicyError("consent/labels/default-labels.json", errors)
    return tuple((Selector(r["resourceType"], r.get("profile"), frozenset(r.get("codes", ()))),
                  r["label"]) for r in doc["rules"])


def default_labels(resource: dict[str, Any]) -> list[dict[str, str]]:
    """Return the v3-Confidentiality coding the rules give ``resource`` ([] when none,
    or when the resource already carries that level or a higher one)."""
    f = facts(resource)
    matched = [label for selector, label in _rules() if selector.matches(f)]
    if not matched:
        return []
    label = max(matched, key=_RANK.__getitem__)
    if any(_RANK.get(have, -1) >= _RANK[label] for have in f.labels):
        return []
    return [{"system": CONFIDENTIALITY, "code": label, "display": _DISPLAY[label]}]


def _remove(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _remove(item, parts)
    elif isinstance(node, dict):
        if len(parts) == 1:
            node.pop(parts[0], None)
            node.pop("_" + parts[0], None)  # a primitive's id and extensions
        elif parts[0] in node:
            _remove(node[parts[0]], parts[1:])


def redact(resource: dict[str, Any], obligations: Iterable[Obligation]) -> dict[str, Any]:
    """Return a copy of ``resource`` without the elements the ``redact`` obligations
    name, labelled REDACTED in ``meta.security``; ``resource`` itself is not changed.
    Without a redact obligation the copy is unchanged and unlabelled."""
    paths = [p for o in obligations if o.code == "redact" for p in o.elements]
    out = copy.deepcopy(resource)
    if not paths:
        return out
    for path in paths:
        _remove(out, path.split("."))
    security = out.setdefault("meta", {}).setdefault("security", [])
    if not any(c.get("system") == REDACTED["system"] and c.get("code") == "REDACTED"
               for c in security):
        security.append(dict(REDACTED))
    return out
