"""$validate (routes to come)."""
