"""``amparo report --period P --out DIR --store URL`` run as a real subprocess over a
SQLite file holding ``dataset.load_many``'s 28 cases of 2025 (a subprocess cannot share
an in-memory mongomock store, so this test uses SQLite whatever ``AMPARO_TEST_STORE``
says): the files exist, the CSV tables parse with the hand-checked figures, the charts
are valid PNG images, and a bad period or store fails with a message."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import pytest

from server.store import open_store
from tests.server.indicators import dataset
from tests.server.test_cli import run

CHARTS = ("casos_por_mes", "casos_por_region", "distribucion_riesgo", "embudo_derivaciones")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("report")
    store = open_store(f"sqlite:///{where / 'a.db'}")
    try:
        store.init()
        dataset.load_many(store)
    finally:
        store.close()
    return where


def table(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


def test_the_report_writes_csv_tables_and_png_charts(folder):
    result = run("report", "--period", "2025", "--out", "out", "--store", "sqlite:///a.db",
                 cwd=folder)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["period"] == {"start": "2025-01-01", "end": "2025-12-31"}
    assert summary["threshold"] == 5
    out = folder / "out"
    assert {Path(p).name for p in summary["files"]} == {
        "indicadores.csv", "desempeno_instrumentos.csv", "LEEME.txt",
        *(f"{c}.csv" for c in CHARTS),
        *(f"{c}.png" for c in CHARTS)}

    months = table(out / "casos_por_mes.csv")
    assert [(r["mes"], r["casos"]) for r in months] == [
        ("2025-01", "6"), ("2025-02", "5"), ("2025-03", "6"), ("2025-04", "5"),
        ("2025-05", "6"), *((f"2025-{m:02d}", "0") for m in range(6, 13))]
    regions = {r["región"]: r["casos"] for r in table(out / "casos_por_region.csv")}
    # 17 in Santiago's region, 8 in Valparaíso's, 3 unknown: the 3 hidden with a partner
    assert regions["Metropolitana de Santiago"] == "17"
    assert regions["Sin dato"] == "oculto" and list(regions.values()).count("oculto") >= 2
    risk = {r["nivel_de_riesgo"]: r["casos"] for r in table(out / "distribucion_riesgo.csv")}
    # of 28: alto 9, medio 6, bajo 3, vital 2, none 8 (the levels cycle every 10)
    assert (risk["Alto"], risk["Medio"], risk["Sin evaluación"]) == ("9", "6", "8")
    assert risk["Bajo"] == risk["Vital"] == "oculto" and risk["Vital/alto"] == "0"

    rows = table(out / "indicadores.csv")
    assert set(rows[0]) == {"medida", "indicador", "grupo", "estratificador", "estrato",
                            "codigo_estrato", "poblacion", "numerador", "resultado", "unidad"}
    [total] = [r for r in rows if r["medida"] == "casos-nuevos" and r["estrato"] == "total"]
    assert total["poblacion"] == "28"
    [assessed] = [r for r in rows if r["medida"] == "evaluacion-riesgo"]
    assert (assessed["poblacion"], assessed["numerador"], assessed["resultado"]) == (
        "28", "20", f"{20 / 28:.4f}")

    instruments = table(out / "desempeno_instrumentos.csv")
    # 20 women assessed with the CDM's instrument, none with a later incident: no
    # positives, so no AUC; one row per window and level
    assert {(r["instrumento"], r["ventana"]) for r in instruments} == {
        ("Evaluación de riesgo del Centro de la Mujer", "3 meses"),
        ("Evaluación de riesgo del Centro de la Mujer", "12 meses")}
    assert len(instruments) == 8
    assert {(r["evaluadas"], r["con_nuevo_hecho"], r["auc"]) for r in instruments} == {
        ("20", "0", "oculto")}

    for chart in CHARTS:
        data = (out / f"{chart}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        assert matplotlib.image.imread(out / f"{chart}.png").shape[:2] == (843, 1500)
    assert "celdas" in (out / "LEEME.txt").read_text(encoding="utf-8").lower()


def test_a_month_is_a_period_too(folder):
    result = run("report", "--period", "2025-02", "--out", "feb", "--store",
                 "sqlite:///a.db", cwd=folder)
    assert result.returncode == 0, result.stderr
    assert [r["mes"] for r in table(folder / "feb" / "casos_por_mes.csv")] == ["2025-02"]


@pytest.mark.parametrize("period", ["2025-13", "hoy", "2025-01-15", "25"])
def test_a_bad_period_fails_with_a_message(folder, period):
    result = run("report", "--period", period, "--out", "bad", "--store", "sqlite:///a.db",
                 cwd=folder)
    assert result.returncode != 0
    assert result.stderr.startswith("amparo: report:"), result.stderr
    assert not (folder / "bad").exists()


def test_a_bad_store_or_threshold_fails_with_a_message(folder):
    result = run("report", "--period", "2025", "--out", "x", "--store", "postgres://db",
                 cwd=folder)
    assert result.returncode != 0 and "unsupported store URL" in result.stderr
    result = run("report", "--period", "2025", "--out", "x", "--store", "sqlite:///a.db",
                 cwd=folder, env={"AMPARO_INDICATOR_MIN_CELL": "uno"})
    assert result.returncode != 0 and "AMPARO_INDICATOR_MIN_CELL" in result.stderr
