"""The implementation guide's examples against its profiles (profiles/validator.py with
the terminology's value set membership): every valid example conforms, and every invalid
one fails for its stated reason, at its stated element (``profiles/ig/examples/index.json``)."""

from __future__ import annotations

import pytest

from profiles import ig
from profiles.conformance import Conformance
from terminology.expansion import is_member

#: index.json's kinds of problem -> the OperationOutcome issue code the validator uses.
CODES = {"min": "required", "max": "structure", "binding": "code-invalid",
         "pattern": "value", "fixed": "value", "type": "structure",
         "target-profile": "structure", "invariant": "invariant"}
CONFORMANCE = Conformance(ig.structure_definitions() + ig.external_definitions(), is_member)
INDEX = {entry["name"]: entry for entry in ig.example_index()}
EXAMPLES = ig.examples()


def errors(name: str, resource: dict) -> list:
    issues = CONFORMANCE.validate(resource, [INDEX[name]["profile"]])
    return [i for i in issues if i.severity == "error"]


@pytest.mark.parametrize(("name", "resource"), [(n, r) for n, r, valid in EXAMPLES if valid])
def test_valid_examples_conform(name, resource):
    assert errors(name, resource) == []


@pytest.mark.parametrize(("name", "resource"), [(n, r) for n, r, valid in EXAMPLES if not valid])
def test_invalid_examples_fail_for_their_reason_at_their_element(name, resource):
    expected = INDEX[name]["issue"]
    found = errors(name, resource)
    assert any(i.code == CODES[expected["kind"]] and (
        i.expression.startswith(expected["expression"])
        or expected["expression"].startswith(i.expression)) for i in found), found
    if expected["kind"] == "invariant":
        assert any(i.diagnostics.startswith(expected["key"] + ":") for i in found), found


def test_every_profile_has_a_valid_and_several_invalid_examples():
    profiles = {d["url"] for d in ig.structure_definitions() if d["type"] != "Extension"}
    for url in profiles:
        kinds = [e["expected"] for e in INDEX.values() if e["profile"] == url]
        assert kinds.count("valid") >= 1 and kinds.count("invalid") >= 3, url
