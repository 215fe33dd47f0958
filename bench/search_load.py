#!/usr/bin/env python3
"""Bulk loading of a search benchmark data set, in-process, through the storage port.

Loading 100,000 or 1,000,000 resources over HTTP would take most of an hour (ingest is
about 1,500 resources/s), so the search benchmark (``bench/search.py``) writes its data
set straight into the store, through the same code path a transaction takes after its
placeholders are resolved:

- the data are the standard workload's own survivor journeys (``make_bundle`` of
  ``bench/fhir_workload.py``: Patient with a RUN, EpisodeOfCare, Encounter,
  Observation, RiskAssessment, ServiceRequest, Task, referencing five institutions), so
  the workload's ``search`` queries (``--state``) match what is stored;
- each entry gets a server id (``repository.new_id``), its ``urn:uuid`` references are
  rewritten by the transaction's own ``references.rewrite``, it is validated
  (``validation.validate``), then stamped, serialised and indexed by
  ``Repository.prepare`` (``search.extract``) and written with ``UnitOfWork.write``:
  what is stored is exactly what ``POST`` of the same bundle stores;
- resources are written in large units of work (``--unit`` resources each, one commit
  per unit) instead of one per bundle: that is the only difference from ingest;
- ``--jobs`` worker processes prepare the next units while this process writes (the
  preparation is pure computation: ``Repository.prepare`` needs no store).

``--serve PORT`` then serves the loaded store from this process, as ``amparo serve
--workers 1`` would (Granian; its one worker is forked from this process after the load,
so it holds a copy of what was loaded): how ``bench/search.py --store mongomock`` serves
a mongomock store, whose data exist only in the process that wrote them.

Usage: python bench/search_load.py --store sqlite:///big.db --resources 100000
       [--state state.json] [--seed 1] [--unit 2000] [--jobs 2]
       [--serve PORT [--threads 2]]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path

import fhir_workload as wl  # bench/ is the script's directory, first on sys.path

from server import clock
from server.access import ANONYMOUS, AccessGate
from server.api.references import rewrite
from server.repository import Repository, new_id
from server.store import NewVersion, open_store
from server.validation import validate


@dataclass
class Loaded:
    """What was stored: ids by type, the Patients' (id, RUN), the institutions'
    references, and the time it took."""

    organizations: list[str] = field(default_factory=list)
    resources: dict[str, list[str]] = field(default_factory=dict)
    patients: list[list[str]] = field(default_factory=list)
    seconds: float = 0.0
    prepare_seconds: float = 0.0  # CPU seconds spent preparing (in worker processes)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.resources.values())

    def state(self, base: str, seed: int) -> dict:
        """The workload client's ``--state`` file content (generated mode)."""
        return {"base": base, "seed": seed, "organizations": self.organizations,
                "resources": self.resources, "patients": self.patients}


def organizations() -> list[dict]:
    """The workload's institutions (``ensure_institutions`` creates the same ones)."""
    return [{"resourceType": "Organization", "active": True, "name": name,
             "identifier": [{"system": wl.INSTITUTION_SYSTEM, "value": value}],
             "type": [{"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                 "code": kind}]}],
             "address": [{"country": "CL"}]}
            for value, name, kind in wl.INSTITUTIONS]


@dataclass(frozen=True)
class Chunk:
    """Journeys ``first`` .. ``first + count - 1``, the last one cut to ``last_entries``
    entries (the data set's size need not be a multiple of a journey's 7 resources)."""

    seed: int
    organizations: tuple[str, ...]
    first: int
    count: int
    last_entries: int = wl.RESOURCES_PER_BUNDLE


def chunks(seed: int, orgs: list[str], resources: int, unit: int) -> Iterator[Chunk]:
    """``resources`` resources as chunks of about ``unit`` resources (whole journeys)."""
    per = wl.RESOURCES_PER_BUNDLE
    journeys, rest = divmod(resources, per)
    step = max(1, unit // per)
    for first in range(0, journeys, step):
        count = min(step, journeys - first)
        yield Chunk(seed, tuple(orgs), first, count)
    if rest:
        yield Chunk(seed, tuple(orgs), journeys, 1, rest)


def prepare_chunk(chunk: Chunk) -> tuple[list[NewVersion], list[list[str]], float]:
    """(versions, [Patient id, RUN] of each journey, CPU seconds): everything but the
    write, so that worker processes can do it while the store writes the previous unit."""
    t0 = time.process_time()
    repo = Repository(None, AccessGate())  # type: ignore[arg-type]  # prepare needs no store
    versions: list[NewVersion] = []
    patients: list[list[str]] = []
    for index in range(chunk.first, chunk.first + chunk.count):
        bundle, run = wl.make_bundle(chunk.seed, index, list(chunk.organizations))
        entries = bundle["entry"]
        if index == chunk.first + chunk.count - 1:
            entries = entries[:chunk.last_entries]
        mapping = {e["fullUrl"]: f"{e['resource']['resourceType']}/{new_id()}"
                   for e in entries}
        at = clock.now()  # one timestamp per journey, as one transaction has
        for entry in entries:
            version = prepared(repo, mapping[entry["fullUrl"]], entry["resource"], mapping, at)
            if version.type == "Patient":
                patients.append([version.id, run])
            versions.append(version)
    return versions, patients, time.process_time() - t0


def prepared(repo: Repository, identity: str, resource: dict, mapping: dict[str, str],
             at: tuple[str, int]) -> NewVersion:
    """The version ``POST`` would store: placeholders rewritten, validated, prepared."""
    type, _, id = identity.partition("/")
    rewrite(resource, mapping, None)
    return repo.prepare(validate(resource, type), id, 1, at, "POST")


def load(store_url: str, resources: int, seed: int = 1, unit: int = 2000, jobs: int = 2,
         progress: bool = True) -> Loaded:
    """Store ``resources`` resources (the 5 institutions included) in a fresh or existing
    store. ``jobs`` processes prepare the units while this one writes them (1: none)."""
    out = Loaded()
    started = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else None
    store = open_store(store_url)  # opened after the fork: workers hold no connection
    try:
        store.init()
        repo = Repository(store, AccessGate())
        at = clock.now()
        orgs = [prepared(repo, f"Organization/{new_id()}", res, {}, at)
                for res in organizations()]
        _write(repo, orgs, out)
        out.organizations = [f"Organization/{v.id}" for v in orgs]
        work = chunks(seed, out.organizations, resources - len(orgs), unit)
        results = _bounded(pool, work, 2 * jobs) if pool else map(prepare_chunk, work)
        next_report = started + 10
        for versions, patients, cpu in results:
            _write(repo, versions, out)
            out.patients += patients
            out.prepare_seconds += cpu
            now = time.perf_counter()
            if progress and now >= next_report:
                next_report = now + 10
                print(f"# loaded {out.count:,} resources, {out.count / (now - started):,.0f}/s",
                      file=sys.stderr, flush=True)
    finally:
        store.close()
        if pool is not None:
            pool.terminate()
    out.seconds = time.perf_counter() - started
    return out


def _bounded(pool: Pool, work: Iterator[Chunk], window: int
             ) -> Iterator[tuple[list[NewVersion], list[list[str]], float]]:
    """The prepared chunks in order, with at most ``window`` prepared ahead of the writer
    (``Pool.imap`` would queue them all: gigabytes at a million resources)."""
    pending: deque = deque()
    for chunk in work:
        pending.append(pool.apply_async(prepare_chunk, (chunk,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _write(repo: Repository, versions: list[NewVersion], out: Loaded) -> None:
    """One unit of work, one commit."""
    with repo.write(ANONYMOUS) as w:
        for version in versions:
            w.uow.write(version)
        w.uow.commit()
    for version in versions:
        out.resources.setdefault(version.type, []).append(version.id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True,
                        help="sqlite:///path.db, mongodb://host/db, mongomock://bench/db")
    parser.add_argument("--resources", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--unit", type=int, default=2000, help="resources per unit of work")
    parser.add_argument("--jobs", type=int, default=2,
                        help="processes preparing units while this one writes (1: none)")
    parser.add_argument("--state", help="write the workload client's --state file here")
    parser.add_argument("--base", default="http://127.0.0.1:8080/fhir",
                        help="base URL recorded in the state file")
    parser.add_argument("--serve", type=int, metavar="PORT",
                        help="then serve the store on 127.0.0.1:PORT (one Granian worker "
                             "forked from this process) until SIGTERM")
    parser.add_argument("--threads", type=int, default=2, help="threads of the --serve worker")
    args = parser.parse_args()
    if args.serve and multiprocessing.get_start_method() != "fork":
        parser.error("--serve needs the fork start method: the worker inherits the data")
    loaded = load(args.store, args.resources, args.seed, args.unit, args.jobs)
    if args.state:
        Path(args.state).write_text(json.dumps(loaded.state(args.base, args.seed)))
    print(json.dumps({"loaded": loaded.count, "seconds": round(loaded.seconds, 1),
                      "resources_s": round(loaded.count / loaded.seconds),
                      "prepare_cpu_s": round(loaded.prepare_seconds, 1)}), flush=True)
    if args.serve:
        from server.config import Settings
        from server.serve import serve

        serve(Settings.from_env(store=args.store), "127.0.0.1", args.serve, 1, args.threads)


if __name__ == "__main__":
    main()
