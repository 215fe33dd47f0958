"""Microseconds per AuditEvent appended to the trail (``server.audit.trail.append``).

Why: every request, reads included, appends at least one AuditEvent in its unit of
work, so the append is a cost every interaction pays, while the unit holds the store's
write lock. An event is one lean record (``AuditEntry``: the sealed JSON and the values
auditors search on, ``UnitOfWork.append_audit``), not a resource version with a search
index. Reported: a whole committed unit holding one append (``unit_with_1_append_us``,
the headline figure) against an empty one (the difference is mostly the commit and
its WAL flush, which a read request now pays too); the time spent inside ``append``
per event, in units holding 1 and 10 appends (what the lock is held for); the
pure-computation parts (event building, seal, the record and its JSON) timed on their
own; and ``amparo audit verify``'s cost per event over everything appended.

Usage: ``.venv/bin/python bench/audit_append.py [--rounds N] [--store URL]`` (default: a
SQLite file in a temporary folder; ``mongomock://bench/audit`` for the MongoDB adapter
over mongomock, which says little about a real server).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from server import clock  # noqa: E402
from server.audit import chain  # noqa: E402
from server.audit.events import Interaction, audit_event  # noqa: E402
from server.audit.trail import POSITION, append, check, entry_of  # noqa: E402
from server.store import open_store  # noqa: E402


def _event(i: int) -> dict:
    return audit_event(Interaction("read", (f"Observation/o{i}",), "Patient/p1"),
                       recorded="2026-11-28T10:00:00-03:00", permitted=True,
                       client_id="cliente", institution="Organization/cdm", user="u1",
                       purpose="TREAT", basis=("policy:ley-21675.json#fiscalia",))


def _per_item_us(run, items: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) / items * 1e6)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--units", type=int, default=2000, help="units of work per round")
    parser.add_argument("--store", default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(args.store or f"sqlite:///{Path(folder) / 'bench.db'}")
        store.init()
        event = _event(1)
        units = args.units

        def empty_units() -> None:
            for _ in range(units):
                with store.unit_of_work() as uow:
                    uow.commit()

        inside: list[float] = []  # seconds spent in append calls, per round

        def units_of(size: int):
            def run() -> None:
                spent = 0.0
                for i in range(units // size):
                    with store.unit_of_work() as uow:
                        events = [(_event(i * size + j), clock.now()) for j in range(size)]
                        started = time.perf_counter()
                        for raw, at in events:
                            append(uow, raw, at)
                        spent += time.perf_counter() - started
                        uow.commit()
                inside.append(spent / (units // size * size) * 1e6)
            return run

        def build() -> None:
            for i in range(units):
                _event(i)

        def seal() -> None:
            positioned = {**event, "extension": [{"url": POSITION, "valueInteger": 1}]}
            for _ in range(units):
                chain.seal(positioned, chain.GENESIS)

        def record() -> None:
            body = {"resourceType": "AuditEvent", "id": "x",
                    "meta": {"versionId": "1", "lastUpdated": "2026-11-28T13:00:00Z"},
                    **chain.seal(event, chain.GENESIS)}
            for _ in range(units):
                entry_of(body, 1)  # the JSON and the searchable values

        floor = _per_item_us(empty_units, units, args.rounds)
        one = _per_item_us(units_of(1), units, args.rounds)
        in_one, inside[:] = statistics.median(inside), []
        _per_item_us(units_of(10), units, args.rounds)
        in_ten = statistics.median(inside)
        report = {
            "store": store.url.split(":")[0],
            "empty_unit_us": round(floor, 1),
            "unit_with_1_append_us": round(one, 1),
            "append_in_unit_of_1_us": round(in_one, 1),
            "append_in_unit_of_10_us": round(in_ten, 1),
            "build_event_us": round(_per_item_us(build, units, args.rounds), 1),
            "seal_us": round(_per_item_us(seal, units, args.rounds), 1),
            "record_and_dumps_us": round(_per_item_us(record, units, args.rounds), 1),
        }
        started = time.perf_counter()
        verified = check(store)
        report["verify_events"] = verified.checked
        report["verify_us_per_event"] = round(
            (time.perf_counter() - started) / max(verified.checked, 1) * 1e6, 1)
        report["intact"] = verified.intact
        store.close()
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
