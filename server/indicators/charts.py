"""The report's charts, drawn with matplotlib's Agg backend (no display needed) as PNG
files sized for a 16:9 slide: bars with their values written on them, Spanish titles,
and the source and the small-cell rule in a footnote. A hidden figure is an empty,
hatched bar labelled "oculto", so that nobody reads it as a zero."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from server.indicators.evaluation import Evaluation  # noqa: E402

__all__ = ["draw"]

_TITLES = {
    "casos_por_mes": ("Casos nuevos por mes", "Casos nuevos"),
    "casos_por_region": ("Casos nuevos por región de residencia", "Casos nuevos"),
    "distribucion_riesgo": ("Nivel de riesgo de los casos nuevos", "Casos nuevos"),
    "embudo_derivaciones": ("Embudo de derivaciones entre instituciones", "Derivaciones"),
}
_HORIZONTAL = {"casos_por_region", "embudo_derivaciones"}
_COLOUR, _HIDDEN_COLOUR = "#5b2a86", "#bbbbbb"
_MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")


def draw(name: str, rows: list[tuple[str, int | None]], evaluation: Evaluation,
         path: Path) -> Path:
    """Draw chart ``name`` of ``rows`` ((label, value or None when hidden)) into ``path``."""
    title, axis = _TITLES[name]
    labels = [_month(label) if name == "casos_por_mes" else str(label) for label, _ in rows]
    top = max((value or 0 for _, value in rows), default=0) or 1
    figure, ax = plt.subplots(figsize=(10, 5.625), dpi=150)
    try:
        horizontal = name in _HORIZONTAL
        positions = list(range(len(rows)))[::-1] if horizontal else list(range(len(rows)))
        hidden_height = top * 0.05
        heights = [hidden_height if value is None else value for _, value in rows]
        colours = [_HIDDEN_COLOUR if value is None else _COLOUR for _, value in rows]
        bar = ax.barh if horizontal else ax.bar
        bars = bar(positions, heights, color=colours, edgecolor="white")
        for patch, (_, value) in zip(bars, rows, strict=True):
            if value is None:
                patch.set_hatch("//")
                patch.set_facecolor("none")
                patch.set_edgecolor(_HIDDEN_COLOUR)
        ax.bar_label(bars, labels=["oculto" if v is None else f"{v:,}".replace(",", ".")
                                   for _, v in rows], padding=3, fontsize=9)
        (ax.xaxis if horizontal else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
        if horizontal:
            ax.set_yticks(positions, labels)
            ax.set_xlabel(axis)
            ax.set_xlim(0, top * 1.15)
        else:
            ax.set_xticks(positions, labels, rotation=45 if len(rows) > 6 else 0,
                          ha="right" if len(rows) > 6 else "center")
            ax.set_ylabel(axis)
            ax.set_ylim(0, top * 1.15)
        period = evaluation.period
        ax.set_title(f"{title}\n{period.first:%d-%m-%Y} a {period.last:%d-%m-%Y}",
                     fontsize=14, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        figure.text(0.01, 0.01, "Fuente: Amparo. Celdas con menos de "
                    f"{evaluation.threshold} casos (y sus complementarias) ocultas; sin "
                    "las mujeres que rechazaron el uso estadístico.", fontsize=8,
                    color="#555555")
        figure.tight_layout(rect=(0, 0.04, 1, 1))
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return path


def _month(text: str) -> str:
    """``2025-03`` as ``mar 2025``."""
    year, month = text.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"
