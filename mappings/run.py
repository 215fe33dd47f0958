"""The Chilean RUN (Rol Único Nacional): modulo-11 check digit, normal form, validity.

The normal form used everywhere in Amparo is the body without dots, a hyphen and the check
digit in upper case (``12345678-5``, ``40611189-K``): institutions write RUNs with dots,
spaces or a lower-case ``k``, and identifier search matches exact strings, so everything is
normalised before it is stored or compared.
"""

from __future__ import annotations

import re

__all__ = ["check_digit", "format_run", "is_valid", "normalize"]

_RUN = re.compile(r"^(\d{1,9})-?([\dK])$")


def check_digit(body: int) -> str:
    """Return the check digit of a RUN body: ``"0"``-``"9"`` or ``"K"``.

    The digits are weighted from the right with 2, 3, 4, 5, 6, 7, 2, 3, ... and summed;
    the digit is ``11 - sum % 11``, where 11 is written ``0`` and 10 is written ``K``.
    """
    if body < 0:
        raise ValueError(f"a RUN body is not negative: {body}")
    total, weight = 0, 2
    while body:
        body, digit = divmod(body, 10)
        total += digit * weight
        weight = 2 if weight == 7 else weight + 1
    value = 11 - total % 11
    return {11: "0", 10: "K"}.get(value, str(value))


def format_run(body: int) -> str:
    """Return the normal form ``<body>-<check digit>`` of a RUN body."""
    return f"{body}-{check_digit(body)}"


def normalize(run: str) -> str:
    """Return ``run`` in normal form (no dots or spaces, hyphen, upper-case K).

    The check digit is not verified: a mistyped RUN keeps its wrong digit, so that it can be
    stored as an unverified identifier. Raises ``ValueError`` when it is not shaped like a RUN.
    """
    compact = re.sub(r"[.\s]", "", run).upper()
    match = _RUN.match(compact)
    if not match:
        raise ValueError(f"not a RUN: {run!r}")
    return f"{int(match.group(1))}-{match.group(2)}"


def is_valid(run: str) -> bool:
    """Return True when ``run`` is shaped like a RUN and its check digit is right."""
    try:
        body, digit = normalize(run).split("-")
    except ValueError:
        return False
    return check_digit(int(body)) == digit
