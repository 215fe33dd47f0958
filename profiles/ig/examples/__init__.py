"""Example instances of the IG profiles, valid and invalid (listed in index.json)."""
