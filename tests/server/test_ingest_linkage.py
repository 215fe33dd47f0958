"""Ingestion links survivors as the platform, and shows the institutions no more than
their consent view (issue 9): over HTTP, after the hotline's and the police's files are
ingested into a served store.

- Camila (S01) called the hotline, then filed a complaint: one Patient, on whose case
  the police now are (the mandate's case coordination shows them her identity and
  case, as for any institution on her case).
- Her mother's call names her without a RUN: a candidate link, which no institution
  sees, not even the hotline whose records both are (a platform's link may name a
  woman the institution does not know), only the platform's review (``amparo
  linkage``).
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator

import orjson
import pytest

import mappings
from server import ingest
from server.config import Settings
from server.linkage.review import pending
from server.loading import initialise
from server.store import open_store
from server.store.port import AuditQuery
from tests.conftest import LiveServer, serve
from tests.ground_truth import SOURCES
from tests.mappings.records import EXTRACTED, FIXTURES
from tests.server.access.institutions import Institution
from tests.server.test_cli import run
from tests.stores import TEST_STORE, drop_store, new_store_url

RUN = "http://regcivil.cl/Validacion/RUN|41382204-1"  # S01's


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent: the institutions' fixtures are not on this machine")
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("ingest-linkage"))
    settings = Settings(store=url)
    initialise(settings)
    server = serve(settings)
    live = next(server)
    try:
        store = live.app.extensions["amparo"].store
        for name, path, _ in SOURCES[:2]:  # the hotline's, then the police's
            ingest.ingest(store, settings, mappings.load(name), (FIXTURES / path).read_bytes(),
                          path, extracted=EXTRACTED)
        yield live
    finally:
        server.close()
        drop_store(url)


def ids(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [e["resource"]["id"] for e in answer.json().get("entry", [])]


def test_she_is_one_record_and_the_police_join_her_case(served):
    hotline, police = Institution(served, "linea-1455", "COC"), \
        Institution(served, "carabineros", "COC")
    [camila] = ids(hotline.get("Patient", identifier=RUN))
    assert ids(police.get("Patient", identifier=RUN)) == [camila]
    [case] = [e["resource"] for e in police.get(
        "EpisodeOfCare", patient=f"Patient/{camila}").json()["entry"]]
    team = police.get(case["team"][0]["reference"])
    assert team.status_code == 200, team.text
    members = {p["member"]["reference"] for p in team.json()["participant"]}
    assert {"Organization/linea-1455", "Organization/carabineros"} <= members


def test_a_candidate_link_the_platform_made_is_shown_to_no_institution(served):
    links = pending(served.app.extensions["amparo"].repo)
    # her mother's call; S10's neighbour's; S04's sister's
    assert len(links) == 3
    for org in ("linea-1455", "carabineros"):
        institution = Institution(served, org, "COC")
        for link in links:
            for reference in (link.keep, link.fold):
                assert ids(institution.get("Linkage", item=reference)) == []
            assert institution.get(f"Linkage/{link.id}").status_code == 404


def test_amparo_linkage_lists_confirms_and_rejects_the_candidates(tmp_path):
    """The platform's staff review with the command, a real subprocess each time; their
    decisions are audited, and the trail stays whole."""
    if not FIXTURES.is_dir():
        pytest.skip(f"{FIXTURES} is absent: the institutions' fixtures are not on this machine")
    store = f"sqlite:///{tmp_path / 'review.db'}"
    loaded = run("ingest", "--store", store, "--mapping", "fono-1455",
                 str(FIXTURES / "hotline-1455/calls.csv"), "--extracted", "2026-09-30",
                 cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["candidateLinksAwaitingReview"] == 2

    def listed() -> list[dict]:
        answer = run("linkage", "list", "--store", store, cwd=tmp_path)
        assert answer.returncode == 0, answer.stderr
        return [json.loads(line) for line in answer.stdout.splitlines()]

    first, second = listed()  # S01's mother's call, S10's neighbour's
    assert first["proposedBy"] == second["proposedBy"] == "plataforma"
    assert "mismo nombre" in first["reasons"]
    confirmed = run("linkage", "confirm", first["id"], "--store", store, cwd=tmp_path)
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"{first['fold']} se fusionó en {first['keep']}" in confirmed.stdout
    rejected = run("linkage", "reject", second["id"], "--store", store, cwd=tmp_path)
    assert rejected.returncode == 0, rejected.stderr
    assert listed() == []
    again = run("linkage", "confirm", first["id"], "--store", store, cwd=tmp_path)
    assert again.returncode != 0 and "no candidate link" in again.stderr
    opened = open_store(store)
    try:
        merged = orjson.loads(opened.read("Patient", first["fold"].split("/")[1]).body)
        assert merged["active"] is False
        assert opened.read("Linkage", second["id"]).deleted
        staff = opened.audit_search(AuditQuery(user=(getpass.getuser(),), total=True))
        assert staff.total == 2  # the confirmation, the rejection
    finally:
        opened.close()
    assert run("audit", "verify", "--store", store, cwd=tmp_path).returncode == 0
