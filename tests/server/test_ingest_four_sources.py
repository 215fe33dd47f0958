"""The four institutions' fixture files ingested into one store, end to end (issue 9;
section 6 of ``shared/fixtures/institutions/README.md``, ``tests/ground_truth.py``).

Each file is ingested as its institution (``server/ingest.py``), the platform linking
the survivors: a woman already recorded with her valid RUN or passport, by whichever
institution, is the same record; one linked by name and facts only is a candidate link
for the platform's staff (``server/linkage/review.py``, what ``amparo linkage`` runs),
who confirm them all here. A real early-warning worker then reads the store. What must
come out is the README's: the outcomes per file, the 52 survivors and who links to
whom, one open case each, the aggressors, and the alerts.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace

import orjson
import pytest

import mappings
from mappings.engine import INGESTED, resource_id
from server import clock, ingest
from server.access import ANONYMOUS, AccessGate
from server.api.router import Context, FhirRequest, dispatch
from server.config import Settings
from server.linkage.review import Candidate, confirm, pending, platform_context
from server.loading import INTERNAL_BASE, initialise
from server.repository import Repository
from server.search.parse import parse_search
from server.store import Store, open_store
from server.warnings.aggressors import aggressor, same
from server.warnings.engine import EarlyWarning
from server.worker import OutboxWorker
from tests.ground_truth import (
    AGGRESSORS,
    ESCALATION,
    HIGH_RISK,
    OUTCOMES,
    PROBABLE,
    RECURRENCE,
    SAME_CAUSE,
    SERIAL,
    SOURCES,
    SURVIVORS,
    ground_truth,
)
from tests.mappings.records import EXTRACTED, FIXTURES
from tests.stores import TEST_STORE, drop_store, new_store_url

RUC = "https://fhir.amparo.cl/sid/ruc"


@dataclass
class Ingested:
    store: Store
    ctx: Context  # the platform's, as its staff acts
    counts: dict[str, dict[str, int]]
    #: every ingested record's label (``hotline row 3``) -> its ids by resource name
    records: dict[str, dict[str, str]]
    authors: dict[str, str]  # label -> the institution that wrote it
    candidates: list[Candidate]  # as proposed, before the staff confirmed them


def ingest_all(tmp_path_factory: pytest.TempPathFactory,
               sources: tuple[tuple[str, str, str], ...]) -> Iterator[Ingested]:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent: the institutions' fixtures are not on this machine")
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("four-sources"))
    settings = Settings(store=url)
    initialise(settings)
    store = open_store(url)
    try:
        counts, records, authors = {}, {}, {}
        for name, path, label in sources:
            mapping = mappings.load(name)
            data = (FIXTURES / path).read_bytes()
            summary = ingest.ingest(store, settings, mapping, data, path, extracted=EXTRACTED)
            counts[name] = summary.counts
            for result in summary.results:
                if result.outcome == INGESTED:
                    records[f"{label} {result.position}"] = {
                        r["name"]: resource_id(mapping, result.key, r["name"])
                        for r in mapping["resources"]}
                    authors[f"{label} {result.position}"] = ingest.author_of(store, result) \
                        or f"Organization/{mapping['institution']}"
        ctx = platform_context(Context(Repository(store, AccessGate(store), settings.profiles),
                                       settings, ANONYMOUS, INTERNAL_BASE), "revisora")
        yield Ingested(store, ctx, counts, records, authors, pending(ctx.repo))
    finally:
        store.close()
        drop_store(url)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    yield from ingest_all(tmp_path_factory, SOURCES)


@pytest.fixture(scope="module")
def confirmed(ingested: Ingested) -> Ingested:
    """The staff confirm every candidate link; then early warning runs (a real worker)."""
    for candidate in ingested.candidates:
        confirm(ingested.ctx, candidate.id)
    worker = OutboxWorker(ingested.store, f"early-warning-{uuid.uuid4()}",
                          EarlyWarning(ingested.ctx.repo))
    try:
        while worker.run_once():
            pass
        assert worker.failures == 0
    finally:
        worker.stop()
    return ingested


def every(store: Store, type: str) -> list[dict]:
    query = replace(parse_search(type, [("_count", "1000")]).query, total=False)
    with store.unit_of_work() as uow:
        return [orjson.loads(v.body) for v in uow.search(query).matches]


def survivor_of(state: Ingested, label: str) -> str:
    """``Patient/<id>`` of the woman a record is now about: its contact's subject,
    through any merge (``replaced-by``)."""
    contact = state.store.read("Encounter", state.records[label]["contacto"])
    reference = orjson.loads(contact.body)["subject"]["reference"]
    while True:
        patient = orjson.loads(state.store.read("Patient", reference.split("/")[1]).body)
        moved = [link["other"]["reference"] for link in patient.get("link") or []
                 if link["type"] == "replaced-by"]
        if not moved:
            return reference
        reference = moved[0]


def labels_of(state: Ingested) -> dict[str, str]:
    """Each survivor's Patient -> her label in the ground truth."""
    truth = ground_truth()
    return {survivor_of(state, records[0]): label for label, records in truth.items()}


def alerted(state: Ingested) -> dict[str, set[str]]:
    """The active alerts' codes -> the labels of the survivors they are on."""
    names = labels_of(state)
    found = defaultdict(set)
    for flag in every(state.store, "Flag"):
        if flag["status"] == "active":
            found[flag["code"]["coding"][0]["code"]].add(names[flag["subject"]["reference"]])
    return found


def test_every_file_has_the_readmes_outcomes(ingested):
    assert ingested.counts == OUTCOMES


def test_each_woman_known_by_her_run_or_passport_is_one_record_across_institutions(ingested):
    """Before any review: the certain matches (rule 5.2.1) were made whichever
    institution recorded her first, though none of them may see another's records."""
    for label, records in SURVIVORS.items():
        certain = [r for r in records if r not in PROBABLE]
        assert len({survivor_of(ingested, r) for r in certain}) == 1, label
    patients = every(ingested.store, "Patient")
    assert len(patients) == 52 + len(PROBABLE)
    assert all(p.get("active", True) for p in patients)


def test_the_probable_matches_are_the_candidate_links_for_the_platforms_review(ingested):
    proposed = {}
    for candidate in ingested.candidates:
        assert candidate.proposer == "plataforma"  # no institution was shown them
        assert {"mismo nombre", "misma comuna"} <= set(candidate.reasons)
        [fold] = [r for r in PROBABLE if survivor_of(ingested, r) == candidate.fold]
        proposed[fold] = candidate.keep
    assert sorted(proposed) == sorted(PROBABLE)
    for fold, keep in proposed.items():
        [label] = [label for label, records in SURVIVORS.items() if fold in records]
        others = [r for r in SURVIVORS[label] if r not in PROBABLE]
        assert keep == survivor_of(ingested, others[0]), fold
    assert not [link for link in every(ingested.store, "Linkage")
                if "author" in link]  # made by the platform, for nobody else to see


def test_the_order_the_files_come_in_changes_no_link(tmp_path_factory):
    for reverse in ingest_all(tmp_path_factory, SOURCES[::-1]):
        test_each_woman_known_by_her_run_or_passport_is_one_record_across_institutions(
            reverse)
        test_the_probable_matches_are_the_candidate_links_for_the_platforms_review(reverse)


def test_once_confirmed_the_survivors_are_the_readmes_52(confirmed):
    clusters = defaultdict(set)
    for label in confirmed.records:
        clusters[survivor_of(confirmed, label)].add(label)
    assert sorted(map(sorted, clusters.values())) == \
        sorted(sorted(records) for records in ground_truth().values())
    active = [p for p in every(confirmed.store, "Patient") if p.get("active", True)]
    assert len(active) == 52


def test_each_survivor_has_one_open_case_holding_all_her_contacts(confirmed):
    """Her case began when she was first met, and every institution that met her is on
    its care team (a case folded into it brought its own)."""
    cases = every(confirmed.store, "EpisodeOfCare")
    assert Counter(c["status"] for c in cases) == {"active": 52, "cancelled": len(PROBABLE)}
    open_cases = {c["patient"]["reference"]: c for c in cases if c["status"] == "active"}
    assert len(open_cases) == 52
    for records in ground_truth().values():
        case = open_cases[survivor_of(confirmed, records[0])]
        contacts = [orjson.loads(confirmed.store.read(
            "Encounter", confirmed.records[label]["contacto"]).body) for label in records]
        assert all(c["episodeOfCare"] == [{"reference": f"EpisodeOfCare/{case['id']}"}]
                   for c in contacts), records
        first = min(clock.parse_instant(c["period"]["start"]) for c in contacts)
        assert clock.parse_instant(case["period"]["start"]) == first, records
        team = orjson.loads(confirmed.store.read(
            "CareTeam", case["team"][0]["reference"].split("/")[1]).body)
        assert {confirmed.authors[label] for label in records} <= \
            {p["member"]["reference"] for p in team["participant"]}, records


def test_each_record_is_written_by_its_own_institution(ingested):
    """A feed of several institutions: each hospital, police force and women's centre
    the directory knows authors its own records (it sees them, and takes part in her
    case); a record of one it does not know is written by the feed's institution (two
    hospitals and eight centres of these files are not in the demo directory)."""
    def kind(author: str) -> str:
        id = author.split("/")[1]
        return next((p for p in ("salud-urgencia", "centro-de-la-mujer")
                     if id.startswith(p + "-")), id)

    assert Counter(map(kind, ingested.authors.values())) == {
        "linea-1455": 27, "carabineros": 23, "pdi": 2, "salud-urgencia": 11,
        "red-urgencias-salud": 2, "centro-de-la-mujer": 12, "sernameg": 8}
    for label, ids in ingested.records.items():
        contact = orjson.loads(ingested.store.read("Encounter", ids["contacto"]).body)
        assert {"system": "https://fhir.amparo.cl/CodeSystem/institucion-autora",
                "code": ingested.authors[label].split("/")[1]} in contact["meta"]["tag"]


def test_the_aggressors_are_the_readmes(confirmed):
    """Section 6.3: the same valid RUN is the same man; G12's second complaint, whose RUN
    has a wrong check digit, is his by name and birth date (rule 5.3). The men are the
    groups of aggressor records that ``same`` joins: those against two or more women are
    A1's and A2's, and G12's records are one man. (A woman's complaint and her intake
    often name one man too: the README lists only these.)"""
    men = {}
    for label, records in confirmed.records.items():
        found = confirmed.store.read("RelatedPerson", records["agresor"]) \
            if "agresor" in records else None
        if found is not None and not found.deleted:
            men[label] = aggressor(orjson.loads(found.body))
    groups: list[set[str]] = []
    for label, man in men.items():
        joined = [g for g in groups if any(same(man, men[other]) for other in g)]
        groups = [g for g in groups if g not in joined] + [{label}.union(*joined)]
    women = labels_of(confirmed)
    serial = [g for g in groups if len({women[survivor_of(confirmed, r)] for r in g}) > 1]
    assert sorted(map(sorted, serial)) == sorted([sorted(AGGRESSORS["A1"]),
                                                  sorted(AGGRESSORS["A2"])])
    assert set(AGGRESSORS["G12"]) in groups


def test_a_complaint_and_an_intake_of_one_cause_share_its_ruc(confirmed):
    """Section 6.5: the prosecutor's case number (RUC) the police sent is the one the
    women's centre recorded; both contacts carry it (``sid/ruc``), on the same woman."""
    women = labels_of(confirmed)
    kinds, whose = defaultdict(set), defaultdict(set)
    for contact in every(confirmed.store, "Encounter"):
        for identifier in contact.get("identifier") or []:
            if identifier["system"] == RUC:
                kinds[identifier["value"]].add(contact["type"][0]["coding"][0]["code"])
                whose[identifier["value"]].add(women[contact["subject"]["reference"]])
    shared = [ruc for ruc, found in kinds.items() if found == {"denuncia", "ingreso-cdm"}]
    assert all(len(whose[ruc]) == 1 for ruc in shared)
    assert {woman for ruc in shared for woman in whose[ruc]} == SAME_CAUSE


def test_the_alerts_are_the_readmes(confirmed):
    found = alerted(confirmed)
    assert found["reincidencia"] == RECURRENCE
    assert found["riesgo-alto"] == HIGH_RISK
    assert found["escalamiento"] == ESCALATION
    assert found["agresor-serial"] == SERIAL


def test_ingesting_the_files_again_changes_nothing(confirmed):
    """Even after the merges: a merged record's key or RUN finds the Patient it was
    merged into (which holds its identifiers), so every record is found as it is."""
    versions = confirmed.store.version_count()
    for name, path, _ in SOURCES:
        summary = ingest.ingest(confirmed.store, confirmed.ctx.settings, mappings.load(name),
                                (FIXTURES / path).read_bytes(), path, extracted=EXTRACTED)
        assert summary.counts == OUTCOMES[name]
    assert confirmed.store.version_count() == versions


def test_undoing_a_confirmation_parts_her_records_and_cases_again(confirmed):
    """S08: the hotline's WhatsApp contact (no RUN) was merged into her intake at the
    women's centre; the hotline's case, opened first, was kept and the centre joined
    it. ``Patient/$unmerge`` (as the platform's staff) parts them exactly; merging
    again restores the state the other tests read."""
    hotline, centre = survivor_of(confirmed, "hotline row 9"), \
        survivor_of(confirmed, "sernameg row 5")
    assert hotline == centre
    contacts = {label: confirmed.records[label]["contacto"]
                for label in ("hotline row 9", "sernameg row 5")}

    def case_of(label: str) -> dict:
        contact = orjson.loads(confirmed.store.read("Encounter", contacts[label]).body)
        [reference] = contact["episodeOfCare"]
        return orjson.loads(confirmed.store.read(
            "EpisodeOfCare", reference["reference"].split("/")[1]).body)

    def team_of(case: dict) -> set[str]:
        team = orjson.loads(confirmed.store.read(
            "CareTeam", case["team"][0]["reference"].split("/")[1]).body)
        assert team["subject"] == case["patient"]  # renamed and joined, or undone, both
        return {p["member"]["reference"] for p in team["participant"]}

    kept = case_of("hotline row 9")
    assert team_of(kept) == {"Organization/linea-1455", confirmed.authors["sernameg row 5"]}
    [merged] = [p for p in every(confirmed.store, "Patient")
                if any(link["other"]["reference"] == centre for link in p.get("link") or [])
                and p.get("active") is False]
    parameters = {"resourceType": "Parameters", "parameter": [
        {"name": "source-patient", "valueReference": {"reference": f"Patient/{merged['id']}"}},
        {"name": "target-patient", "valueReference": {"reference": centre}}]}

    assert dispatch(confirmed.ctx, FhirRequest("POST", "Patient/$unmerge",
                                               parsed=parameters)).status == 200
    assert survivor_of(confirmed, "hotline row 9") == f"Patient/{merged['id']}"
    assert survivor_of(confirmed, "sernameg row 5") == centre
    theirs, ours = case_of("hotline row 9"), case_of("sernameg row 5")
    assert (theirs["id"], theirs["status"], ours["status"]) == (kept["id"], "active", "active")
    assert theirs["patient"]["reference"] == f"Patient/{merged['id']}"
    assert team_of(theirs) == {"Organization/linea-1455"}

    assert dispatch(confirmed.ctx, FhirRequest("POST", "Patient/$merge",
                                               parsed=parameters)).status == 200
    assert case_of("sernameg row 5")["id"] == kept["id"]
    assert team_of(case_of("sernameg row 5")) == team_of(kept)
