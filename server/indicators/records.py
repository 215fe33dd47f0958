"""The records the indicators count, each reduced to what is counted of it (no names,
no free text): built by ``facts.py`` from the store, read by ``populations.py`` and
``instruments.py``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from server.referrals import ReferralTimes

__all__ = ["Action", "Alert", "Assessment", "Case", "Contact", "Incident",
           "ProtectionMeasure", "Referral", "Survivor"]


@dataclass(frozen=True)
class Survivor:
    ref: str
    birth: date | None = None
    stated: tuple[tuple[date, int], ...] = ()  # (day she said it, age in years)
    comuna: str | None = None  # CUT code of her home address


@dataclass(frozen=True)
class Case:
    ref: str
    patient: str
    start: datetime
    day: date
    end: datetime | None
    status: str
    entry: str | None = None  # Organization/<id> that led its first version


@dataclass(frozen=True)
class Incident:
    ref: str
    patient: str
    at: datetime
    day: date
    forms: frozenset[str] = frozenset()
    case: str | None = None  # EpisodeOfCare/<id> it is linked to


@dataclass(frozen=True)
class Assessment:
    ref: str
    patient: str
    at: datetime
    day: date
    instrument: str | None
    level: str | None  # the final level
    instrument_level: str | None  # the level the instrument gave (ext-nivel-instrumento)
    score: float | None


@dataclass(frozen=True)
class Referral:
    ref: str
    patient: str | None
    state: str  # estado-derivacion code, else Task.status
    times: ReferralTimes


@dataclass(frozen=True)
class ProtectionMeasure:
    patient: str
    status: str
    start: datetime | None
    end: datetime | None  # exclusive


@dataclass(frozen=True)
class Contact:
    patient: str
    institution: str | None
    at: datetime


@dataclass(frozen=True)
class Alert:
    ref: str
    patient: str
    kind: str
    at: datetime
    day: date


@dataclass(frozen=True)
class Action:
    """Something an institution did with her (a contact, an assessment, a referral, a
    protection measure), and when: what an alert's first action is looked for among."""

    patient: str
    at: datetime
