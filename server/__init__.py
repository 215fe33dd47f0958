"""Amparo's FHIR R4B server: the Flask application, storage, search, bundles and CLI."""
