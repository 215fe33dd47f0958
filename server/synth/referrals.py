"""Referrals between institutions: the ones that bring her to her next contact, and the rest.

A contact that a referral leads to (a Centro de la Mujer intake after a 1455 call) gets a
ServiceRequest + Task from the referring contact, and updates the Task when she arrives.
Other referrals are answered by the receiving institution without a contact (no place in
the shelter, she did not come) or never answered at all: the lost referrals the platform
exists to notice.
"""

from __future__ import annotations

import random
from datetime import timedelta

from . import clock
from .institutions import Catalogue, Hub, Institution
from .pathways import ARRIVAL, REFERRERS, TO_CDM, TO_CHILDREN, TO_FISCALIA, TO_SHELTER, TO_WORK
from .plan import Referral, Step, weighted
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
            earlier = [s for s in steps[:j] if s.org.id != step.org.id]
            known = len(earlier) < j  # she is already in this institution's care
            if step.kind not in ARRIVAL or step.reports or not services or not earlier or known:
                continue
            if self.rng.random() >= 0.9:  # she went on her own (demanda espontánea)
                continue
            preferred = [s for s in earlier if s.kind in REFERRERS.get(step.kind, ())]
            referral = self._new((preferred or earlier)[-1], services[0], step.org)
            referral.outcome, referral.outcome_at = ARRIVAL[step.kind], step.at
            step.referral_in = referral
            step.arrivals.append(referral)
        kinds = {s.kind for s in steps}
        for step in steps:
            self._unanswered(step, kinds)

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
