"""The one error type of the server, and the helpers that raise it.

Every failure the server reports to a client is a ``FhirError``: an HTTP status, an
OperationOutcome issue code (http://hl7.org/fhir/R4B/valueset-issue-type.html), a
diagnostic text and, where known, FHIRPath expressions naming the offending elements.
``server/api/outcome.py`` turns it into an OperationOutcome response; nothing else maps
errors to statuses. Diagnostics never echo resource contents (privacy: DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Issue:
    """One OperationOutcome issue."""

    severity: str
    code: str
    diagnostics: str
    expression: list[str] = field(default_factory=list)

    def to_fhir(self) -> dict:
        issue = {"severity": self.severity, "code": self.code, "diagnostics": self.diagnostics}
        if self.expression:
            issue["expression"] = list(self.expression)
        return issue


class FhirError(Exception):
    """A failure with an HTTP status and the OperationOutcome issues that explain it."""

    def __init__(self, status: int, code: str, diagnostics: str,
                 expression: list[str] | None = None, issues: list[Issue] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(diagnostics)
        self.status = status
        self.issues = issues or [Issue("error", code, diagnostics, expression or [])]
        self.headers = headers or {}

    @property
    def diagnostics(self) -> str:
        return self.issues[0].diagnostics

    def outcome(self) -> dict:
        """The OperationOutcome resource for this error."""
        return {"resourceType": "OperationOutcome",
                "issue": [issue.to_fhir() for issue in self.issues]}


def invalid(diagnostics: str, expression: list[str] | None = None,
            issues: list[Issue] | None = None) -> FhirError:
    """400: the request cannot be understood (malformed JSON, bad parameter)."""
    return FhirError(400, "invalid", diagnostics, expression, issues)


def not_supported(diagnostics: str) -> FhirError:
    """400: a well-formed request for something this server does not do."""
    return FhirError(400, "not-supported", diagnostics)


def unprocessable(diagnostics: str, expression: list[str] | None = None,
                  issues: list[Issue] | None = None) -> FhirError:
    """422: a well-formed resource that breaks a rule (structure, profile, business)."""
    return FhirError(422, "processing", diagnostics, expression, issues)


def not_found(diagnostics: str = "Resource not found") -> FhirError:
    """404: missing, or hidden by the access gate (the two must look the same)."""
    return FhirError(404, "not-found", diagnostics)


def gone(diagnostics: str, headers: dict[str, str] | None = None) -> FhirError:
    """410: the resource existed and was deleted."""
    return FhirError(410, "deleted", diagnostics, headers=headers)


def conflict(diagnostics: str) -> FhirError:
    """409: the write conflicts with the current state."""
    return FhirError(409, "conflict", diagnostics)


def precondition_failed(diagnostics: str) -> FhirError:
    """412: If-Match, If-None-Match or a conditional operation's match count failed."""
    return FhirError(412, "conflict", diagnostics)


def method_not_allowed(diagnostics: str) -> FhirError:
    return FhirError(405, "not-supported", diagnostics)


def not_acceptable(diagnostics: str) -> FhirError:
    """406: the client asked for a format or FHIR version this server cannot give."""
    return FhirError(406, "not-supported", diagnostics)


def unsupported_media_type(diagnostics: str) -> FhirError:
    return FhirError(415, "not-supported", diagnostics)


def too_large(diagnostics: str) -> FhirError:
    """413: a request body or a bundle over the configured size limits."""
    return FhirError(413, "too-costly", diagnostics)
