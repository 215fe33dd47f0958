"""Tests of the synthetic journey generator (``amparo synth``)."""
