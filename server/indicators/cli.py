"""What ``amparo report --period P --out DIR [--store URL]`` does (``server/cli.py`` only
parses its options): evaluate every indicator over the period, read from the store as
the platform, and write the report's files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from server.indicators.evaluation import evaluate
from server.indicators.period import parse_period
from server.indicators.report import write_report
from server.store import open_store

__all__ = ["run_report"]


def run_report(store_url: str, period: str, out: Path, k: int) -> dict:
    """Write the report of ``period`` (``2025``, ``2025-03``) into ``out``; a summary
    (period, threshold, files: not how many survivors were left out, a count that may be
    under the threshold). Raises ValueError for a bad period, store URL or
    threshold, OSError when ``out`` cannot be written."""
    if len(period.strip()) > 7:
        raise ValueError(f"--period {period[:20]!r}: a year (2025) or a month (2025-03)")
    bounds = parse_period(period, period)
    store = open_store(store_url)
    try:
        evaluation = evaluate(store, bounds, datetime.now(UTC), k)
    finally:
        store.close()
    files = write_report(evaluation, out)
    return {"period": {"start": bounds.first.isoformat(), "end": bounds.last.isoformat()},
            "threshold": k, "files": [str(p.resolve()) for p in files]}
