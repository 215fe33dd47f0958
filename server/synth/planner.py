"""Plan one survivor's journey from a seed: who she is, what happened, where she went.

Everything is drawn from a Random seeded by (seed, case number), and from Faker seeded the
same way, so that case *i* is the same whatever the number of cases asked for. Shared
aggressors are decided per block of 25 cases, also independently of the total.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from functools import cache

from faker import Faker

from . import clock, people
from .ids import rng as world_rng
from .ids import seed_int
from .institutions import Catalogue, Institution, catalogue
from .pathways import (
    ASSESS,
    DASH_SCORES,
    DOCUMENTS,
    DURATION_MIN,
    FORMS,
    INSTRUMENTS,
    OFFICE,
    PATHWAYS,
    PLACES,
    SEVERITY,
    WEAPONS,
)
from .plan import Case, Change, Event, Step, weighted
from .referrals import Referrals
from .terms import Terms

__all__ = ["BLOCK", "plan_case", "shared_groups"]

BLOCK = 25
_PARTNER = ("pareja", "ex-pareja")
_LAST_FIRST_INCIDENT = datetime(2026, 7, 31)  # leaves two months for the first contacts


@cache
def shared_groups(seed: int, block: int) -> dict[int, tuple[int, int, str]]:
    """Return case -> (first case of its group, position, hub) for the groups of a block.

    One or two men per block of 25 cases used violence against two or three of its women,
    who live near the same hub.
    """
    rng = world_rng(seed, "block", block)
    hubs = [h.comuna for h in catalogue().hubs]
    weights = [h.weight for h in catalogue().hubs]
    members = list(range(block * BLOCK + 1, block * BLOCK + BLOCK + 1))
    rng.shuffle(members)
    groups: dict[int, tuple[int, int, str]] = {}
    for _ in range(1 if rng.random() < 0.7 else 2):
        size = 2 if rng.random() < 0.7 else 3
        chosen, members = sorted(members[:size]), members[size:]
        hub = rng.choices(hubs, weights=weights)[0]
        for position, case in enumerate(chosen):
            groups[case] = (chosen[0], position, hub)
    return groups


class _Planner:
    def __init__(self, index: int, seed: int, fake: Faker, t: Terms, cat: Catalogue) -> None:
        self.index, self.seed, self.t, self.cat = index, seed, t, cat
        self.rng = world_rng(seed, "case", index)
        self.fake = fake
        self.orgs: dict[str, Institution] = {}

    def plan(self) -> Case:
        rng = self.rng
        window = int((_LAST_FIRST_INCIDENT - clock.START).total_seconds() // 60)
        first = clock.START + timedelta(minutes=rng.randrange(window))
        self._people(first)
        severity = rng.choices(range(4), weights=SEVERITY)[0]
        steps, events = self._journey(first, severity)
        steps = sorted((s for s in steps if s.at <= clock.END), key=lambda s: s.at)
        steps[0].consent = True  # she gives her consent at her first contact
        partner = self.group in _PARTNER
        Referrals(rng, self.t, self.cat, self.hub, partner, self.woman.children).add(steps)
        cdm = [s.org for s in steps if s.org.kind == "centro-de-la-mujer"]
        case = Case(
            self.index,
            f"{self.seed}-{self.index}",
            self.hub.comuna,
            self.woman,
            self.man,
            cdm[0] if cdm else steps[0].org,
            [e for e in events if any(s.event is e for s in steps)],
            steps,
            self._responses(steps),
        )
        for number, item in enumerate(case.emissions(), start=1):
            item.number = number
        return case

    def _people(self, first: datetime) -> None:
        """Choose her hub and home, then draw her and the man (shared or not)."""
        rng, t, cat = self.rng, self.t, self.cat
        group = shared_groups(self.seed, (self.index - 1) // BLOCK).get(self.index)
        shared = None
        if group:  # drawn first: it reseeds Faker with the group's own seed
            shared = people.shared_aggressor(group[0], self.seed, self.fake, first.date())
        self.fake.seed_instance(seed_int(self.seed, "case", self.index))
        weights = [h.weight for h in cat.hubs]
        hub = group[2] if group else rng.choices([h.comuna for h in cat.hubs], weights)[0]
        self.hub = next(h for h in cat.hubs if h.comuna == hub)
        province = t.by_province[t.comunas[hub].provincia_code]
        home = hub if rng.random() < 0.55 else rng.choice(province).code
        self.woman = people.survivor(self.index, self.seed, rng, self.fake, t, home, first.date())
        if group and shared:  # his former partner first, then the current one(s)
            former = ["ex-conviviente", "ex-pololo", "padre-hijo-comun"]
            relation = rng.choice(former if group[1] == 0 else ["conviviente", "pololo"])
            self.man = dataclasses.replace(shared, relation=relation)
        else:
            self.man = people.aggressor(
                self.index, self.seed, rng, self.fake, self.woman, first.date()
            )
        self.group = t.root("relacion-agresor", self.man.relation)
        if self.man.relation == "companero-trabajo":  # violence at work has its own pattern
            self.group = "companero-trabajo"

    def _responses(self, steps: list[Step]) -> list[Change]:
        """The referrals' Task changes that no contact of hers carries, within the window:
        a change after it has not happened yet when the data ends."""
        responses = []
        for referral in (r for s in steps for r in s.referrals_out):
            referral.changes = [c for c in referral.changes if c.at <= clock.END]
            responses += [c for c in referral.changes if c.contact is None]
        return responses

    # -- incidents and contacts -------------------------------------------------------
    def _event(self, number: int, at: datetime, severity: int, extra: str | None) -> Event:
        rng, probs = self.rng, FORMS[self.group]
        forms = [f for f, p in probs.items() if rng.random() < p] or [next(iter(probs))]
        if extra and extra not in forms:
            forms.append(extra)
        forms = [f for f in self.t.codes("formas-violencia") if f in forms]  # law order
        place = weighted(rng, PLACES[self.group])
        if place == "espacio-digital" and ("fisica" in forms or "sexual" in forms):
            place = "via-publica"
        home = place.startswith("domicilio")
        return Event(
            number,
            at,
            forms,
            place,
            weighted(rng, WEAPONS[severity]),
            home and self.woman.children > 0 and rng.random() < 0.5,
            "fisica" in forms and rng.random() < 0.6 + 0.1 * severity,
            self.woman.comuna if rng.random() < 0.8 else self.hub.comuna,
            severity,
        )

    def _pathway(self, severity: int) -> list[tuple[str, tuple[float, float], bool]]:
        partner = self.group in _PARTNER
        options = [p for p in PATHWAYS if (partner or not p[2]) and severity >= p[3]]
        return self.rng.choices(options, weights=[p[1] for p in options])[0][4]

    def _journey(self, first: datetime, severity: int) -> tuple[list[Step], list[Event]]:
        rng = self.rng
        pathway = self._pathway(severity)
        kinds = [k for k, _, _ in pathway]
        extra = (
            "sexual"
            if "peritaje-sml" in kinds
            else ("fisica" if "atencion-urgencia" in kinds else None)
        )
        events = [self._event(1, first, severity, extra)]
        steps = self._steps(pathway, events[0], severity)
        # Partners and relatives come back; a stranger or acquaintance rarely does.
        recur = self.group in (*_PARTNER, "familiar") and rng.random() < 0.2 + 0.1 * severity
        last = events[0].at
        while recur and len(events) < 3:
            room = (min(clock.END, events[0].at + timedelta(days=364)) - last).days - 10
            if room < 30:
                break
            severity = min(3, severity + (rng.random() < 0.55))
            at = last + timedelta(days=rng.randint(30, min(room, 240)), minutes=rng.randrange(1440))
            event = self._event(len(events) + 1, at, severity, None)
            events.append(event)
            path: list[tuple[str, tuple[float, float], bool]] = (
                [("denuncia", (0.5, 24), True)]
                if rng.random() < 0.6
                else [("llamada-1455", (0.5, 24), True)]
            )
            if event.injuries and rng.random() < 0.5:
                path.append(("atencion-urgencia", (0.5, 4), True))
            if path[0][0] == "denuncia" and severity >= 2 and rng.random() < 0.4:
                path.append(("audiencia-garantia", (12, 40), False))
            if any(s.kind == "ingreso-cdm" for s in steps):
                path.append(("seguimiento-cdm", (48, 400), False))
            steps += self._steps(path, event, severity)
            last, recur = at, rng.random() < 0.15
        intake = next((s for s in steps if s.kind == "ingreso-cdm"), None)
        for step in steps:  # a follow-up never comes before the intake it follows
            if intake and step.kind == "seguimiento-cdm" and step.at <= intake.end:
                moved = clock.office_hours(intake.end + timedelta(days=rng.randint(7, 21)), rng)
                step.end, step.at = moved + (step.end - step.at), moved
        return steps, events

    def _org(self, kind: str) -> Institution:
        kinds = self.t.property_codes("tipo-contacto", kind, "tipoInstitucion")
        if len(kinds) > 1:  # Carabineros take most complaints; PDI more often sexual ones
            pdi = 0.5 if self.group == "desconocido" else 0.2
            kinds = [kinds[1] if self.rng.random() < pdi else kinds[0]]
        if kinds[0] not in self.orgs:
            self.orgs[kinds[0]] = self.cat.institutions[
                self.rng.choice(self.hub.institutions[kinds[0]])
            ]
        return self.orgs[kinds[0]]

    def _steps(
        self, path: list[tuple[str, tuple[float, float], bool]], event: Event, severity: int
    ) -> list[Step]:
        rng, steps, at = self.rng, [], event.at
        for kind, (low, high), reports in path:
            at = at + timedelta(minutes=rng.uniform(low, high) * 60)
            if kind in OFFICE:
                at = clock.office_hours(at, rng)
            at = at.replace(second=0, microsecond=0)
            end = at + timedelta(minutes=rng.randint(*DURATION_MIN[kind]))
            step = Step(kind, self._org(kind), at, end, event, severity, reports)
            if reports:  # each institution writes down the time a little differently
                step.reported_at = min(at, event.at + timedelta(minutes=5 * rng.randint(-9, 9)))
            self._assess(step)
            doc, p = DOCUMENTS.get(kind, (None, 0.0))
            if doc and rng.random() < p and (kind != "atencion-urgencia" or event.injuries):
                step.document = doc
            steps.append(step)
            at = end
        return steps

    def _assess(self, step: Step) -> None:
        rng, t = self.rng, self.t
        if rng.random() >= ASSESS.get(step.kind, 0.0):
            return
        usable = {
            code: w
            for code, w in INSTRUMENTS.items()
            if step.org.kind in t.property_codes("instrumento-riesgo", code, "aplicadoPor")
            and (code != "puir" or self.group in _PARTNER)
        }
        if not usable:
            return
        step.instrument = weighted(rng, usable)
        levels = t.property_codes("instrumento-riesgo", step.instrument, "nivel")
        severity = step.severity
        if step.instrument == "pauta-1455" and rng.random() < 0.2:  # a phone call misjudges
            severity = max(0, min(3, severity + rng.choice((-1, 1))))
        step.level = levels[min(severity, len(levels) - 1)]
        if step.instrument == "dash":
            step.score = rng.randint(*DASH_SCORES[step.level])


def plan_case(index: int, seed: int, fake: Faker, t: Terms, cat: Catalogue) -> Case:
    """Return the planned journey of survivor ``index`` (1-based) for ``seed``."""
    return _Planner(index, seed, fake, t, cat).plan()
