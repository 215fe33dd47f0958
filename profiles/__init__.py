"""Amparo's implementation guide: FHIR definitions, profiles and the profile validator.

A pure library: it never imports ``server`` (see DESIGN.md, "The house"). Validators
return every problem at once as ``ValidationIssue`` values, each with a FHIRPath
``expression``; they never raise on bad input.
"""

from profiles._issues import ValidationIssue
from profiles._structure import is_resource_type, validate_structure

__all__ = ["ValidationIssue", "is_resource_type", "validate_structure"]
