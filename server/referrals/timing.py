"""Time to acceptance, to service and to completion of a referral, read from its task's
history (``GET Task/<id>/_history``): every version is kept with its
``meta.lastUpdated``, the instant of the write that made it, which the workflow also puts
in ``lastModified`` (``server/referrals/workflow.py``).

- sent: the first version (the requester creates the task ``requested``);
- accepted: the first version in ``accepted`` or a status that follows acceptance
  (``in-progress``, ``on-hold``, ``completed``);
- started: the first version in ``in-progress`` (its ``executionPeriod.start``);
- ended: the first version in a final status (its ``executionPeriod.end``), and which.

Time to acceptance is accepted - sent; time to service, started - sent; time to
completion, ended - sent when the referral ended ``completed``. A measure the history
has not reached yet is None.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = ["ReferralTimes", "referral_times"]

ACCEPTED = frozenset({"accepted", "in-progress", "on-hold", "completed"})
FINAL = frozenset({"completed", "rejected", "failed", "cancelled"})


@dataclass(frozen=True)
class ReferralTimes:
    sent: datetime | None = None
    accepted: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    outcome: str | None = None  # the final status, once reached

    @property
    def to_acceptance(self) -> timedelta | None:
        return _between(self.sent, self.accepted)

    @property
    def to_service(self) -> timedelta | None:
        return _between(self.sent, self.started)

    @property
    def to_completion(self) -> timedelta | None:
        return _between(self.sent, self.ended) if self.outcome == "completed" else None


def referral_times(versions: Iterable[dict[str, Any]]) -> ReferralTimes:
    """The times of one task's versions (its history's resources, in any order; a
    deletion, which has no resource, is left out by the caller)."""
    ordered = sorted(versions, key=lambda v: int(v["meta"]["versionId"]))
    found: dict[str, Any] = {}
    for version in ordered:
        at = datetime.fromisoformat(version["meta"]["lastUpdated"].replace("Z", "+00:00"))
        status = version.get("status")
        found.setdefault("sent", at)
        if status in ACCEPTED:
            found.setdefault("accepted", at)
        if status == "in-progress":
            found.setdefault("started", at)
        if status in FINAL and "ended" not in found:
            found.update(ended=at, outcome=status)
    return ReferralTimes(**found)


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start is not None and end is not None else None
