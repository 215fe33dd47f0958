"""The report of an ingestion run (``amparo ingest --report``): every record's outcome
and, for a rejected one, why (which field, what was wrong), as CSV for a spreadsheet or
as an OperationOutcome for a FHIR client. Never the records' contents: only their
position, key and the problems found."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson

from server.ingest import Summary

COLUMNS = ("registro", "clave", "resultado", "gravedad", "campo", "problema")


def rows(summary: Summary) -> list[tuple]:
    found = []
    for result in summary.results:
        if not result.issues:
            found.append((result.position, result.key or "", result.outcome, "", "", ""))
        for issue in result.issues:
            found.append((result.position, result.key or "", result.outcome, issue.severity,
                          issue.field, issue.message))
    return found


def outcome(summary: Summary) -> dict:
    """One issue per problem (severity error for a rejection), located at its record."""
    issues = [{"severity": severity or "information",
               "code": "processing" if severity == "error" else "informational",
               "diagnostics": f"{problem or outcome_}",
               "location": [f"{summary.source}#{position}"],
               "expression": [field] if field else []}
              for position, key, outcome_, severity, field, problem in rows(summary)]
    return {"resourceType": "OperationOutcome",
            "issue": [{k: v for k, v in i.items() if v} for i in issues]}


def write_report(summary: Summary, path: Path) -> None:
    if path.suffix.lower() == ".json":
        path.write_bytes(orjson.dumps(outcome(summary), option=orjson.OPT_INDENT_2))
        return
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(rows(summary))
