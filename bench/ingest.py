#!/usr/bin/env python3
"""Ingestion benchmark (issue 9): rows per second per source, for the mapping alone
(``mappings.convert``: read, convert, translate codes, fill templates) and for the whole
ingestion into a fresh SQLite store (``server.ingest.ingest``: one transaction per
record through the route table, validated against the guide's profiles, linked, with
the platform's write rules; early warning and subscriptions run later, on the outbox, in
a served process, and are not counted here).

Each source's fixture (``../shared/fixtures/institutions``) is repeated ``--copies``
times under fresh record keys (the same women, new calls, complaints, visits and
intakes), so every copy is new work rather than an unchanged re-ingest.

Prints one JSON line per source and a summary table.

Usage: python bench/ingest.py [--copies 10] [--only NAME]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hl7  # noqa: E402

import mappings  # noqa: E402
from server.config import Settings  # noqa: E402
from server.ingest import ingest  # noqa: E402
from server.loading import initialise  # noqa: E402
from server.store import open_store  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures" / "institutions"
SOURCES = {"fono-1455": "hotline-1455/calls.csv", "policia": "police/denuncias.json",
           "salud-urgencias": "health/urgencias.hl7", "sernameg-cdm": "sernameg/ingresos.csv"}
EXTRACTED = date(2026, 9, 30)


def repeated(mapping: dict, data: bytes, copies: int) -> bytes:
    """``data`` ``copies`` times, each copy's record keys suffixed with its number."""
    reader = mapping["reader"]
    key_path = mapping["fields"][mapping["key"]]["path"]
    if reader["format"] == "csv":
        encoding = reader.get("encoding", "utf-8")
        rows = list(csv.DictReader(io.StringIO(data.decode(encoding), newline=""),
                                   delimiter=reader.get("delimiter", ",")))
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=list(rows[0]),
                                delimiter=reader.get("delimiter", ","))
        writer.writeheader()
        for n in range(copies):
            writer.writerows({**r, key_path: f"{r[key_path]}-{n}"} for r in rows)
        return out.getvalue().encode(encoding)
    if reader["format"] == "json":
        items = json.loads(data)
        out_items = []
        for n in range(copies):
            for item in items:
                copy = json.loads(json.dumps(item))
                copy[key_path] = f"{item[key_path]}-{n}"
                out_items.append(copy)
        return json.dumps(out_items, ensure_ascii=False).encode()
    messages = hl7.split_file(data.decode(reader.get("encoding", "utf-8")))
    out_messages = []
    for n in range(copies):
        for raw in messages:
            control = str(hl7.parse(raw).segment("MSH")[10])
            out_messages.append(raw.replace(f"|{control}|", f"|{control}-{n}|", 1))
    return "".join(m if m.endswith("\r") else m + "\r" for m in out_messages).encode()


def measure(name: str, copies: int, workdir: Path) -> dict:
    mapping = mappings.load(name)
    data = repeated(mapping, (FIXTURES / SOURCES[name]).read_bytes(), copies)
    started = time.perf_counter()
    results = list(mappings.convert(mapping, data, SOURCES[name], EXTRACTED))
    mapped_s = time.perf_counter() - started
    url = f"sqlite:///{workdir / name}.db"
    initialise(Settings(store=url))
    store = open_store(url)
    try:
        started = time.perf_counter()
        summary = ingest(store, Settings(store=url), mapping, data, SOURCES[name],
                         extracted=EXTRACTED)
        ingested_s = time.perf_counter() - started
    finally:
        store.close()
    rows = len(results)
    return {"benchmark": "ingest", "mapping": name, "rows": rows, "copies": copies,
            "map_rows_s": round(rows / mapped_s, 1),
            "ingest_rows_s": round(rows / ingested_s, 1),
            "outcomes": summary.counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--only", choices=sorted(SOURCES), default=None)
    args = parser.parse_args()
    if not FIXTURES.exists():
        sys.exit(f"bench/ingest.py: {FIXTURES} is missing")
    names = [args.only] if args.only else [n for n in SOURCES if n in mappings.names()]
    lines = []
    with tempfile.TemporaryDirectory() as workdir:
        for name in names:
            line = measure(name, args.copies, Path(workdir))
            print(json.dumps(line, ensure_ascii=False), flush=True)
            lines.append(line)
    print("# rows/s per source (mapping alone | whole ingestion into SQLite, profiles strict)")
    for line in lines:
        print(f"{line['mapping']:<16} {line['rows']:>5} rows  map {line['map_rows_s']:>7} "
              f"rows/s  ingest {line['ingest_rows_s']:>6} rows/s")


if __name__ == "__main__":
    main()
