"""The de-identified export's policy: ``statistics-export.json`` beside this module.

Declarative like the legal mandate's files (``consent/policies/``), and kept apart from
them on purpose: those files grant *reads* of individual records, and the statistics
purpose (PUBHLTH) must never get one (``consent/policies/statistics.json`` grants
nothing). This file says instead which purposes and institution kinds obtain the
de-identified bulk export, in which the platform reads the records itself and only their
de-identified form leaves (``server/analytics/deidentify.py``), and what that form keeps:
the top-level elements of each resource type and the extensions, by URL.

The file is checked when loaded against ``statistics-export.schema.json`` (every
problem reported) and against terminology and the R4B definitions (institution kinds of
``tipo-institucion``, purposes of ``proposito-uso`` other than BTG, resource types): a
bad file raises ``consent.PolicyError`` and the export refuses to start.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

import jsonschema

import consent
from server.search.definitions import resource_types

__all__ = ["FILE", "StatisticsPolicy", "load", "statistics_policy"]

FILE = "statistics-export.json"


@dataclass(frozen=True)
class StatisticsPolicy:
    """Who obtains the de-identified export (``purposes``, ``kinds``) and what it keeps:
    ``keep`` maps each exported resource type to its top-level elements kept;
    ``extensions`` are the extension URLs kept (anywhere in a resource)."""

    id: str
    purposes: frozenset[str]
    kinds: frozenset[str]
    extensions: frozenset[str]
    keep: Mapping[str, frozenset[str]]

    @property
    def types(self) -> tuple[str, ...]:
        """The resource types a de-identified export may carry, sorted."""
        return tuple(sorted(self.keep))

    def applies_to(self, purpose: str | None) -> bool:
        """Whether a token of ``purpose`` gets the de-identified export (and no other)."""
        return purpose in self.purposes

    def grants(self, kind: str | None) -> bool:
        """Whether an institution of ``kind`` may obtain the de-identified export."""
        return kind in self.kinds


def load(text: str, name: str = FILE) -> StatisticsPolicy:
    """The policy in ``text``; ``consent.PolicyError`` naming every problem otherwise."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise consent.PolicyError(name, [f"not JSON: {exc}"]) from None
    validator = jsonschema.Draft202012Validator(_schema())
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path))]
    if not problems:
        problems = _meaning(doc)
    if problems:
        raise consent.PolicyError(name, problems)
    return StatisticsPolicy(
        id=doc["id"], purposes=frozenset(doc["purposes"]), kinds=frozenset(doc["kinds"]),
        extensions=frozenset(doc["extensions"]),
        keep=MappingProxyType({t: frozenset(e) for t, e in doc["keep"].items()}))


@cache
def statistics_policy() -> StatisticsPolicy:
    """The shipped policy, loaded and checked once per process."""
    return load(resources.files("server.analytics").joinpath(FILE).read_text("utf-8"))


def _meaning(doc: dict) -> list[str]:
    problems = []
    for i, kind in enumerate(doc["kinds"]):
        if kind not in consent.KINDS:
            problems.append(f"kinds/{i}: {kind!r} is not a tipo-institucion code")
    for i, purpose in enumerate(doc["purposes"]):
        if purpose not in consent.PURPOSES or purpose == consent.BREAK_GLASS:
            problems.append(f"purposes/{i}: {purpose!r} is not a purpose of proposito-uso "
                            "other than BTG")
    for type in doc["keep"]:
        if type not in resource_types():
            problems.append(f"keep/{type}: not an R4B resource type")
    return problems


@cache
def _schema() -> dict:
    return json.loads(resources.files("server.analytics")
                      .joinpath("statistics-export.schema.json").read_text("utf-8"))
