"""The adversarial test of small-cell protection: a reader who holds every MeasureReport
of a period (fetched over HTTP, one per Measure) and the Measures' definitions tries to
recover each masked count by solving the linear relations the reports and definitions
state (strata add up to their population, comunas to their region, numerator plus the
rest to the denominator, the new cases with an assessment are those not
``sin-evaluacion``), knowing that a masked count is at least 1; ``attack.py`` solves them
exactly (integer programming). Every small count must resist, and so must every small
rest; the data set mixes large and small cells so that both publication and complementary
suppression happen."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from profiles import ig
from server.config import Settings
from server.indicators.evaluation import evaluate
from server.store import open_store
from terminology import comunas
from tests.conftest import LiveServer, serve
from tests.server.indicators import dataset
from tests.server.indicators.attack import recovered
from tests.server.indicators.conftest import YEAR
from tests.stores import TEST_STORE, drop_store, new_store_url

K = 5


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("adversarial"))
    store = open_store(url)
    try:
        store.init()
        dataset.load_many(store)
    finally:
        store.close()
    yield from serve(Settings(store=url))
    drop_store(url)


def test_no_small_count_can_be_recovered_from_the_published_reports(server):
    reports = {}
    for measure in ig.measures():
        response = server.get(f"Measure/{measure['id']}/$evaluate-measure",
                              params={"periodStart": "2025", "periodEnd": "2025"})
        assert response.status_code == 200, response.text
        reports[measure["id"]] = response.json()
    known, unknown, relations = read_reports(ig.measures(), reports)
    assert len(known) > 20 and len([u for u, low in unknown.items() if low]) > 10

    truth = evaluate(server.app.extensions["amparo"].store, YEAR, dataset.NOW, K)
    pinned = recovered(known, unknown, relations)
    small = {name: value for name, value in pinned.items()
             if 1 <= truth_of(truth, name) < K}
    assert not small, f"recovered small counts: {small}"
    for name, value in known.items():  # and what is published is the truth
        assert value == truth_of(truth, name), name


def test_the_reader_does_recover_counts_hidden_without_complements(server):
    """The same reader against reports that hide only the small counts themselves
    (primary suppression alone) recovers some of them: the attack has teeth."""
    from dataclasses import replace

    from server.indicators.definitions import definitions
    from server.indicators.measures import measure_report

    truth = evaluate(server.app.extensions["amparo"].store, YEAR, dataset.NOW, K)
    primary = frozenset(k for k in truth.ledger.written if 1 <= truth.ledger.values[k] < K)
    assert primary < truth.hidden  # the real reports hide more than the small counts
    naive = replace(truth, hidden=primary)
    reports = {id: measure_report(naive, measure) for id, measure in definitions().items()}
    known, unknown, relations = read_reports(ig.measures(), reports)
    pinned = recovered(known, unknown, relations)
    assert {name for name in pinned if 1 <= truth_of(truth, name) < K}


# -- the reader: what the reports and the Measures say ---------------------------------------

def read_reports(measures: list[dict], reports: dict[str, dict]):
    """(published counts, masked or derived counts with their known lower bound, the
    relations ``total = sum(parts)``), all named ``(population, dimension, stratum)``
    where ``population`` is the criteria expression the Measure gives the population."""
    known, unknown, relations = {}, {}, []

    def note(name, population: dict):
        if "count" in population:
            known[name] = population["count"]
        else:
            unknown[name] = 1  # masked: never zero (zero is published)

    for measure in measures:
        report = reports[measure["id"]]
        for definition, group in zip(measure["group"], report["group"], strict=True):
            names = {p["code"]["coding"][0]["code"]: p["criteria"]["expression"]
                     for p in definition["population"]}
            for population in group["population"]:
                note((names[code_of(population)], None, None), population)
            stratified = {}
            for stratifier in group.get("stratifier", []):
                dimension = stratifier["code"][0]["coding"][0]["code"]
                for stratum in stratifier["stratum"]:
                    value = stratum_of(stratum)
                    stratified.setdefault(dimension, []).append(value)
                    for population in stratum["population"]:
                        note((names[code_of(population)], dimension, value), population)
            counted = dict.fromkeys(n for c, n in names.items() if c != "measure-observation")
            for dimension, values in stratified.items():
                if dimension != "forma-violencia":  # a case has each of its forms
                    for name in counted:
                        relations.append(((name, None, None),
                                          [(name, dimension, v) for v in values]))
            if "numerator" in names:  # the rest: the denominator less the numerator
                n, d = names["numerator"], names["denominator"]
                for dimension, value in [(None, None), *((dim, v) for dim, vs in
                                                         stratified.items() for v in vs)]:
                    rest = (f"{d}-{n}", dimension, value)
                    unknown[rest] = 0
                    relations.append(((d, dimension, value), [(n, dimension, value), rest]))
    region_of = {c.code: c.region_code for c in comunas()}
    by_region = {}
    for name in list(known) + list(unknown):
        if name[:2] == ("casos-nuevos", "comuna"):
            by_region.setdefault(region_of.get(name[2], name[2]), []).append(name)
    for name in list(known) + list(unknown):
        if name[:2] == ("casos-nuevos", "region"):
            relations.append((name, by_region.get(name[2], [])))
    # the evaluacion-riesgo Measure: its numerator is the new cases less sin-evaluacion
    relations.append((("casos-nuevos-casos-con-evaluacion", None, None),
                      [("casos-nuevos", "nivel-riesgo", "Sin evaluación")]))
    return known, unknown, relations


def code_of(population: dict) -> str:
    return population["code"]["coding"][0]["code"]


def stratum_of(stratum: dict) -> str:
    codings = stratum["value"].get("coding")
    return codings[0]["code"] if codings else stratum["value"]["text"]


def truth_of(truth, name) -> int:
    """The real value of a count the reader named (its stratum by code or text)."""
    population, dimension, value = name
    population = population.replace("-casos-con", "\\casos-con").replace(
        "-mujeres-rein", "\\mujeres-rein").replace("-derivaciones-", "\\derivaciones-") \
        .replace("-casos-alto-riesgo-sin", "\\casos-alto-riesgo-sin") \
        .replace("-casos-contacto", "\\casos-contacto")
    for (p, d, v), count in truth.ledger.values.items():
        if p == population and d == dimension and (v == value or (
                v is not None and value is not None and _label(d, v) == value)):
            return count
    return 0


def _label(dimension, value):
    from server.indicators.strata import label

    return label(dimension, value)
