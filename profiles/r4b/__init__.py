"""FHIR R4B definitions and the data Amparo derives from them (loaded with importlib.resources).

``search-parameters.json`` and ``element-types.json`` are written by
``scripts/build_r4b_data.py``, ``elements.json`` by ``scripts/build_r4b_elements.py`` and
``required-codes.json`` by ``scripts/build_required_codes.py``, ``summary-elements.json``
by ``scripts/build_r4b_summary.py``, ``base-elements.json`` by
``scripts/build_r4b_base.py`` (their docstrings name the
sources and formats). They ship inside the package so that a clean checkout, or an
installed wheel, needs nothing else.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["base_elements", "element_types", "elements", "search_parameters",
           "summary_elements"]


def _load(name: str) -> object:
    with resources.files(__name__).joinpath(name).open("rb") as handle:
        return json.load(handle)


@cache
def search_parameters() -> list[dict]:
    """Every SearchParameter of FHIR R4B, as HL7 publishes them (errata uncorrected).

    Cached: callers share one list and must not change it.
    """
    bundle = _load("search-parameters.json")
    return [entry["resource"] for entry in bundle["entry"]]  # type: ignore[index]


@cache
def element_types() -> dict[str, list[str]]:
    """Element path -> FHIR type codes, for every resource and complex datatype of R4B.

    Conventions (see ``scripts/build_r4b_data.py``): a structure's root maps to its base
    type (``"Patient": ["DomainResource"]``); choice elements appear as ``value[x]`` with
    all their types and once per type under their JSON name (``valueQuantity``); a
    contentReference element lists the element whose definition it reuses, with FHIR's
    ``#`` (``"Questionnaire.item.item": ["#Questionnaire.item"]``), so its children are
    that element's children. Cached: callers share one dict and must not change it.
    """
    return _load("element-types.json")  # type: ignore[return-value]


@cache
def elements() -> dict:
    """The R4B element definitions: ``{"fhirVersion", "primitives", "structures"}``.

    Per primitive type its JSON type, regex and bounds; per resource and complex datatype
    its kind, base and ``elements`` keyed by ElementDefinition.path, each with ``type`` (or
    ``choice``: JSON name -> type, or ``contentReference``) and ``min``/``max`` when they
    differ from 0 and "1" (format in ``scripts/build_r4b_elements.py``). Cached: callers
    share one dict and must not change it.
    """
    return _load("elements.json")  # type: ignore[return-value]


@cache
def summary_elements() -> dict[str, dict]:
    """Per resource type: its top-level elements (base name -> JSON names; a choice
    ``value[x]`` is ``value`` -> ``valueQuantity``, ...), the base names marked
    ``isSummary`` and those with ``min`` >= 1 (for ``_summary`` and ``_elements``).
    Cached: callers share one dict and must not change it."""
    return _load("summary-elements.json")  # type: ignore[return-value]


@cache
def base_elements() -> dict[str, dict]:
    """Element path -> the base spec's choice types, binding and reference targets of
    that element, in ElementDefinition shape (what a profile's rules are compared with;
    ``scripts/build_r4b_base.py``). Cached: callers share one dict and must not change it.
    """
    return _load("base-elements.json")  # type: ignore[return-value]
