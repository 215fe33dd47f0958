"""Chained parameters (``subject:Patient.name=x``) and reverse chaining
(``_has:Observation:subject:code=x``). See https://hl7.org/fhir/R4B/search.html#chaining
"""

from __future__ import annotations

from server.search.query import Condition
from server.search.syntax import Unsupported


def chain(type: str, name: str, value: str) -> Condition:
    """``name`` holds a ``.``: a chain through a reference parameter of ``type``."""
    raise Unsupported


def has(type: str, name: str, value: str) -> Condition:
    """``name`` starts with ``_has:``."""
    raise Unsupported
