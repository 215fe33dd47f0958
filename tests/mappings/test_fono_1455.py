"""The 1455 hotline mapping (``mappings/fono-1455.json``) over the institutions' fixture
``hotline-1455/calls.csv``: the outcomes and messy cases of
``shared/fixtures/institutions/README.md`` (6.1, 6.2) through the pure engine, then
``amparo ingest`` into a real SQLite store: every transaction passes the guide's
profiles, the report names each rejected row's field and problem, a dry run stores
nothing and a second run writes nothing."""

from __future__ import annotations

import csv
import json
from collections import Counter

from click.testing import CliRunner

import mappings
from mappings.engine import CONTACT, DUPLICATE, INGESTED, REJECTED
from server.cli import main
from server.store import open_store
from server.store.port import AuditQuery
from tests.mappings.records import FIXTURES
from tests.stores import sqlite_only

MAPPING = "fono-1455"
FILE = FIXTURES / "hotline-1455" / "calls.csv"


def patient(result: mappings.Result) -> dict:
    return next(e["resource"] for e in result.bundle["entry"]
                if e["resource"]["resourceType"] == "Patient")


def test_outcomes_per_file_as_the_ground_truth_says(results):
    assert len(results) == 40
    assert Counter(r.outcome for r in results) == {INGESTED: 27, CONTACT: 11, DUPLICATE: 1,
                                                   REJECTED: 1}
    by_row = {r.position: r.outcome for r in results}
    assert [n for n, o in by_row.items() if o == CONTACT] == [2, 4, 7, 10, 12, 15, 22, 27,
                                                               34, 37, 40]
    assert by_row[6] == DUPLICATE and by_row[29] == REJECTED


def test_the_messy_rows(results):
    future = results[28]
    assert future.reason == "llamada: fecha 2062-03-15 posterior a la extracción (2026-09-30)"
    wrong_digit = results[29]  # row 30: kept, unverified, never used to link
    assert patient(wrong_digit)["identifier"][0] == {
        "use": "secondary", "system": "https://fhir.amparo.cl/sid/run-no-verificado",
        "value": "42230917-1"}
    assert "dígito verificador" in wrong_digit.issues[0].message
    not_a_comuna = results[31]  # row 32: Bajos de Mena
    assert "address" not in patient(not_a_comuna)
    assert not_a_comuna.issues[0].field == "comuna"
    mother = patient(results[15])  # row 16: her mother calls, name only, odd spacing
    assert mother["name"][0]["given"] == ["Camila", "Andrea"]
    assert mother["name"][0]["family"] == "Rojas"
    assert "telecom" not in mother  # the caller's phone is not hers
    dotted = patient(results[18])  # row 19: RUN with dots
    assert dotted["identifier"][0]["value"] == "42845541-K"
    multiline = results[38]  # row 39: a line break inside observaciones, one record
    assert multiline.outcome == INGESTED and multiline.key == "1455-2026-000170"


def test_a_survivor_is_created_conditionally_on_her_run_or_her_call(results):
    with_run = results[0].bundle["entry"][0]["request"]
    assert with_run == {"method": "POST", "url": "Patient", "ifNoneExist":
                        "identifier=http://regcivil.cl/Validacion/RUN|40611189-K"}
    without = results[7].bundle["entry"][0]["request"]
    assert without["ifNoneExist"] == (
        "identifier=https://fhir.amparo.cl/sid/registro/fono-1455|1455-2025-000475")


@sqlite_only
def test_amparo_ingest_stores_reports_and_is_idempotent(tmp_path, data):
    store = f"sqlite:///{tmp_path / 'ingest.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--store", store]).exit_code == 0
    args = ["ingest", "--store", store, "--mapping", "fono-1455", str(FILE),
            "--extracted", "2026-09-30"]
    dry = runner.invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    opened = open_store(store)
    try:
        assert opened.count("Encounter") == 0  # a dry run stores nothing
        report = tmp_path / "report.csv"
        first = runner.invoke(main, [*args, "--report", str(report)])
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stdout.strip().splitlines()[-1])
        assert (summary["ingested"], summary["contact-only"], summary["duplicate"],
                summary["rejected"]) == (27, 11, 1, 1)  # every transaction was accepted
        assert opened.count("Encounter") == 38
        assert opened.count("Provenance") == 38
        audited = opened.audit_search(AuditQuery(client=("ingest:fono-1455",), total=True))
        assert audited.total == 38  # each stored record's transaction, as its institution
        assert {e.institution for e in audited.entries} == {"Organization/linea-1455"}
        versions = opened.version_count()
        rows = list(csv.DictReader(report.open(encoding="utf-8")))
        assert len({r["registro"] for r in rows}) == 40
        [rejected] = [r for r in rows if r["resultado"] == REJECTED]
        assert (rejected["registro"], rejected["campo"]) == ("29", "llamada")
        again = runner.invoke(main, args)
        assert again.exit_code == 0, again.output
        assert opened.version_count() == versions  # re-ingesting changes nothing
    finally:
        opened.close()
    outcome = tmp_path / "report.json"
    runner.invoke(main, [*args, "--dry-run", "--report", str(outcome)])
    issues = json.loads(outcome.read_text())["issue"]
    assert any(i["severity"] == "error" and i["expression"] == ["llamada"] for i in issues)


def test_amparo_ingest_refuses_what_it_cannot_do(tmp_path):
    runner = CliRunner()
    listed = runner.invoke(main, ["ingest", "--list"])
    assert "fono-1455" in listed.output
    unknown = runner.invoke(main, ["ingest", "--mapping", "nada", str(tmp_path)])
    assert unknown.exit_code != 0
    empty = tmp_path / "vacio.csv"
    empty.write_bytes(b"\xff\xfe no es utf-8")
    store = f"sqlite:///{tmp_path / 'x.db'}"
    bad = runner.invoke(main, ["ingest", "--store", store, "--mapping", "fono-1455",
                               str(empty)])
    assert bad.exit_code != 0
    assert "utf-8" in bad.stderr
