"""External definitions the IG uses (written by scripts/build_ig.py)."""
