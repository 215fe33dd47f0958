"""What the rules read from a resource: type, profiles, codes, security labels, the date
of the data, the references it makes and the institutions it is addressed to.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ._model import CONFIDENTIALITY

__all__ = ["Facts", "facts"]

# Where each type keeps the date of its data (Consent.provision.dataPeriod), first found.
_DATES = tuple(tuple(path.split(".")) for path in (
    "effectiveDateTime", "effectivePeriod.start", "occurrenceDateTime",
    "occurrencePeriod.start", "authoredOn", "period.start", "date", "recorded", "issued",
    "created"))
# Who a resource is addressed to (the receiving institution of a referral or task).
_RECIPIENTS = {"ServiceRequest": ("performer",), "Task": ("owner",)}


@dataclass(frozen=True)
class Facts:
    """The facts of one resource the rules match on."""

    type: str
    id: str | None
    profiles: frozenset[str]
    codes: frozenset[str]  # "system|code" of code, type, category and component.code
    labels: frozenset[str]  # v3-Confidentiality codes of meta.security and securityLabel
    date: str | None
    recipients: frozenset[str]
    #: the resource described, for ``references``; not part of the facts' identity
    source: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def reference(self) -> str | None:
        return f"{self.type}/{self.id}" if self.id else None

    @cached_property
    def references(self) -> frozenset[str]:
        """Every reference the resource makes (but in ``meta``): only a Consent's data
        provisions with related meaning ask, so it is found on first use."""
        return frozenset(_references({k: v for k, v in self.source.items() if k != "meta"}))


def _codings(value: Any) -> Iterator[dict[str, Any]]:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, dict):
            yield from (c for c in item.get("coding", []) if isinstance(c, dict))


def _get(resource: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = resource
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _references(value: Any) -> list[str]:
    """Every ``reference`` string under ``value``, depth first (a stack, not recursion:
    this runs on every write)."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("reference")
            if isinstance(ref, str):
                found.append(ref)
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return found


def facts(resource: dict[str, Any]) -> Facts:
    """Return the facts of ``resource`` (a FHIR JSON dict)."""
    meta = resource.get("meta") or {}
    codes = set()
    for element in ("code", "type", "category"):
        codes.update(f"{c.get('system')}|{c.get('code')}" for c in _codings(resource.get(element)))
    for component in resource.get("component") or []:
        if isinstance(component, dict):
            codes.update(f"{c.get('system')}|{c.get('code')}"
                         for c in _codings(component.get("code")))
    labels = {c.get("code") for c in meta.get("security") or [] if isinstance(c, dict)
              and c.get("system") == CONFIDENTIALITY}
    labels.update(c.get("code") for c in _codings(resource.get("securityLabel"))
                  if c.get("system") == CONFIDENTIALITY)
    date = next((d for d in (_get(resource, p) for p in _DATES) if isinstance(d, str)), None)
    recipients = {ref for element in _RECIPIENTS.get(resource.get("resourceType"), ())
                  for ref in _references(resource.get(element))
                  if ref.startswith("Organization/")}
    return Facts(
        type=resource.get("resourceType", ""),
        id=resource.get("id"),
        profiles=frozenset(p for p in meta.get("profile") or [] if isinstance(p, str)),
        codes=frozenset(codes),
        labels=frozenset(label for label in labels if label),
        date=date or meta.get("lastUpdated"),
        recipients=frozenset(recipients),
        source=resource,
    )
