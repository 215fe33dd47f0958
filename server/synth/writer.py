"""Write the synthetic bundles to disk, and count what a server would hold after loading them.

Layout of ``OUT``:

- ``bundles/00-institutions.json``, ``bundles/<contact>-<case>.json``: one transaction
  Bundle per file (2-space indented); sorted file names give the load order (every
  first contact, then every second contact...: see ``named_bundles``).
- ``transactions.ndjson``: the same bundles, one per line, in the same order.
- ``summary.json``: what ``summarize`` counts.

The counts are taken from the bundles themselves (not from the plan), so they also check
the output: a resource is counted once per business identifier, however many bundles
carry it.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from profiles import instruments, scoring

from .journeys import named_bundles
from .resources import RUN_SYSTEM

__all__ = ["SynthSummary", "summarize", "write"]

# Top of the three-level scale the early warnings use (fixtures README 5.4): high risk.
HIGH_RISK = {"alto", "vital", "vital-alto"}


@dataclass(frozen=True)
class SynthSummary:
    """What a synthetic data set holds, as written to ``summary.json``."""

    cases: int
    seed: int
    bundles: int
    entries: int
    resources: dict[str, int]
    task_updates: int
    survivors: int
    survivors_without_run: int
    shared_aggressors: int
    survivors_with_shared_aggressor: int
    recurrences: int
    high_risk: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _code(concept: dict[str, Any]) -> str:
    return concept["coding"][0]["code"]


def _scored_level(response: dict[str, Any]) -> str:
    """The level the platform will give these risk answers."""
    questionnaire = instruments.questionnaire(response["questionnaire"])
    return scoring.score(questionnaire, response).level["code"]


class _Tally:
    """Counts bundles one at a time, so that writing never holds the whole data set."""

    def __init__(self) -> None:
        self.created: dict[str, set[str]] = defaultdict(set)
        self.run_patients: dict[str, set[str]] = defaultdict(set)
        self.incidents: dict[str, list[datetime]] = defaultdict(list)
        self.high: set[str] = set()
        self.without_run: set[str] = set()
        self.bundles = self.entries = self.updates = 0

    def add(self, bundle: dict[str, Any]) -> None:
        self.bundles += 1
        self.entries += len(bundle["entry"])
        patients = {
            e["fullUrl"]: e["request"]["ifNoneExist"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "Patient"
        }
        for entry in bundle["entry"]:
            resource, request = entry["resource"], entry["request"]
            kind = resource["resourceType"]
            if request["method"] == "PUT" and "?" in request["url"]:
                self.updates += 1
                continue
            self.created[kind].add(request.get("ifNoneExist") or request["url"])
            if kind == "Patient" and resource["identifier"][0]["system"] != RUN_SYSTEM:
                self.without_run.add(request["ifNoneExist"])
            subject = resource.get("patient", resource.get("subject", {}))
            patient = patients.get(subject.get("reference", ""))
            if patient is None:
                continue
            if kind == "RelatedPerson":
                for identifier in resource["identifier"]:
                    if identifier["system"] == RUN_SYSTEM:
                        self.run_patients[identifier["value"]].add(patient)
            elif kind == "Observation" and _code(resource["code"]) == "incidente-violencia":
                at = datetime.fromisoformat(resource["effectiveDateTime"])
                self.incidents[patient].append(at)
            elif kind == "RiskAssessment" and any(
                _code(p["qualitativeRisk"]) in HIGH_RISK for p in resource["prediction"]
            ):
                self.high.add(patient)
            elif kind == "QuestionnaireResponse" and _scored_level(resource) in HIGH_RISK:
                self.high.add(patient)  # the platform scores these answers on arrival

    def summary(self, cases: int, seed: int) -> SynthSummary:
        shared = {run: women for run, women in self.run_patients.items() if len(women) > 1}
        return SynthSummary(
            cases=cases,
            seed=seed,
            bundles=self.bundles,
            entries=self.entries,
            resources={kind: len(keys) for kind, keys in sorted(self.created.items())},
            task_updates=self.updates,
            survivors=len(self.created["Patient"]),
            survivors_without_run=len(self.without_run),
            shared_aggressors=len(shared),
            survivors_with_shared_aggressor=len(set().union(*shared.values())),
            recurrences=sum(_recurs(times) for times in self.incidents.values()),
            high_risk=len(self.high),
        )


def summarize(bundles: Iterable[dict[str, Any]], cases: int, seed: int) -> SynthSummary:
    """Return the counts of a sequence of bundles (institutions bundle included or not).

    A resource counts once per business identifier. Recurrence follows the fixtures' rule
    (README 5.4): reports of one survivor less than 72 hours apart are one incident; she
    recurs with two incidents within 365 days. High risk: any assessment at the top of the
    three-level scale (alto, vital or the PUIR's vital-alto).
    """
    tally = _Tally()
    for bundle in bundles:
        tally.add(bundle)
    return tally.summary(cases, seed)


def _recurs(times: list[datetime]) -> bool:
    starts: list[datetime] = []
    for at in sorted(times):
        if not starts or at - starts[-1] >= timedelta(hours=72):
            starts.append(at)
    return any(b - a <= timedelta(days=365) for a, b in zip(starts, starts[1:], strict=False))


def write(cases: int, seed: int, out: Path) -> SynthSummary:
    """Write ``cases`` journeys for ``seed`` under ``out`` and return their summary.

    Bundle files a previous run left in ``out/bundles`` and this run did not write are
    removed, so the folder always holds exactly this data set (a stale higher-numbered case
    would otherwise be loaded).
    The same (cases, seed) writes byte-identical files.
    """
    folder = Path(out) / "bundles"
    folder.mkdir(parents=True, exist_ok=True)
    tally, names = _Tally(), set()
    with tempfile.TemporaryDirectory(dir=out) as scratch:
        rounds: dict[str, BinaryIO] = {}
        try:
            for name, bundle in named_bundles(cases, seed):
                (folder / f"{name}.json").write_bytes(
                    orjson.dumps(bundle, option=orjson.OPT_INDENT_2) + b"\n"
                )
                number = name.split("-", 1)[0]
                if number not in rounds:
                    rounds[number] = (Path(scratch) / number).open("wb")
                rounds[number].write(orjson.dumps(bundle) + b"\n")
                tally.add(bundle)
                names.add(f"{name}.json")
        finally:
            for handle in rounds.values():
                handle.close()
        with (Path(out) / "transactions.ndjson").open("wb") as ndjson:
            for number in sorted(rounds):
                with (Path(scratch) / number).open("rb") as part:
                    shutil.copyfileobj(part, ndjson)
    for stale in folder.glob("[0-9]*-*.json"):
        if stale.name not in names:
            stale.unlink()
    summary = tally.summary(cases, seed)
    (Path(out) / "summary.json").write_bytes(
        orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2) + b"\n"
    )
    return summary
