"""Amparo ConceptMaps as JSON files (a package so that they ship in the wheel)."""
