"""Deterministic synthetic survivor journeys, as FHIR R4B transaction bundles (``amparo synth``).

Why: the benchmark, the demo and the early-warning rules need realistic data that nobody
has to anonymise: women who call the 1455 line, report to the police, go to the emergency
department and the Centro de la Mujer; who come back after a new incident; aggressors
shared by several women; referrals that are answered, refused or lost.

Public API (plain dicts and files; no Flask, no HTTP, no storage):

- ``institutions_bundle()``: the Organizations (PUT ``Organization/<id>``). Load first.
- ``journeys(cases, seed)``: the survivors' transaction bundles, one per contact, in load
  order (POST with ``ifNoneExist``; referral Tasks also by conditional PUT).
- ``named_bundles(cases, seed)``: (file stem, bundle) for both, in load order; what
  ``amparo demo`` POSTs to ``[base]/`` one by one.
- ``write(cases, seed, out)``: writes ``out/bundles/*.json``, ``out/transactions.ndjson`` and
  ``out/summary.json``; returns a ``SynthSummary``.

The same (cases, seed) always gives byte-identical output, and case *i* is the same for
any number of cases. Codes come from the ``terminology`` package's CodeSystems.
"""

from __future__ import annotations

from .institutions import institutions_bundle
from .journeys import journeys, named_bundles
from .writer import SynthSummary, summarize, write

__all__ = ["SynthSummary", "institutions_bundle", "journeys", "named_bundles", "summarize", "write"]
