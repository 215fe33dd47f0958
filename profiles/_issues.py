"""The issue value every validator of this package returns (one OperationOutcome issue)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ValidationIssue"]


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One problem: severity (error/warning), an OperationOutcome issue-type code, a
    message, and the FHIRPath expression of the element (e.g. ``Patient.name[0].given``)."""

    severity: str
    code: str
    diagnostics: str
    expression: str
