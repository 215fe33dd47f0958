"""Loading bundles into a store in-process: ``amparo init`` and ``amparo demo``.

Bundles go through the same route table as HTTP requests (``dispatch``), so loaded data
is validated, indexed and versioned exactly like data a partner system sends.
"""

from __future__ import annotations

from collections.abc import Iterable

from server.access import ANONYMOUS, AccessGate
from server.api.flask_app import blueprint  # noqa: F401 (registers the routes)
from server.api.router import Context, FhirRequest, dispatch
from server.config import Settings
from server.repository import Repository
from server.store import Store, open_store

INTERNAL_BASE = "urn:amparo:local"


def initialise(settings: Settings) -> dict:
    """Schema, then the institutions (client-assigned ids: reloading changes nothing new)."""
    from server.synth import institutions_bundle

    store = open_store(settings.store)
    try:
        store.init()
        load_bundles(store, settings, [institutions_bundle()])
        return {"store": settings.store, "institutions": store.count("Organization")}
    finally:
        store.close()


def load_demo(settings: Settings, cases: int, seed: int) -> dict[str, int]:
    """The synthetic journeys of ``cases`` survivors; returns what the store now holds,
    by resource type (conditional creates make reloading add nothing)."""
    from server.synth import journeys

    store = open_store(settings.store)
    try:
        types = load_bundles(store, settings, journeys(cases, seed))
        return {type: store.count(type) for type in sorted(types)}
    finally:
        store.close()


def load_bundles(store: Store, settings: Settings, bundles: Iterable[dict]) -> set[str]:
    """POST each transaction bundle in order; returns the resource types it touched."""
    ctx = Context(Repository(store, AccessGate()), settings, ANONYMOUS, INTERNAL_BASE)
    types: set[str] = set()
    for bundle in bundles:
        dispatch(ctx, FhirRequest("POST", "", parsed=bundle,
                                  headers={"prefer": "return=minimal"}))
        types.update(entry["resource"]["resourceType"] for entry in bundle.get("entry", [])
                     if isinstance(entry.get("resource"), dict))
    return types

