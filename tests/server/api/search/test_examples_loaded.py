"""The example data set itself: every vendored R4B example is accepted."""

from __future__ import annotations


def test_the_examples_load(examples):
    assert examples.refused == {}
    assert len(examples.loaded) == 232
    assert examples.ids("Patient", {"_count": "1000"}) == examples.where("Patient", bool)
