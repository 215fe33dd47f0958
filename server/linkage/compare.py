"""The linkage rules (``fixtures/institutions/README.md`` section 5.2) for two identities,
graded as FHIR's ``match-grade`` extension grades a ``Patient/$match`` answer.

- **certain**: the same valid RUN, or the same identity document (system and number).
- **certainly-not**: something contradicts: different valid RUNs, different birth dates,
  or a stated age (the guide's ``ext-edad-declarada``) more than a year off her birth date
  or off another stated age, allowing for the time in between.
- **probable**: (a) the first given name matches and the first surname matches one of the
  other's surnames (so double surnames match in either order, and a missing second surname
  does not count against), with one letter of difference allowed in the surname; and
  (b) at least two of: the same birth date, an age that agrees (with her birth date or
  with another stated age, within a year), the same comuna, the same phone.
- **possible**: (a) holds with fewer than two of (b): shown to a caseworker, never linked
  on its own.

Surname distance is rapidfuzz's Levenshtein distance; the score orders matches within a
grade by how alike the names are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from rapidfuzz.distance import Levenshtein
from rapidfuzz.fuzz import ratio

from server.linkage.identity import Identity

GRADES = ("certain", "probable", "possible", "certainly-not")


@dataclass(frozen=True)
class Verdict:
    grade: str  # one of GRADES
    score: float  # 0..1, for ordering
    reasons: tuple[str, ...]  # what agreed or contradicted (Spanish, for caseworkers)


def compare(a: Identity, b: Identity) -> Verdict:
    """How ``b`` matches ``a`` (symmetric in grade)."""
    if a.runs & b.runs:
        return Verdict("certain", 1.0, ("mismo RUN",))
    if a.documents & b.documents:
        return Verdict("certain", 1.0, ("mismo documento de identidad",))
    if a.runs and b.runs:
        return Verdict("certainly-not", 0.0, ("RUN distinto",))
    if a.birth_date and b.birth_date and a.birth_date != b.birth_date:
        return Verdict("certainly-not", 0.0, ("fecha de nacimiento distinta",))
    ages = _ages_agree(a, b)
    if ages is False:
        return Verdict("certainly-not", 0.0, ("edad incompatible",))
    if not _names_agree(a, b):
        return Verdict("certainly-not", 0.0, ("el nombre no coincide",))
    agreeing = tuple(reason for reason, holds in (
        ("misma fecha de nacimiento", a.birth_date is not None and a.birth_date == b.birth_date),
        ("edad compatible", ages is True),
        ("misma comuna", bool(a.comunas & b.comunas)),
        ("mismo teléfono", bool(a.phones & b.phones)),
    ) if holds)
    names = ratio(" ".join((a.given, *a.surnames)), " ".join((b.given, *b.surnames))) / 100
    reasons = ("mismo nombre", *agreeing)
    if len(agreeing) >= 2:
        return Verdict("probable", round(0.7 + 0.1 * (len(agreeing) - 2) + 0.1 * names, 3),
                       reasons)
    return Verdict("possible", round(0.3 + 0.1 * len(agreeing) + 0.2 * names, 3), reasons)


def _ages_agree(a: Identity, b: Identity) -> bool | None:
    """Rules (b) and (c) on age: False when a stated age of one is more than a year off
    the other's birth date or stated ages (counting the time between the two days), True
    when some agree and none is off, None when there is nothing to compare."""
    found = [abs(age - _years(date.fromisoformat(y.birth_date), day)) <= 1
             for x, y in ((a, b), (b, a)) if y.birth_date for day, age in x.ages]
    found += [abs(age_b - age_a - (day_b - day_a).days / 365.25) <= 1
              for day_a, age_a in a.ages for day_b, age_b in b.ages]
    return all(found) if found else None


def _years(born: date, day: date) -> int:
    """Her age in completed years on ``day``."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _names_agree(a: Identity, b: Identity) -> bool:
    """Rule (a): the same first given name, and one's first surname within one letter of
    one of the other's surnames."""
    if not (a.given and b.given and a.surnames and b.surnames) or a.given != b.given:
        return False
    return any(Levenshtein.distance(x.surnames[0], s) <= 1
               for x, y in ((a, b), (b, a)) for s in y.surnames)
