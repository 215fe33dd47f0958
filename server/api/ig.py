"""The implementation guide as a FHIR package over HTTP."""
