"""Every indicator of 2025 over the hand-checked data set (``dataset.py``'s table says
where each figure comes from). These are the figures before small-cell protection
(``Evaluation.ledger.values``); what is published of them is test_suppression.py's."""

from __future__ import annotations

import pytest

from server.indicators.evaluation import evaluate
from server.indicators.period import parse_period
from tests.server.indicators import dataset

EXPECTED = {
    # six new cases: p1, p2, p3, p4, p5, p7 (p6's began in 2024, p7's second was folded,
    # p8 declined statistics)
    ("casos-nuevos", None, None): 6,
    ("casos-nuevos", "region", "13"): 4, ("casos-nuevos", "region", "05"): 1,
    ("casos-nuevos", "region", "sin-dato"): 1,
    ("casos-nuevos", "comuna", "13110"): 2, ("casos-nuevos", "comuna", "13101"): 2,
    ("casos-nuevos", "comuna", "05101"): 1, ("casos-nuevos", "comuna", "sin-dato"): 1,
    ("casos-nuevos", "mes", "2025-01"): 1, ("casos-nuevos", "mes", "2025-03"): 1,
    ("casos-nuevos", "mes", "2025-04"): 1, ("casos-nuevos", "mes", "2025-05"): 2,
    ("casos-nuevos", "mes", "2025-07"): 1,
    ("casos-nuevos", "forma-violencia", "fisica"): 2,
    ("casos-nuevos", "forma-violencia", "psicologica"): 1,
    ("casos-nuevos", "forma-violencia", "sexual"): 1,
    ("casos-nuevos", "forma-violencia", "economica"): 1,
    ("casos-nuevos", "forma-violencia", "sin-incidente"): 2,
    ("casos-nuevos", "tramo-edad", "menor-18"): 1, ("casos-nuevos", "tramo-edad", "18-29"): 1,
    ("casos-nuevos", "tramo-edad", "30-44"): 2, ("casos-nuevos", "tramo-edad", "60-mas"): 1,
    ("casos-nuevos", "tramo-edad", "sin-dato"): 1,
    ("casos-nuevos", "institucion-ingreso", "carabineros"): 2,
    ("casos-nuevos", "institucion-ingreso", "linea-1455"): 2,
    ("casos-nuevos", "institucion-ingreso", "centro-de-la-mujer"): 1,
    ("casos-nuevos", "institucion-ingreso", "salud-urgencia"): 1,
    ("casos-nuevos", "nivel-riesgo", "alto"): 1, ("casos-nuevos", "nivel-riesgo", "vital"): 1,
    ("casos-nuevos", "nivel-riesgo", "vital-alto"): 1,
    ("casos-nuevos", "nivel-riesgo", "bajo"): 1,
    ("casos-nuevos", "nivel-riesgo", "sin-evaluacion"): 2,
    ("casos-con-evaluacion", None, None): 4,
    ("casos-contacto-multiple", None, None): 2,  # p1 (1455, then police), p7
    ("mujeres-con-incidente", None, None): 5,  # p1, p2, p4, p5, p6
    ("mujeres-reincidentes", None, None): 2,  # p1, p4
    ("casos-alto-riesgo", None, None): 4,  # p1, p2, p5, p6 (p3's case finished)
    ("casos-alto-riesgo-sin-medida", None, None): 2,  # p2 (ended), p5 (revoked)
    ("derivaciones-enviadas", None, None): 4,  # t1-t4
    ("derivaciones-enviadas", "estado-derivacion", "completada"): 1,
    ("derivaciones-enviadas", "estado-derivacion", "rechazada"): 1,
    ("derivaciones-enviadas", "estado-derivacion", "aceptada"): 1,
    ("derivaciones-enviadas", "estado-derivacion", "en-atencion"): 1,
    ("derivaciones-aceptadas", None, None): 3,
    ("derivaciones-iniciadas", None, None): 2,
    ("derivaciones-completadas", None, None): 1,
    ("alertas", None, None): 3,
    ("alertas", "tipo-alerta", "riesgo-alto"): 2, ("alertas", "tipo-alerta", "reincidencia"): 1,
    ("alertas-con-accion", None, None): 2,
}


def test_every_published_count_is_the_hand_checked_one(year):
    written = {key: value for key, value in year.ledger.values.items()
               if key in year.ledger.written}
    assert written == EXPECTED


def test_the_implicit_rests_are_denominator_minus_numerator(year):
    values = year.ledger.values
    assert values[("casos-nuevos\\casos-con-evaluacion", None, None)] == 2
    assert values[("mujeres-con-incidente\\mujeres-reincidentes", None, None)] == 3
    assert values[("derivaciones-enviadas\\derivaciones-aceptadas", None, None)] == 1


@pytest.mark.parametrize(("population", "hours"), [
    ("derivaciones-aceptadas", {"Task/t1": 24, "Task/t3": 12, "Task/t4": 48}),
    ("derivaciones-iniciadas", {"Task/t1": 48, "Task/t4": 72}),
    ("alertas-con-accion", {"Flag/f1": 24, "Flag/f2": 6}),
])
def test_times_are_hours_from_the_history_and_the_records(year, population, hours):
    assert year.populations[population].observations == hours


def test_medians_and_rates_with_a_threshold_that_hides_nothing(loaded):
    """A threshold of 1 hides no count: the raw rates and medians of the data set."""
    raw = evaluate(loaded, parse_period("2025", "2025"), dataset.NOW, 1)
    assert raw.rate("casos-con-evaluacion", "casos-nuevos") == pytest.approx(4 / 6)
    assert raw.rate("mujeres-reincidentes", "mujeres-con-incidente") == pytest.approx(0.4)
    assert raw.rate("casos-alto-riesgo-sin-medida", "casos-alto-riesgo") == 0.5
    assert raw.rate("derivaciones-aceptadas", "derivaciones-enviadas") == 0.75
    assert raw.rate("derivaciones-completadas", "derivaciones-aceptadas") == pytest.approx(1 / 3)
    assert raw.median("derivaciones-aceptadas") == (3, 24)
    assert raw.median("derivaciones-iniciadas") == (2, 60)
    assert raw.median("alertas-con-accion") == (2, 15)


def test_a_month_counts_only_its_own_cases(loaded):
    may = evaluate(loaded, parse_period("2025-05", "2025-05"), dataset.NOW, 5)
    assert may.ledger.values[("casos-nuevos", None, None)] == 2  # p3, p4
    assert may.ledger.values[("casos-nuevos", "mes", "2025-05")] == 2
    assert may.ledger.values[("mujeres-con-incidente", None, None)] == 1  # p4, 05-19


def test_high_risk_is_judged_at_the_end_of_the_period(loaded):
    """At the end of June 2025 p1 (alto, protected since 06-01), p2 (vital, measure in
    force) and p6 are high risk; p5's case had not begun."""
    june = evaluate(loaded, parse_period("2025-06", "2025-06"), dataset.NOW, 5)
    assert june.ledger.values[("casos-alto-riesgo", None, None)] == 3
    assert june.ledger.values[("casos-alto-riesgo-sin-medida", None, None)] == 0


def test_a_case_opened_by_a_contact_starts_on_the_contact_s_day(tmp_path):
    """The real path: an institution records a woman and a contact of last February; the
    platform's case rule (server/cases.py) opens her case at the contact's date, not
    today, and the new-case indicator counts it in February, entered by the police."""
    from server.access import AccessGate, Principal
    from server.repository import Repository
    from server.store import open_store
    from server.validation import validate
    from tests.stores import TEST_STORE, drop_store, new_store_url

    url = new_store_url(TEST_STORE, tmp_path)
    store = open_store(url)
    try:
        store.init()
        dataset.put(store, dataset.organization("carab"))
        police = Principal(client_id="c", institution="Organization/carab", purpose="TREAT",
                           scopes=frozenset({"system/*.cruds"}))
        repo = Repository(store, AccessGate(store))
        with repo.write(police) as w:
            her = repo.create(w, validate(dataset.patient("x", "13110", "1990-01-01"))).version
            met = {**dataset.contact("e", her.id, "2025-02-10T22:30:00-03:00", "carab")}
            del met["id"]
            repo.create(w, validate(met, "Encounter"))
            w.uow.commit()
        found = evaluate(store, parse_period("2025", "2025"), dataset.NOW, 5)
        assert found.ledger.values[("casos-nuevos", None, None)] == 1
        assert found.ledger.values[("casos-nuevos", "mes", "2025-02")] == 1
        assert found.ledger.values[("casos-nuevos", "institucion-ingreso", "carabineros")] == 1
    finally:
        store.close()
        drop_store(url)
