"""Layer 3: the legal information-sharing mandate, as declarative policy files.

Each ``consent/policies/<id>.json`` is checked against ``schemas/policy.schema.json``
(jsonschema, every error reported) and against terminology (institution kinds of
``tipo-institucion``, purposes of ``proposito-uso`` except ``BTG``, which is layer 6's).
A bad file raises ``PolicyError`` naming the file and each problem: the server refuses to
start with it.

A grant gives institutions of ``kinds`` (``*`` = any), asking for one of ``purposes``,
standing in ``relation`` to the resource (``care-team``: a member of its case's care team;
``recipient``: the institution it is addressed to; ``any``), the ``actions`` on the
resources ``data`` selects. It covers restricted (R) resources only if ``labels`` names R,
and never very restricted (V) ones (layer 5). ``survivorMayObject`` false means the law
gives the access whatever her Consents say; true means it holds unless she denies it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from ._facts import Facts
from ._model import BREAK_GLASS, KINDS, PURPOSES

__all__ = ["Grant", "PolicyError", "Selector", "load_policies", "policies"]


class PolicyError(ValueError):
    """A policy file is unreadable or invalid; ``problems`` lists every problem."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        super().__init__(f"invalid policy file {file}: " + "; ".join(problems))


@dataclass(frozen=True)
class Selector:
    """Which resources a grant covers: a type, optionally a profile and codes (any of)."""

    resource_type: str
    profile: str | None = None
    codes: frozenset[str] = frozenset()

    def matches(self, f: Facts) -> bool:
        return (f.type == self.resource_type
                and (self.profile is None or self.profile in f.profiles)
                and (not self.codes or bool(self.codes & f.codes)))


@dataclass(frozen=True)
class Grant:
    """One grant of a policy file; ``id`` is ``policy:<file id>#<grant id>``."""

    id: str
    kinds: frozenset[str] | None  # None: any kind
    purposes: frozenset[str]
    relation: str
    data: tuple[Selector, ...]
    labels: frozenset[str] = frozenset()
    redact: tuple[str, ...] = ()
    actions: frozenset[str] = frozenset({"read"})
    survivor_may_object: bool = False

    def covers(self, f: Facts) -> bool:
        """True when the grant selects the resource and may see its label."""
        return (any(s.matches(f) for s in self.data)
                and "V" not in f.labels and (f.labels & {"R"}) <= self.labels)


@cache
def _schema() -> dict[str, Any]:
    return json.loads(resources.files("consent.schemas").joinpath("policy.schema.json")
                      .read_text(encoding="utf-8"))


def _problems(doc: Any, name: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(_schema())
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.path))]
    if problems:
        return problems
    if doc["id"] != name:
        problems.append(f"id: {doc['id']!r} is not the file name {name!r}")
    seen: set[str] = set()
    for i, grant in enumerate(doc["grants"]):
        if grant["id"] in seen:
            problems.append(f"grants/{i}/id: {grant['id']!r} is used twice")
        seen.add(grant["id"])
        for j, kind in enumerate(grant["kinds"]):
            if kind != "*" and kind not in KINDS:
                problems.append(f"grants/{i}/kinds/{j}: {kind!r} is not a tipo-institucion code")
        for j, purpose in enumerate(grant["purposes"]):
            if purpose not in PURPOSES or purpose == BREAK_GLASS:
                problems.append(f"grants/{i}/purposes/{j}: {purpose!r} is not a purpose a "
                                "policy may grant (proposito-uso, except BTG)")
    return problems


def _grants(doc: dict[str, Any]) -> list[Grant]:
    return [
        Grant(
            id=f"policy:{doc['id']}#{g['id']}",
            kinds=None if "*" in g["kinds"] else frozenset(g["kinds"]),
            purposes=frozenset(g["purposes"]),
            relation=g["relation"],
            data=tuple(Selector(s["resourceType"], s.get("profile"),
                                frozenset(s.get("codes", ()))) for s in g["data"]),
            labels=frozenset(g.get("labels", ())),
            redact=tuple(g.get("redact", ())),
            actions=frozenset(g.get("actions", ("read",))),
            survivor_may_object=g["survivorMayObject"],
        )
        for g in doc["grants"]
    ]


def load_policies(paths: Iterable[str | Path]) -> tuple[Grant, ...]:
    """Return the grants of the policy files at ``paths``, in order.

    Raises ``PolicyError`` (naming the file and every problem) on the first bad file.
    """
    grants: list[Grant] = []
    for path in map(Path, paths):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise PolicyError(str(path), [f"not readable as JSON: {e}"]) from e
        problems = _problems(doc, path.stem)
        if problems:
            raise PolicyError(str(path), problems)
        grants.extend(_grants(doc))
    return tuple(grants)


@cache
def policies() -> tuple[Grant, ...]:
    """Return the grants of the shipped ``consent/policies/*.json`` (loaded once)."""
    folder = resources.files("consent.policies")
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".json")),
                   key=lambda f: f.name)
    with resources.as_file(folder) as base:
        return load_policies(Path(base) / f.name for f in files)
