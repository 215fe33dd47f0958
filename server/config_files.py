"""The server's declarative files (the referral workflow's, early warning's), read and
checked against their JSON Schemas the same way, every problem reported."""

from __future__ import annotations

import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import jsonschema


def read_checked(path: Path | Traversable, schema: Path | Traversable
                 ) -> tuple[dict[str, Any] | None, list[str]]:
    """(the file's JSON, or None when unreadable; its problems against ``schema``, one
    line each, empty when it meets it)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, [f"not readable as JSON: {e}"]
    validator = jsonschema.Draft202012Validator(json.loads(schema.read_text(encoding="utf-8")))
    return doc, [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                 for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path))]
