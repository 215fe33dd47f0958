"""A survivor who declined the statistical use of her data is left out of every
indicator: the same data set with and without p8's Consent (a deny of PUBHLTH) differs
by exactly her records, in numerators and denominators alike."""

from __future__ import annotations

from datetime import UTC, datetime

from server.indicators.evaluation import evaluate
from server.store import open_store
from tests.server.indicators import dataset
from tests.server.indicators.conftest import YEAR
from tests.stores import TEST_STORE, drop_store, new_store_url

#: What p8 adds when she has not declined: a new case (March, Carabineros, La Florida,
#: 30-44, física, PUIR vital-alto), two incidents nine days apart (she recurred), a
#: high-risk case without a measure, a referral accepted in 24 hours, an alert.
HERS = {
    ("casos-nuevos", None, None): 1, ("casos-nuevos", "mes", "2025-03"): 1,
    ("casos-nuevos", "comuna", "13110"): 1, ("casos-nuevos", "region", "13"): 1,
    ("casos-nuevos", "institucion-ingreso", "carabineros"): 1,
    ("casos-nuevos", "tramo-edad", "30-44"): 1,
    ("casos-nuevos", "forma-violencia", "fisica"): 1,
    ("casos-nuevos", "nivel-riesgo", "vital-alto"): 1,
    ("casos-con-evaluacion", None, None): 1,
    ("mujeres-con-incidente", None, None): 1, ("mujeres-reincidentes", None, None): 1,
    ("casos-alto-riesgo", None, None): 1, ("casos-alto-riesgo-sin-medida", None, None): 1,
    ("derivaciones-enviadas", None, None): 1, ("derivaciones-aceptadas", None, None): 1,
    ("derivaciones-enviadas", "estado-derivacion", "aceptada"): 1,
    ("alertas", None, None): 1, ("alertas", "tipo-alerta", "riesgo-alto"): 1,
}


def test_her_records_count_only_while_she_has_not_declined(tmp_path, year):
    url = new_store_url(TEST_STORE, tmp_path)
    store = open_store(url)
    try:
        store.init()
        dataset.load(store, consent=False)
        before = evaluate(store, YEAR, dataset.NOW, 5)
        assert before.excluded == 0
        added = {key: before.ledger.values[key] - year.ledger.values.get(key, 0)
                 for key in before.ledger.written}
        assert {key: n for key, n in added.items() if n} == HERS
        assert before.populations["derivaciones-aceptadas"].observations["Task/t6"] == 24

        dataset.put(store, dataset.declined("k8", "p8"))  # she declines: gone at once
        after = evaluate(store, YEAR, dataset.NOW, 5)
        assert after.excluded == 1
        assert after.ledger.values == year.ledger.values
        assert not any("p8" in ref or ref.endswith(("/c8", "/t6", "/f8"))
                       for population in after.populations.values()
                       for ref in population.members)
    finally:
        store.close()
        drop_store(url)


def test_the_declined_survivor_is_counted_again_once_her_refusal_ends(loaded):
    """Her Consent's deny ends in 2030: evaluated in 2031, 2025 counts her again."""
    later = evaluate(loaded, YEAR, datetime(2031, 1, 1, tzinfo=UTC), 5)
    assert later.excluded == 0
    assert later.ledger.values[("casos-nuevos", None, None)] == 7
