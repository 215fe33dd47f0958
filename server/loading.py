"""Loading into a store in-process: ``amparo init`` and ``amparo demo``.

Data bundles go through the same route table as HTTP requests (``dispatch``), so loaded
data is validated, indexed and versioned exactly like data a partner system sends.

Conformance resources (the IG's StructureDefinitions, SearchParameters and
OperationDefinitions, the external definitions it uses, every CodeSystem, ValueSet and
ConceptMap of ``terminology``) are
read-only through the API (``server.api.write.READ_ONLY_TYPES``): ``load_resources``
writes them through the repository instead, by their own ids, with the same structure
validation, search indexing and versioning as an HTTP update (an unchanged resource gets
no new version, so reloading changes nothing). Those the server no longer ships (a
renamed profile, a retired value set) are deleted by the same load, so that the store
serves exactly the definitions it enforces; their history stays.
"""

from __future__ import annotations

from collections.abc import Iterable

from profiles import ig, validate_structure
from server import errors
from server.access import ANONYMOUS, AccessGate
from server.api.flask_app import blueprint  # noqa: F401 (registers the routes)
from server.api.router import Context, FhirRequest, dispatch
from server.api.write import READ_ONLY_TYPES
from server.config import Settings
from server.plans import package_resources
from server.repository import Repository
from server.search.query import SearchQuery
from server.store import Reader, Store, open_store
from server.validation import Valid, check_type
from terminology import registry

INTERNAL_BASE = "urn:amparo:local"


def initialise(settings: Settings) -> dict:
    """Schema, the conformance resources, the minimum service package (a PlanDefinition
    clients read and ``$apply``), then the institutions (client-assigned ids: reloading
    changes nothing new)."""
    from server.synth import institutions_bundle

    store = open_store(settings.store)
    try:
        store.init()
        conformance = load_resources(store, conformance_resources(), complete=True)
        plans = load_resources(store, package_resources())  # the minimum service package
        load_bundles(store, settings, [institutions_bundle()])
        return {"store": settings.store, "conformance": conformance, "plans": plans,
                "institutions": store.count("Organization")}
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


#: The demo's clients: (institution, purposes of use). Each gets ``system/*.cruds``.
DEMO_CLIENTS = (
    ("linea-1455", ("COC", "TREAT", "THREAT", "BTG")),
    ("carabineros", ("THREAT", "COC", "BTG")),
    ("fiscalia-nacional", ("HLEGAL", "THREAT", "COC")),
    ("sernameg", ("COC", "TREAT", "PUBHLTH")),
)


def demo_clients(settings: Settings) -> list[dict]:
    """Register (again) one client per demo institution, ``demo-<institution>``, each with
    a new secret (only its hash is stored, so reloading the demo issues new secrets);
    returns their credentials."""
    from server.auth.clients import register

    store = open_store(settings.store)
    try:
        store.init()
        return [register(store, org, f"Demo {org}", ["system/*.cruds"], list(purposes),
                         client_id=f"demo-{org}").credentials()
                for org, purposes in DEMO_CLIENTS]
    finally:
        store.close()


def load_bundles(store: Store, settings: Settings, bundles: Iterable[dict]) -> set[str]:
    """POST each transaction bundle in order; returns the resource types it touched."""
    ctx = Context(Repository(store, AccessGate(store)), settings, ANONYMOUS, INTERNAL_BASE)
    types: set[str] = set()
    for bundle in bundles:
        dispatch(ctx, FhirRequest("POST", "", parsed=bundle,
                                  headers={"prefer": "return=minimal"}))
        types.update(entry["resource"]["resourceType"] for entry in bundle.get("entry", [])
                     if isinstance(entry.get("resource"), dict))
    return types


def conformance_resources() -> list[dict]:
    """Every conformance resource this server serves, each with its own id: our
    StructureDefinitions (profiles and extensions), the external definitions they use,
    our SearchParameters, OperationDefinitions, SubscriptionTopics and Measures (the
    indicators), and the terminology
    registry's CodeSystems, ValueSets and ConceptMaps (national code systems and HL7 value
    sets included)."""
    found = [*ig.structure_definitions(), *ig.external_definitions(), *ig.search_parameters(),
             *ig.operation_definitions(), *ig.subscription_topics(), *ig.measures()]
    for type in registry.TYPES:
        found.extend(registry.all_of(type))
    return found


def load_resources(store: Store, resources: Iterable[dict], *,
                   complete: bool = False) -> dict[str, int]:
    """Write ``resources`` by their ids (an update, or create with that id) in one unit of
    work, bypassing the API's read-only guard: the internal path for conformance
    resources. ``complete``: ``resources`` is every conformance resource the server
    ships, and stored ones of those types that are not among them are deleted. Returns
    how many were ``created``, ``updated``, ``unchanged`` and ``removed``.

    Raises ValueError (nothing written) for a resource without an id or that is not
    valid R4B.
    """
    repo = Repository(store, AccessGate(store))
    counts = {"created": 0, "updated": 0, "unchanged": 0, "removed": 0}
    shipped: set[tuple[str, str]] = set()
    with repo.write(ANONYMOUS) as w:
        for resource in resources:
            valid = _valid(resource)
            type, id = resource["resourceType"], resource["id"]
            shipped.add((type, id))
            before = w.uow.read(type, id)
            outcome = repo.update(w, type, id, valid)
            if outcome.status == 201:
                counts["created"] += 1
            elif before is not None and outcome.version is not None \
                    and outcome.version.version == before.version:
                counts["unchanged"] += 1
            else:
                counts["updated"] += 1
        if complete:  # the whole set: what the server no longer ships goes
            for type, id in sorted(_stored(w.uow, READ_ONLY_TYPES) - shipped):
                repo.delete(w, type, id)
                counts["removed"] += 1
        w.uow.commit()
    return counts


def _stored(reader: Reader, types: Iterable[str]) -> set[tuple[str, str]]:
    """Every current (type, id) of ``types``, page by page."""
    found: set[tuple[str, str]] = set()
    for type in types:
        found.update((v.type, v.id) for v in reader.scan(SearchQuery(type, count=500,
                                                                     total=False)))
    return found


def _valid(resource: dict) -> Valid:
    """``resource`` checked like an HTTP write (R4B structure), as ``Valid``."""
    try:
        type = check_type(resource)
    except errors.FhirError as error:
        raise ValueError(f"cannot load a conformance resource: {error.diagnostics}") from None
    if not isinstance(resource.get("id"), str):
        raise ValueError(f"a {type} to load has no id")
    problems = validate_structure(resource)
    if problems:
        listed = "; ".join(f"{p.expression}: {p.diagnostics}" for p in problems[:5])
        raise ValueError(f"{type}/{resource['id']} is not valid R4B ({len(problems)} "
                         f"problem(s)): {listed}")
    return Valid(resource)
