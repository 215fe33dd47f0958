"""Declarative mappings from each institution's export format to FHIR bundles, and the
engine that runs them. A pure library: it never imports ``server``.

Arrives with the ingestion issue.
"""
