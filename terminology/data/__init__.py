"""National reference data copied verbatim; see README.md (a package so that it ships)."""
