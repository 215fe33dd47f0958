"""The plan of one survivor's journey: incidents, contacts, referrals, in time order.

A journey is planned (``planner``) before any FHIR is written (``resources``), so that the
story is consistent across the bundles of the institutions that each see a part of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from .institutions import Institution
from .people import Aggressor, Survivor

__all__ = ["Case", "Change", "Event", "Referral", "Step"]


@dataclass(eq=False)
class Event:
    """One incident of violence, as it happened (each institution reports it separately)."""

    number: int
    at: datetime
    forms: list[str]
    place: str
    weapon: str
    children: bool
    injuries: bool
    comuna: str
    severity: int


@dataclass(eq=False)
class Step:
    """One contact of the woman with one institution: one transaction bundle."""

    kind: str
    org: Institution
    at: datetime
    end: datetime
    event: Event | None
    severity: int
    reports: bool = False
    reported_at: datetime | None = None  # the time of the incident as this institution wrote it
    instrument: str | None = None
    level: str | None = None
    score: int | None = None
    document: str | None = None
    consent: bool = False
    referral_in: Referral | None = None
    referrals_out: list[Referral] = field(default_factory=list)
    arrivals: list[Change] = field(default_factory=list)  # the Task changes this bundle makes
    number: int = 0


@dataclass(eq=False)
class Referral:
    """A referral (ServiceRequest) and its tracking Task, from one institution to another.

    ``outcome`` is where the receiving side takes it and ``arrival`` the contact she
    reaches through it; ``changes`` are the Task versions that get it there, one status
    change each, because the server's referral workflow allows no jumps
    (``server/referrals/transitions.json``); those after the data's end are left out.
    """

    number: int
    service: str
    source: Step
    target: Institution
    outcome: str | None = None  # estado-derivacion after the receiving side acts
    outcome_at: datetime | None = None
    arrival: Step | None = None
    changes: list[Change] = field(default_factory=list)


@dataclass(eq=False)
class Change:
    """One new version of a referral's Task, written by the receiving institution.

    ``contact`` is the contact whose bundle carries it (her arrival); without one it is a
    bundle of its own (an acceptance, a refusal, a no-show, a closing), which is also
    why a contact carries at most one change of a Task: a transaction may not change
    one resource twice.
    """

    referral: Referral
    code: str  # estado-derivacion
    at: datetime
    contact: Step | None = None
    number: int = 0


@dataclass(eq=False)
class Case:
    """Everything planned for one survivor, in the order it happened."""

    index: int
    key: str
    hub: str
    survivor: Survivor
    aggressor: Aggressor
    lead: Institution
    events: list[Event]
    steps: list[Step]
    responses: list[Change]  # the Task changes without a contact

    def emissions(self) -> list[Step | Change]:
        """Return steps and responses in time order: one bundle each (a step first when
        both have the same time)."""
        items: list[Step | Change] = [*self.steps, *self.responses]
        return [item for _, _, item in sorted((x.at, i, x) for i, x in enumerate(items))]


def weighted(rng: random.Random, weights: dict[str, float]) -> str:
    """Return one key of ``weights`` drawn with its weight."""
    return rng.choices(list(weights), weights=list(weights.values()))[0]
