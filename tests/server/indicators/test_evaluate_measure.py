"""``Measure/[id]/$evaluate-measure`` over real HTTP against a served app whose store
holds the hand-checked data set (``dataset.py``) and what ``amparo init`` loads (the
Measures among it): the MeasureReport, its small cells masked, the stratifier choice,
who may call it, and every bad request answered 4xx with nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from server.config import Settings
from server.loading import initialise
from server.store import open_store
from tests.conftest import FHIR_JSON, LiveServer, TestClient, assert_outcome, serve
from tests.server.indicators import dataset
from tests.stores import TEST_STORE, drop_store, new_store_url

MASKED = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                         "valueCode": "masked"}]}
YEAR = {"periodStart": "2025", "periodEnd": "2025"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("evaluate"))
    initialise(Settings(store=url))
    store = open_store(url)
    try:
        dataset.load(store)
    finally:
        store.close()
    yield from serve(Settings(store=url))
    drop_store(url)


def evaluate(server: LiveServer, id: str, **params) -> requests.Response:
    return server.get(f"Measure/{id}/$evaluate-measure", params={**YEAR, **params})


def counts(group: dict) -> dict[str, int | None]:
    return {p["code"]["coding"][0]["code"]: p.get("count") for p in group["population"]}


def test_new_cases_of_2025_with_every_small_stratum_masked(server):
    response = evaluate(server, "casos-nuevos")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith(FHIR_JSON)
    report = response.json()
    get_fhir_model_class("MeasureReport").model_validate(report)
    assert (report["status"], report["type"]) == ("complete", "summary")
    assert report["measure"] == "https://fhir.amparo.cl/Measure/casos-nuevos"
    assert report["period"] == {"start": "2025-01-01", "end": "2025-12-31"}
    [group] = report["group"]
    assert counts(group) == {"initial-population": 6}
    stratifiers = {s["code"][0]["coding"][0]["code"]: s for s in group["stratifier"]}
    assert list(stratifiers) == ["region", "comuna", "mes", "forma-violencia", "tramo-edad",
                                 "institucion-ingreso"]
    for stratifier in stratifiers.values():  # every stratum here counts fewer than 5
        for stratum in stratifier["stratum"]:
            assert stratum["population"][0]["_count"] == MASKED
            assert "count" not in stratum["population"][0]
    regions = [s["value"] for s in stratifiers["region"]["stratum"]]
    assert {"system": "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodRegionCL",
            "code": "13", "display": "Metropolitana de Santiago"} in [
        c for r in regions for c in r.get("coding", [])]
    assert "Patient/" not in response.text and "EpisodeOfCare/" not in response.text


def test_a_proportion_reports_its_populations_and_a_masked_score(server):
    report = evaluate(server, "reincidencia").json()
    [group] = report["group"]
    populations = {p["code"]["coding"][0]["code"]: p for p in group["population"]}
    assert populations["denominator"]["count"] == 5  # women with an incident in 2025
    assert populations["numerator"]["_count"] == MASKED  # 2 recurred: under 5
    assert group["measureScore"] == MASKED


def test_the_stratifier_parameter_chooses_the_strata_reported(server):
    report = evaluate(server, "casos-nuevos", stratifier="mes,tramo-edad").json()
    codes = [s["code"][0]["coding"][0]["code"] for s in report["group"][0]["stratifier"]]
    assert codes == ["mes", "tramo-edad"]
    months = [s["value"]["text"] for s in report["group"][0]["stratifier"][0]["stratum"]]
    assert months == ["2025-01", "2025-03", "2025-04", "2025-05", "2025-07"]


def test_post_with_parameters_gives_the_same_report(server):
    body = {"resourceType": "Parameters", "parameter": [
        {"name": "periodStart", "valueDate": "2025-01-01"},
        {"name": "periodEnd", "valueDate": "2025-12-31"},
        {"name": "stratifier", "valueString": "estado-derivacion"}]}
    posted = server.post("Measure/derivaciones/$evaluate-measure", body)
    assert posted.status_code == 200, posted.text
    got = evaluate(server, "derivaciones").json()
    assert {k: v for k, v in posted.json().items() if k != "date"} == \
        {k: v for k, v in got.items() if k != "date"}
    assert counts(got["group"][0]) == {"initial-population": None}  # 4 referrals: masked


def test_the_measures_are_served_and_the_operation_is_in_the_capability_statement(server):
    """Any institution reads the Measures, for any purpose: they are public definitions
    (``server/access.py``, ``PUBLIC_TYPES``)."""
    police = TestClient(server.app.extensions["amparo"].store, server.base, org="carab",
                        purposes=("PUBHLTH",))
    measure = requests.get(server.url("Measure/casos-nuevos"), auth=police, timeout=30)
    assert measure.status_code == 200, measure.text
    assert measure.json()["title"] == "Casos nuevos"
    statement = server.get("metadata").json()
    [entry] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Measure"]
    assert {"name": "evaluate-measure", "definition": "https://fhir.amparo.cl/"
            "OperationDefinition/Measure-evaluate-measure"} in entry["operation"]
    assert {i["code"] for i in entry["interaction"]} == {
        "read", "vread", "search-type", "history-instance", "history-type"}


def test_the_measures_are_read_only(server):
    """Like every conformance resource (server/api/write.py READ_ONLY_TYPES): 405."""
    police = TestClient(server.app.extensions["amparo"].store, server.base, org="carab")
    measure = requests.get(server.url("Measure/casos-nuevos"), auth=police, timeout=30).json()
    before = _versions(server)
    for method, path in (("PUT", "Measure/casos-nuevos"), ("POST", "Measure"),
                         ("DELETE", "Measure/casos-nuevos")):
        response = server.http.request(method, server.url(path), json={
            **measure, "title": "otro"} if method != "DELETE" else None)
        assert_outcome(response, 405, "not-supported")
    assert _versions(server) == before


@pytest.mark.parametrize(("params", "code"), [
    ({"reportType": "subject"}, "not-supported"),
    ({"reportType": "subject-list"}, "not-supported"),
    ({"subject": "Patient/p1"}, "not-supported"),
    ({"practitioner": "Practitioner/x"}, "not-supported"),
    ({"desde": "2025"}, "not-supported"),
    ({"periodStart": "2025-01-15"}, "invalid"),
    ({"periodEnd": "2025-12-30"}, "invalid"),
    ({"periodStart": "2026", "periodEnd": "2025"}, "invalid"),
    ({"periodStart": "ayer"}, "invalid"),
    ({"periodStart": "2025-02-30"}, "invalid"),
    ({"stratifier": "estado-derivacion"}, "invalid"),
])
def test_bad_requests_are_400_and_change_nothing(server, params, code):
    before = _versions(server)
    assert_outcome(evaluate(server, "casos-nuevos", **params), 400, code)
    assert _versions(server) == before


def test_a_missing_period_or_a_repeated_one_is_400(server):
    assert_outcome(server.get("Measure/casos-nuevos/$evaluate-measure",
                              params={"periodStart": "2025"}), 400, "invalid")
    response = server.get("Measure/casos-nuevos/$evaluate-measure?periodStart=2025&"
                          "periodStart=2024&periodEnd=2025")
    assert_outcome(response, 400, "invalid")
    assert_outcome(server.post("Measure/casos-nuevos/$evaluate-measure",
                               {"resourceType": "Patient"}), 400)


def test_an_unknown_measure_is_404(server):
    assert_outcome(evaluate(server, "no-existe"), 404, "not-found")


def test_without_a_token_it_is_401(server):
    response = requests.get(server.url("Measure/casos-nuevos/$evaluate-measure"),
                            params=YEAR, timeout=30)
    assert_outcome(response, 401)


def test_it_needs_read_on_measure_and_any_purpose_will_do(server):
    store = server.app.extensions["amparo"].store
    no_measure = TestClient(store, server.base, scope="system/Patient.rs")
    response = requests.get(server.url("Measure/casos-nuevos/$evaluate-measure"),
                            params=YEAR, auth=no_measure, timeout=30)
    assert_outcome(response, 403, "forbidden")
    statistics = TestClient(store, server.base, scope="system/Measure.r",
                            purposes=("PUBHLTH",))
    response = requests.get(server.url("Measure/casos-nuevos/$evaluate-measure"),
                            params=YEAR, auth=statistics, timeout=30)
    assert response.status_code == 200, response.text


def _versions(server: LiveServer) -> int:
    return server.app.extensions["amparo"].store.version_count()


def test_the_report_never_names_anyone(server):
    for id in ("casos-nuevos", "alertas", "derivaciones-tiempos", "alto-riesgo-sin-medida"):
        text = json.dumps(evaluate(server, id).json())
        for name in ("p1", "p2", "Task/", "Flag/", "Organization/"):
            assert name not in text, (id, name)
