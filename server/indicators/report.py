"""``amparo report``: the indicators of a period as files an analyst opens: CSV tables
(UTF-8 with BOM, so that a spreadsheet reads the accents; comma-separated) and charts
for a slide (``charts.py``), with a ``LEEME.txt`` that says what they hold.

Everything written comes from one ``Evaluation`` and its small-cell protection: a
hidden figure is written ``oculto`` in a table and drawn as a hatched, empty bar.

- ``indicadores.csv``: every Measure, group and stratum (a row per stratum), with its
  populations, numerator, result (rate or median hours) and unit;
- ``desempeno_instrumentos.csv``: each risk instrument's AUC (with its 95% interval)
  and the sensitivity and specificity at each of its levels, for a new incident within
  3 and 12 months (``instruments.py``);
- ``casos_por_mes.csv`` / ``.png``, ``casos_por_region.csv`` / ``.png``,
  ``distribucion_riesgo.csv`` / ``.png``, ``embudo_derivaciones.csv`` / ``.png``: the
  figures behind each chart.
"""

from __future__ import annotations

import csv
from pathlib import Path

from server.indicators import charts
from server.indicators.definitions import Group, definitions
from server.indicators.evaluation import Evaluation
from server.indicators.ledger import strata
from server.indicators.strata import label

__all__ = ["HIDDEN", "write_report"]

HIDDEN = "oculto"
_INSTRUMENT_HEADER = ["instrumento", "ventana", "evaluadas", "con_nuevo_hecho",
                      "sin_nuevo_hecho", "auc", "auc_ic95_inferior", "auc_ic95_superior",
                      "umbral_nivel", "sensibilidad", "especificidad"]
_HEADER = ["medida", "indicador", "grupo", "estratificador", "estrato", "codigo_estrato",
           "poblacion", "numerador", "resultado", "unidad"]
_LEVELS = ("bajo", "medio", "alto", "vital", "vital-alto", "sin-evaluacion")
_FUNNEL = (("derivaciones-enviadas", "Enviadas"), ("derivaciones-aceptadas", "Aceptadas"),
           ("derivaciones-iniciadas", "Con atención iniciada"),
           ("derivaciones-completadas", "Completadas"))


def write_report(evaluation: Evaluation, out: Path) -> list[Path]:
    """Write the report's files into ``out`` (created if missing); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [_table(out / "indicadores.csv", _HEADER, _indicator_rows(evaluation)),
               _table(out / "desempeno_instrumentos.csv", _INSTRUMENT_HEADER,
                      _instrument_rows(evaluation))]
    figures = {
        "casos_por_mes": ("Mes", [(m, evaluation.count("casos-nuevos", "mes", m))
                                  for m in evaluation.period.months()]),
        "casos_por_region": ("Región", _by(evaluation, "casos-nuevos", "region")),
        "distribucion_riesgo": ("Nivel de riesgo", [
            (label("nivel-riesgo", level), evaluation.count("casos-nuevos", "nivel-riesgo",
                                                             level)) for level in _LEVELS]),
        "embudo_derivaciones": ("Etapa", [(name, evaluation.count(population))
                                          for population, name in _FUNNEL]),
    }
    for name, (what, rows) in figures.items():
        written.append(_table(out / f"{name}.csv", [what.lower().replace(" ", "_"), "casos"
                                                    if name != "embudo_derivaciones"
                                                    else "derivaciones"],
                              [[key, _shown(value)] for key, value in rows]))
        written.append(charts.draw(name, rows, evaluation, out / f"{name}.png"))
    written.append(_readme(evaluation, out / "LEEME.txt"))
    return written


def _indicator_rows(evaluation: Evaluation) -> list[list[str]]:
    rows = []
    for measure in definitions().values():
        for group in measure.groups:
            rows.append(_row(evaluation, measure.id, measure.title, group, None, None))
            for dimension in group.stratifiers:
                for value in strata(evaluation.populations[group.base], dimension):
                    rows.append(_row(evaluation, measure.id, measure.title, group,
                                     dimension, value))
    return rows


def _instrument_rows(evaluation: Evaluation) -> list[list[str]]:
    """One row per instrument, window and level threshold."""
    return [[label("instrumento-riesgo", p.instrument), p.window, _shown(p.assessed),
             _shown(p.positives), _shown(p.negatives), _number(p.auc), _number(p.low),
             _number(p.high), label("nivel-riesgo", t.level), _number(t.sensitivity),
             _number(t.specificity)]
            for p in evaluation.instruments for t in p.thresholds]


def _number(value: float | None) -> str:
    return HIDDEN if value is None else f"{value:.4f}"


def _row(evaluation: Evaluation, id: str, title: str, group: Group, dimension: str | None,
         value: str | None) -> list[str]:
    numerator = group.named("numerator")
    result, unit = "", ""
    if group.scoring == "proportion" and evaluation.ledger.values.get(
            (group.base, dimension, value), 0):
        rate = evaluation.rate(numerator, group.base, dimension, value)
        result, unit = (HIDDEN if rate is None else f"{rate:.4f}"), "proporción"
    elif group.scoring == "continuous-variable":
        observed, median = evaluation.median(group.base, dimension, value)
        if observed:
            result, unit = (HIDDEN if median is None else f"{median:.1f}"), "horas (mediana)"
    return [id, title, group.display, dimension or "", label(dimension, value) if dimension
            else "total", value or "", _shown(evaluation.count(group.base, dimension, value)),
            _shown(evaluation.count(numerator, dimension, value)) if numerator else "",
            result, unit]


def _by(evaluation: Evaluation, population: str, dimension: str) -> list[tuple[str, int | None]]:
    rows = [(label(dimension, v), evaluation.count(population, dimension, v))
            for v in strata(evaluation.populations[population], dimension)]
    return sorted(rows, key=lambda r: (r[1] is None, -(r[1] or 0), r[0]))


def _shown(value: int | None) -> str:
    return HIDDEN if value is None else str(value)


def _table(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _readme(evaluation: Evaluation, path: Path) -> Path:
    period = evaluation.period
    path.write_text(
        f"Indicadores de Amparo, período {period.first:%d-%m-%Y} a {period.last:%d-%m-%Y}\n"
        f"Calculados el {evaluation.now:%d-%m-%Y %H:%M} UTC.\n\n"
        "Protección de celdas pequeñas: todo conteo entre 1 y "
        f"{evaluation.threshold - 1} se publica como «{HIDDEN}», y también otras celdas "
        "(supresión complementaria) para que ninguna celda oculta pueda deducirse de los "
        "totales ni de las demás celdas. Las tasas y medianas calculadas sobre menos de "
        f"{evaluation.threshold} casos también se ocultan.\n"
        "Las mujeres que rechazaron el uso estadístico de sus datos no se cuentan en ningún "
        "indicador.\n\n"
        "Las definiciones de cada indicador están en sus Measure (GET [base]/Measure/[id]) "
        "y en la guía de implementación (docs/ig/index.md, sección Indicadores).\n",
        encoding="utf-8")
    return path
