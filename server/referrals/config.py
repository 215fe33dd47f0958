"""The referral workflow's two declarative files, checked when they are loaded.

- ``transitions.json`` (schema ``transitions.schema.json``): for each ``Task.status`` of
  a referral's task, who sets it (``requester``, ``owner``), the statuses that may follow
  it (none: a final status), the ``estado-derivacion`` codes its ``businessStatus`` may
  carry and whether it needs a ``statusReason``; ``created`` is the status a task is
  created in. Each code must be in ``estado-derivacion`` with that status as its
  ``estadoTarea`` property, so the file can narrow the terminology, never contradict it
  (the guide's invariant ``amp-tsk-1`` says the same to validators).
- ``service-levels.json`` (schema ``service-levels.schema.json``): per request priority,
  the hours to accept a referral (from when it is sent) and to complete it (from when
  it is accepted); a more urgent priority may not allow more time than a less urgent one.

Each file is checked against its JSON Schema (jsonschema, every error reported), then
against terminology and itself. A bad file raises ``ReferralConfigError`` naming the file
and each problem: the rule is built when ``server.repository`` is imported, so the
server refuses to start with it, as with consent's policy files (``consent/_policy.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import terminology
from server.config_files import read_checked

__all__ = ["ReferralConfigError", "ServiceLevel", "ServiceLevels", "Status", "Transitions",
           "load_service_levels", "load_transitions"]

ESTADO_DERIVACION = "estado-derivacion"
#: request-priority codes, most urgent first (a later one may not be given less time)
PRIORITIES = ("stat", "asap", "urgent", "routine")


class ReferralConfigError(ValueError):
    """A workflow file is unreadable or invalid; ``problems`` lists every problem."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        super().__init__(f"invalid referral workflow file {file}: " + "; ".join(problems))


@dataclass(frozen=True)
class Status:
    """One ``Task.status`` of the state machine."""

    code: str
    set_by: frozenset[str]  # "requester", "owner"
    next: tuple[str, ...]
    business: tuple[str, ...]  # estado-derivacion codes
    needs_reason: bool = False

    @property
    def final(self) -> bool:
        return not self.next


@dataclass(frozen=True)
class Transitions:
    created: str
    statuses: dict[str, Status]
    #: every code of estado-derivacion (to tell an unknown code from a misplaced one)
    known: frozenset[str]


@dataclass(frozen=True)
class ServiceLevel:
    accept_within: timedelta
    complete_within: timedelta


@dataclass(frozen=True)
class ServiceLevels:
    default: str
    levels: dict[str, ServiceLevel]

    def of(self, priority: object) -> ServiceLevel:
        """The level of ``priority``, or of the default one when it names none."""
        return self.levels.get(priority if isinstance(priority, str) else "",
                               self.levels[self.default])


def load_transitions(path: str | Path | None = None) -> Transitions:
    """The state machine of ``path`` (default: the shipped ``transitions.json``)."""
    name, doc = _read(path or _shipped("transitions.json"), "transitions.schema.json")
    problems, concepts = [], _task_status_of_codes()
    statuses = doc["statuses"]
    if doc["created"] not in statuses:
        problems.append(f"created: {doc['created']!r} is not one of the statuses")
    elif "requester" not in statuses[doc["created"]]["setBy"]:
        problems.append(f"statuses/{doc['created']}/setBy: the requester creates the task")
    for status, entry in statuses.items():
        problems += [f"statuses/{status}/next: {n!r} is not one of the statuses"
                     for n in entry["next"] if n not in statuses]
        for code in entry["businessStatus"]:
            if code not in concepts:
                problems.append(f"statuses/{status}/businessStatus: {code!r} is not an "
                                f"{ESTADO_DERIVACION} code")
            elif concepts[code] != status:
                problems.append(f"statuses/{status}/businessStatus: {code!r} is for status "
                                f"{concepts[code]!r} ({ESTADO_DERIVACION}, estadoTarea)")
    if problems:
        raise ReferralConfigError(name, problems)
    return Transitions(doc["created"], {
        status: Status(status, frozenset(e["setBy"]), tuple(e["next"]),
                       tuple(e["businessStatus"]), e.get("needsReason", False))
        for status, e in statuses.items()}, frozenset(concepts))


def load_service_levels(path: str | Path | None = None) -> ServiceLevels:
    """The service levels of ``path`` (default: the shipped ``service-levels.json``)."""
    name, doc = _read(path or _shipped("service-levels.json"), "service-levels.schema.json")
    levels = {p: ServiceLevel(timedelta(hours=doc["priorities"][p]["acceptWithinHours"]),
                              timedelta(hours=doc["priorities"][p]["completeWithinHours"]))
              for p in PRIORITIES}
    problems = [f"priorities/{less}: {label} is shorter than {more}'s"
                for more, less in zip(PRIORITIES, PRIORITIES[1:], strict=False)
                for label, hours in (("acceptWithinHours", "accept_within"),
                                     ("completeWithinHours", "complete_within"))
                if getattr(levels[less], hours) < getattr(levels[more], hours)]
    if problems:
        raise ReferralConfigError(name, problems)
    return ServiceLevels(doc["defaultPriority"], levels)


def _read(path: str | Path | Traversable, schema: str) -> tuple[str, dict[str, Any]]:
    """(the file's name, its JSON), once it meets ``schema``."""
    path = Path(path) if isinstance(path, str) else path
    doc, problems = read_checked(path, _shipped(schema))
    if doc is None or problems:
        raise ReferralConfigError(str(path), problems)
    return str(path), doc


def _shipped(name: str) -> Traversable:
    return resources.files(__package__).joinpath(name)


def _task_status_of_codes() -> dict[str, str | None]:
    """Each estado-derivacion code with the Task.status its ``estadoTarea`` gives."""
    return {code: next((p["valueCoding"]["code"] for p in concept.get("property", [])
                        if p.get("code") == "estadoTarea"), None)
            for code, concept in terminology.concepts(ESTADO_DERIVACION).items()}
