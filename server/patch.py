"""JSON Patch (RFC 6902) for the PATCH interaction, through the jsonpatch library.

A malformed patch document is the client's syntax error (400); a well-formed patch that
cannot be applied to this resource (missing path, failed ``test``) is 422.
See: https://hl7.org/fhir/R4B/http.html#patch
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from server import errors

_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def apply_json_patch(document: Any, operations: Any) -> Any:
    """``document`` with ``operations`` applied (``document`` itself is not changed)."""
    if not isinstance(operations, list):
        raise errors.invalid("a JSON Patch document is an array of operations")
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or op.get("op") not in _OPS \
                or not isinstance(op.get("path"), str):
            raise errors.invalid(f"JSON Patch operation {i} needs a known 'op' and a 'path'")
        if op["op"] in ("move", "copy") and not isinstance(op.get("from"), str):
            raise errors.invalid(f"JSON Patch operation {i} ({op['op']}) needs 'from'")
        if op["op"] in ("add", "replace", "test") and "value" not in op:
            raise errors.invalid(f"JSON Patch operation {i} ({op['op']}) needs 'value'")
    result = copy.deepcopy(document)
    for i, op in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except jsonpatch.InvalidJsonPatch:
            raise errors.invalid(f"JSON Patch operation {i} is malformed") from None
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError,
                ValueError, KeyError, IndexError):
            # The library's message quotes the document; say only which step failed.
            kind = "test failed" if op["op"] == "test" else "cannot be applied"
            raise errors.unprocessable(f"JSON Patch operation {i} ({op['op']} "
                                       f"{op['path']}): {kind}") from None
    return result
