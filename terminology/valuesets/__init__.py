"""Amparo ValueSets as JSON files (a package so that they ship in the wheel)."""
