"""What the mapping tests read in a record's result: its entries by type, identifiers."""

from __future__ import annotations

from datetime import date

import mappings
from tests.conftest import SHARED

FIXTURES = SHARED / "fixtures" / "institutions"
#: Every fixture file's extraction date: no genuine event is later.
EXTRACTED = date(2026, 9, 30)


def entry(result: mappings.Result, type: str) -> dict | None:
    """The record's one entry of ``type`` (None without one)."""
    found = [e for e in result.bundle["entry"] if e["resource"]["resourceType"] == type]
    assert len(found) <= 1, f"{len(found)} {type} in record {result.position}"
    return found[0] if found else None


def resource(result: mappings.Result, type: str) -> dict | None:
    found = entry(result, type)
    return found["resource"] if found else None


def identifiers(resource: dict) -> dict[str, str]:
    return {i["system"]: i["value"] for i in resource.get("identifier", [])}
