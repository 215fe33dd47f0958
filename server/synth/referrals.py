"""Referrals between institutions: the ones that bring her to her next contact, and the rest.

A contact that a referral leads to (a Centro de la Mujer intake after a 1455 call) gets a
ServiceRequest + Task from the referring contact, and updates the Task when she arrives.
Other referrals are answered by the receiving institution without a contact (no place in
the shelter, she did not come) or never answered at all: the lost referrals the platform
exists to notice.

The receiving institution moves a Task one status at a time, as the server's referral
workflow requires (``pathways.STEPS``): it accepts the referral before she comes, her
contact starts the service and it is completed after the contact; an answer without a
contact that goes through an acceptance (a no-show, a service begun) is preceded by one.
Each change is its own Task version, in its own bundle unless her contact carries it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from . import clock
from .institutions import Catalogue, Hub, Institution
from .pathways import (
    ACCEPT_DAYS,
    ARRIVAL,
    CLOSE_MIN,
    OFFICE,
    REFERRERS,
    STEPS,
    TO_CDM,
    TO_CHILDREN,
    TO_FISCALIA,
    TO_SHELTER,
    TO_WORK,
)
from .plan import Change, Referral, Step, weighted
from .terms import Terms

__all__ = ["Referrals"]


class Referrals:
    """Adds the referrals of one case to its steps (in place), numbering them in order."""

    def __init__(
        self, rng: random.Random, t: Terms, cat: Catalogue, hub: Hub, partner: bool, children: int
    ) -> None:
        self.rng, self.t, self.cat, self.hub = rng, t, cat, hub
        self.partner, self.children, self.count = partner, children, 0

    def _new(self, source: Step, service: str, target: Institution) -> Referral:
        self.count += 1
        referral = Referral(self.count, service, source, target)
        source.referrals_out.append(referral)
        return referral

    def add(self, steps: list[Step]) -> None:
        """Link each reachable contact to a referral from an earlier one, then add the rest."""
        for j, step in enumerate(steps):
            services = self.t.property_codes("tipo-contacto", step.kind, "servicio")
            others = [s for s in steps[:j] if s.org.id != step.org.id]
            known = len(others) < j  # she is already in this institution's care
            # a referrer is done before she arrives, with room for the answer in between
            earlier = [s for s in others if s.end + timedelta(minutes=2) <= step.at]
            if step.kind not in ARRIVAL or step.reports or not services or not earlier or known:
                continue
            if self.rng.random() >= 0.9:  # she went on her own (demanda espontánea)
                continue
            preferred = [s for s in earlier if s.kind in REFERRERS.get(step.kind, ())]
            referral = self._new((preferred or earlier)[-1], services[0], step.org)
            referral.outcome, referral.outcome_at = ARRIVAL[step.kind], step.at
            referral.arrival = step
            step.referral_in = referral
        kinds = {s.kind for s in steps}
        for step in steps:
            self._unanswered(step, kinds)
        for step in steps:  # drawn last, so that the referrals drawn above stay the same
            for referral in step.referrals_out:
                referral.changes = self._changes(referral)

    def _send(
        self,
        step: Step,
        rule: tuple[str, str, dict[str, float], tuple[int, int]],
        kind: str | None = None,
    ) -> None:
        service, target_kind, outcomes, (low, high) = rule
        target_kind = kind or target_kind
        target = self.cat.institutions[self.rng.choice(self.hub.institutions[target_kind])]
        referral = self._new(step, service, target)
        outcome = weighted(self.rng, outcomes)
        if outcome != "enviada":
            answer = step.end + timedelta(days=self.rng.uniform(low, high))
            referral.outcome = outcome
            referral.outcome_at = clock.office_hours(answer, self.rng).replace(
                second=0, microsecond=0
            )

    def _unanswered(self, step: Step, kinds: set[str]) -> None:
        rng = self.rng
        if step.kind == "denuncia" and "declaracion-fiscalia" not in kinds:
            self._send(step, TO_FISCALIA)  # the police always inform the prosecutor
        if (
            step.kind in ("llamada-1455", "atencion-urgencia")
            and self.partner
            and "ingreso-cdm" not in kinds
            and rng.random() < 0.8
        ):
            self._send(step, TO_CDM)
        if step.kind != "ingreso-cdm":
            return
        if step.severity >= 2 and "ingreso-casa-acogida" not in kinds and rng.random() < 0.5:
            self._send(step, TO_SHELTER)
        if rng.random() < 0.3:
            self._send(step, TO_WORK)
        if self.children and rng.random() < 0.3:
            self._send(step, TO_CHILDREN, rng.choice(["aps", "municipalidad"]))

    def _changes(self, referral: Referral) -> list[Change]:
        """Return the Task versions that take ``referral`` from "enviada" to its outcome."""
        if referral.outcome is None or referral.outcome_at is None:  # lost: nobody answers
            return []
        codes = STEPS[referral.outcome]
        if referral.arrival is None:
            return self._answered(referral, codes, referral.outcome_at)
        return self._arrived(referral, referral.arrival, codes)

    def _answered(
        self, referral: Referral, codes: tuple[str, ...], answer: datetime
    ) -> list[Change]:
        """An answer without a contact, after an acceptance some days after the referral
        when it goes through one (she missed the appointment, the service began)."""
        changes, at = [], referral.source.end
        for code in codes[:-1]:
            wanted = at + timedelta(days=self.rng.uniform(*ACCEPT_DAYS))
            at = self._between(wanted, at, answer, office=True)
            changes.append(Change(referral, code, at))
        return [*changes, Change(referral, codes[-1], answer)]

    def _arrived(self, referral: Referral, step: Step, codes: tuple[str, ...]) -> list[Change]:
        """Accepted before she comes, started by her contact (else answered by it),
        completed after it: one Task change each, her contact's bundle carrying one."""
        carried = codes.index("en-atencion") if "en-atencion" in codes else len(codes) - 1
        changes, at = [], referral.source.end
        for code in codes[:carried]:
            wanted = at + (step.at - at) * self.rng.uniform(0.05, 0.5)
            at = self._between(wanted, at, step.at, office=step.kind in OFFICE)
            changes.append(Change(referral, code, at))
        arrival = Change(referral, codes[carried], step.at, contact=step)
        step.arrivals.append(arrival)
        changes.append(arrival)
        at = step.end
        for code in codes[carried + 1 :]:
            at = at + timedelta(minutes=self.rng.randint(*CLOSE_MIN))
            changes.append(Change(referral, code, at))
        return changes

    def _between(
        self, wanted: datetime, after: datetime, before: datetime, office: bool
    ) -> datetime:
        """Return ``wanted`` to the minute (moved into office hours for an institution that
        keeps them) when it falls strictly between ``after`` and ``before``, else the minute
        halfway: the Task's versions must keep their order."""
        if office:
            wanted = clock.office_hours(wanted, self.rng)
        wanted = wanted.replace(second=0, microsecond=0)
        if after < wanted < before:
            return wanted
        return (after + (before - after) / 2).replace(second=0, microsecond=0)
