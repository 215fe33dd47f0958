"""A crash mid-file loses nothing and half-writes nothing: ``amparo ingest`` is SIGKILLed
while it loads a file, every record is then either whole or absent (each record is one
transaction), and running the file again ends exactly where one clean run ends."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time

import pytest

from server.config import Settings
from server.loading import initialise
from server.store import open_store
from tests.conftest import SHARED
from tests.stores import sqlite_only

CALLS = SHARED / "fixtures" / "institutions" / "hotline-1455" / "calls.csv"
COPIES = 8  # the fixture's 40 calls, eight times over under new keys: 320 records


def bigger_file(path) -> None:
    """The hotline fixture repeated with fresh call ids (the women are the same)."""
    text = CALLS.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";")
    writer.writeheader()
    for copy in range(COPIES):
        for row in rows:
            writer.writerow({**row, "id_atencion": f"{row['id_atencion']}-{copy}"})
    path.write_bytes(out.getvalue().encode("utf-8-sig"))


def ingest(store: str, file, wait: bool = True) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "ingest", "--store",
         store, "--mapping", "fono-1455", str(file), "--extracted", "2026-09-30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    if wait:
        assert process.wait(timeout=300) == 0
    return process


def counts(url: str) -> dict:
    store = open_store(url)
    try:
        return {type: store.count(type) for type in
                ("Patient", "Encounter", "Observation", "RiskAssessment", "Provenance",
                 "Linkage", "EpisodeOfCare")}
    finally:
        store.close()


@sqlite_only
def test_a_killed_ingest_leaves_whole_records_and_a_rerun_completes_the_file(tmp_path):
    if not CALLS.exists():
        pytest.skip(f"{CALLS} is absent: the institutions' fixtures are not on this machine")
    file = tmp_path / "calls.csv"
    bigger_file(file)
    clean, crashed = (f"sqlite:///{tmp_path / name}.db" for name in ("clean", "crashed"))
    for url in (clean, crashed):
        initialise(Settings(store=url))
    ingest(clean, file)
    expected = counts(clean)
    process = ingest(crashed, file, wait=False)
    deadline = time.monotonic() + 120
    while counts(crashed)["Encounter"] < 40:  # well into the file
        assert process.poll() is None, "the ingest ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    halfway = counts(crashed)
    assert 40 <= halfway["Encounter"] < expected["Encounter"]
    # whole records only: each stored contact has its Provenance, each record both or none
    assert halfway["Encounter"] == halfway["Provenance"]
    ingest(crashed, file)
    assert counts(crashed) == expected
