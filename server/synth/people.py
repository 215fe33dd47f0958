"""Synthetic survivors and aggressors: names from Faker ``es_CL``, RUNs that cannot be real.

RUN bodies are drawn at 40,000,000 and above (survivors 40-45 M, aggressors 45-50 M), far
above the numbers the Registro Civil has issued (high 20 millions in 2025), as in the
institution fixtures, so that no synthetic RUN belongs to a living person. Within one seed
they are a permutation of the case number, so two survivors never share a RUN by accident:
a shared RUN always means the same person, which is what linkage relies on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from faker import Faker

from mappings import run

from .ids import rng as world_rng
from .terms import Terms

__all__ = ["RELATIONS", "Aggressor", "Survivor", "aggressor", "shared_aggressor", "survivor"]

_BLOCK = 5_000_000
_STEP = 2_750_159  # odd and not a multiple of 5: coprime with _BLOCK, so i -> body is 1:1

# Where survivors come from (CodPais numeric): most are Chilean; the others follow the
# largest migrant communities. Haitian women usually have one surname and speak Creole.
_NATIONALITY = {
    "152": 0.88,
    "862": 0.04,
    "604": 0.025,
    "332": 0.02,
    "170": 0.02,
    "068": 0.01,
    "032": 0.005,
}
_AGES = [((18, 29), 0.30), ((30, 44), 0.45), ((45, 59), 0.18), ((60, 75), 0.07)]
# Relationship to the aggressor (relacion-agresor leaf codes); partners dominate.
RELATIONS = {
    "conviviente": 0.20,
    "conyuge": 0.10,
    "pololo": 0.08,
    "conviviente-civil": 0.02,
    "ex-conviviente": 0.14,
    "ex-pololo": 0.12,
    "ex-conyuge": 0.06,
    "padre-hijo-comun": 0.06,
    "hijo": 0.06,
    "padre": 0.02,
    "padrastro": 0.02,
    "hermano": 0.03,
    "otro-familiar": 0.03,
    "companero-trabajo": 0.02,
    "vecino": 0.02,
    "otro-conocido": 0.01,
    "desconocido": 0.01,
}


@dataclass
class Survivor:
    """A woman of the synthetic world and what institutions know about her."""

    given: list[str]
    family: str
    second_family: str | None
    birth_date: date
    nationality: str
    comuna: str
    line: str
    phone: str | None
    children: int
    document: str  # "run", "passport" or "local"
    run: str | None = None
    passport: str | None = None
    language: str = "es-CL"


@dataclass
class Aggressor:
    """The person who used violence against her, as a relationship and an identity."""

    relation: str
    given: list[str] = field(default_factory=list)
    family: str | None = None
    second_family: str | None = None
    birth_date: date | None = None
    run: str | None = None
    shared: bool = False


def _body(seed: int, index: int, base: int) -> int:
    offset = world_rng(seed, "run", base).randrange(_BLOCK)
    return base + (_STEP * index + offset) % _BLOCK


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _birth(rng: random.Random, on: date, age: int) -> date:
    return date(on.year - age - 1, on.month, 1) + timedelta(days=rng.randrange(1, 365))


def survivor(
    index: int, seed: int, rng: random.Random, fake: Faker, t: Terms, comuna: str, first_day: date
) -> Survivor:
    """Return survivor ``index``: identity, residence in ``comuna``, age at ``first_day``."""
    nationality = _weighted(rng, _NATIONALITY)
    t.country_coding(nationality)  # KeyError here if CodPais lacks the code
    low, high = rng.choices([a for a, _ in _AGES], weights=[w for _, w in _AGES])[0]
    given = [fake.first_name_female()]
    if rng.random() < 0.6:
        given.append(fake.first_name_female())
    single = nationality == "332" or (nationality != "152" and rng.random() < 0.2)
    if nationality == "152":
        document = "run" if rng.random() < 0.93 else "local"
    else:
        document = rng.choices(["run", "passport", "local"], weights=[0.5, 0.35, 0.15])[0]
    woman = Survivor(
        given=given,
        family=fake.last_name(),
        second_family=None if single else fake.last_name(),
        birth_date=_birth(rng, first_day, rng.randint(low, high)),
        nationality=nationality,
        comuna=comuna,
        line=fake.street_address(),
        phone=fake.numerify("+569########") if rng.random() < 0.85 else None,
        children=rng.choices([0, 1, 2, 3], weights=[0.3, 0.3, 0.25, 0.15])[0],
        document=document,
        language="ht" if nationality == "332" else "es-CL",
    )
    if document == "run":
        woman.run = run.format_run(_body(seed, index, 40_000_000))
    elif document == "passport":
        woman.passport = f"{rng.choice('ABCFGPR')}{_body(seed, index, 10_000_000):08d}"
    return woman


def _relation(rng: random.Random, age: int) -> str:
    while True:
        code = _weighted(rng, RELATIONS)
        if code == "hijo" and age < 38 or code in ("padre", "padrastro") and age > 50:
            continue
        return code


def aggressor(
    index: int,
    seed: int,
    rng: random.Random,
    fake: Faker,
    woman: Survivor,
    on: date,
    relation: str | None = None,
) -> Aggressor:
    """Return the aggressor of survivor ``index``; family names follow the relationship."""
    age = (on - woman.birth_date).days // 365
    relation = relation or _relation(rng, age)
    if relation == "desconocido":
        return Aggressor(relation)
    given = [fake.first_name_male()] + ([fake.first_name_male()] if rng.random() < 0.5 else [])
    family, second = fake.last_name(), fake.last_name()
    if relation == "hijo":
        second, his_age = woman.family, age - rng.randint(18, 30)
    elif relation in ("padre", "hermano"):
        family, his_age = (
            woman.family,
            age + (rng.randint(20, 32) if relation == "padre" else rng.randint(-6, 6)),
        )
        second = woman.second_family if relation == "hermano" and woman.second_family else second
    elif relation == "padrastro":
        his_age = age + rng.randint(15, 30)
    else:
        his_age = age + rng.randint(-4, 9)
    man = Aggressor(relation, given, family, second, _birth(rng, on, max(18, his_age)))
    if rng.random() < 0.6:  # police and courts know his RUN; the hotline often does not
        man.run = run.format_run(_body(seed, index, 45_000_000))
    else:
        man.birth_date = None
    return man


def shared_aggressor(first_index: int, seed: int, fake: Faker, on: date) -> Aggressor:
    """Return a man who used violence against several survivors: always identified by RUN.

    Keyed by the first survivor's index so that his RUN is unique like any other.
    """
    rng = world_rng(seed, "shared-aggressor", first_index)
    fake.seed_instance(rng.getrandbits(64))
    given = [fake.first_name_male()] + ([fake.first_name_male()] if rng.random() < 0.5 else [])
    return Aggressor(
        "",
        given,
        fake.last_name(),
        fake.last_name(),
        _birth(rng, on, rng.randint(24, 50)),
        run.format_run(_body(seed, first_index, 45_000_000)),
        shared=True,
    )
