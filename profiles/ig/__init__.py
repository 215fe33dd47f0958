"""Amparo's implementation guide content: profiles, extensions, SearchParameters,
OperationDefinitions, examples.

The files of this package are the IG (``README.md`` here explains the modelling):

- ``StructureDefinition-<id>.json``: the 19 profiles of DESIGN.md's table (canonical
  ``https://fhir.amparo.cl/StructureDefinition/<id>``, e.g. ``Survivor``) and our
  extensions (``ext-<name>``), each with its differential and the snapshot that
  ``scripts/build_ig.py`` generates with ``profiles.snapshot`` from the R4B base;
- ``external/``: the CL Core, MINSAL and FHIR core extension definitions the profiles use,
  copied by the same script (``external/sources.json`` says from where);
- ``SearchParameter-<id>.json``: the search parameters R4B lacks for what caseworkers
  search by (``https://fhir.amparo.cl/SearchParameter/<id>``);
- ``OperationDefinition-<id>.json``: the operations this server offers that R4B does not
  define (``https://fhir.amparo.cl/OperationDefinition/<id>``, e.g.
  ``EpisodeOfCare-summary``); the CapabilityStatement points at them;
- ``SubscriptionTopic-<id>.json``: the events institutions subscribe to (early-warning
  alerts, referrals assigned, cases updated, break-glass accesses), each trigger a FHIRPath
  criterion on ``%current``/``%previous`` (``server/subscriptions/topics.py``);
- ``Measure-<id>.json``: the indicators the platform publishes (``$evaluate-measure``,
  ``amparo report``): each group's populations and stratifiers name, in their criteria,
  what ``server/indicators/`` computes;
- ``examples/``: per profile one or more valid instances and invalid ones, each invalid for
  one stated reason (``examples/index.json``).

Everything is read with ``importlib.resources`` (a wheel works like a checkout) and loaded
once; callers get fresh copies they may change.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "example_index",
    "examples",
    "external_definitions",
    "measures",
    "operation_definitions",
    "profile_for",
    "profiles_for",
    "search_parameters",
    "structure_definitions",
    "subscription_topics",
]

Resource = dict[str, Any]


def load_folder(folder: str | None, prefix: str) -> tuple[Resource, ...]:
    """The JSON resources of a folder of this package whose file names start with
    ``prefix``, in name order (shared with ``profiles/instruments.py``)."""
    root = resources.files(__name__)
    if folder:
        root = root.joinpath(folder)
    names = sorted(p.name for p in root.iterdir()
                   if p.name.startswith(prefix) and p.name.endswith(".json"))
    return tuple(json.loads(root.joinpath(name).read_text(encoding="utf-8")) for name in names)


@cache
def _definitions() -> tuple[Resource, ...]:
    return load_folder(None, "StructureDefinition-")


@cache
def _external() -> tuple[Resource, ...]:
    return load_folder("external", "StructureDefinition-")


@cache
def _by_url() -> dict[str, Resource]:
    return {d["url"]: d for d in (*_definitions(), *_external())}


def structure_definitions() -> list[Resource]:
    """Our StructureDefinitions (profiles and extensions), by file name, with snapshots."""
    return copy.deepcopy(list(_definitions()))


def external_definitions() -> list[Resource]:
    """The external extension definitions our profiles use (CL Core, MINSAL, FHIR core)."""
    return copy.deepcopy(list(_external()))


@cache
def _search_parameters() -> tuple[Resource, ...]:
    return load_folder(None, "SearchParameter-")


def search_parameters() -> list[Resource]:
    """Our SearchParameter resources, by file name."""
    return copy.deepcopy(list(_search_parameters()))


@cache
def _operation_definitions() -> tuple[Resource, ...]:
    return load_folder(None, "OperationDefinition-")


def operation_definitions() -> list[Resource]:
    """Our OperationDefinition resources (the operations R4B does not define), by file
    name."""
    return copy.deepcopy(list(_operation_definitions()))


@cache
def _subscription_topics() -> tuple[Resource, ...]:
    return load_folder(None, "SubscriptionTopic-")


def subscription_topics() -> list[Resource]:
    """Our SubscriptionTopic resources, by file name."""
    return copy.deepcopy(list(_subscription_topics()))


@cache
def _measures() -> tuple[Resource, ...]:
    return load_folder(None, "Measure-")


def measures() -> list[Resource]:
    """Our Measure resources (the published indicators), by file name."""
    return copy.deepcopy(list(_measures()))


def profiles_for(resource_type: str) -> list[Resource]:
    """Our profiles of ``resource_type`` (two for ServiceRequest: Referral and
    ProtectionMeasure; none for a type we do not profile)."""
    return copy.deepcopy([d for d in _definitions()
                          if d["kind"] == "resource" and d["type"] == resource_type])


def profile_for(resource_type_or_url: str) -> Resource | None:
    """The StructureDefinition with this canonical URL (ours or an external one we use;
    ``url|version`` accepted), or our one profile of this resource type; None if there is
    none. Raises ``LookupError`` for a resource type with several profiles (use
    ``profiles_for``)."""
    key = resource_type_or_url
    if "/" in key or ":" in key:
        found = _by_url().get(key.split("|")[0])
        return copy.deepcopy(found) if found is not None else None
    candidates = profiles_for(key)
    if len(candidates) > 1:
        names = ", ".join(d["id"] for d in candidates)
        raise LookupError(f"{key} has several profiles ({names}): name one by URL")
    return candidates[0] if candidates else None


@cache
def _index() -> tuple[Resource, ...]:
    text = resources.files(__name__).joinpath("examples", "index.json").read_text("utf-8")
    return tuple(json.loads(text))


def example_index() -> list[Resource]:
    """``examples/index.json``: per example its name, profile URL, ``expected`` (valid or
    invalid) and, for an invalid one, the ``issue`` it must raise (see README.md)."""
    return copy.deepcopy(list(_index()))


@cache
def _examples() -> tuple[tuple[str, Resource, bool], ...]:
    folder = resources.files(__name__).joinpath("examples")
    return tuple(
        (entry["name"],
         json.loads(folder.joinpath(entry["name"] + ".json").read_text(encoding="utf-8")),
         entry["expected"] == "valid")
        for entry in _index())


def examples() -> list[tuple[str, Resource, bool]]:
    """Every example as (name, resource, expected to be valid), in index order."""
    return copy.deepcopy(list(_examples()))
