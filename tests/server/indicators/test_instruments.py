"""Instrument performance (``server/indicators/instruments.py``) on twelve women assessed
with the CDM's instrument on 2025-01-10, each after an incident the day before:

=====  ======  ===========================================================
level  women   a new incident within 90 days?
=====  ======  ===========================================================
alto   w0-w2   yes (2025-02-15)
vital  w3      yes
medio  w4      yes
bajo   w5      yes
bajo   w6-w8   no (w6: another record of the same night, 2025-01-11: the
               same episode; w7: one on 2025-06-01, 142 days later: a new
               incident within 12 months only)
medio  w9-w10  no
alto   w11     no
=====  ======  ===========================================================

By hand, levels ranked bajo 1 < medio 2 < alto 3 < vital 4: positives 3,3,3,4,2,1 and
negatives 1,1,1,2,2,3. Pairs where the positive ranks higher: 5+5+5+6+3+0 = 24, ties
1+1+1+0+2+3 = 8, so AUC = (24 + 8/2) / 36 = 7/9. At the threshold medio: TP 5 of 6, TN 3
of 6; alto: TP 4, TN 5; vital: TP 1, TN 6; bajo: TP 6, TN 0. Within 12 months w7 is a
positive too. A second woman assessed in July 2025 has no 12-month outcome yet at the
evaluation (2026-06-01), and a second assessment of w0 is not a second observation.
"""

from __future__ import annotations

import math

import pytest

from server.indicators.evaluation import evaluate
from server.indicators.period import parse_period
from server.store import open_store
from tests.server.indicators import dataset
from tests.stores import TEST_STORE, drop_store, new_store_url

LEVELS = ["alto", "alto", "alto", "vital", "medio", "bajo", "bajo", "bajo", "bajo", "medio",
          "medio", "alto"]
NEW = {0, 1, 2, 3, 4, 5}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("instruments"))
    opened = open_store(url)
    opened.init()
    resources = []
    for i, level in enumerate(LEVELS):
        who = f"w{i}"
        resources += [dataset.patient(who),
                      dataset.incident(f"before{i}", who, "2025-01-09T22:00:00-03:00"),
                      dataset.assessment(f"a{i}", who, "2025-01-10T10:00:00-03:00",
                                         "pauta-cdm", level)]
        if i in NEW:
            resources.append(dataset.incident(f"new{i}", who, "2025-02-15T10:00:00-03:00"))
    resources += [dataset.incident("same6", "w6", "2025-01-11T09:00:00-03:00"),
                  dataset.incident("late7", "w7", "2025-06-01T10:00:00-04:00"),
                  dataset.assessment("again0", "w0", "2025-03-01T10:00:00-03:00",
                                     "pauta-cdm", "bajo"),
                  dataset.patient("july"),
                  dataset.assessment("ajuly", "july", "2025-07-01T10:00:00-04:00",
                                     "pauta-cdm", "alto")]
    dataset.put(opened, *resources)
    yield opened
    opened.close()
    drop_store(url)


def by_window(evaluation) -> dict:
    return {(p.instrument, p.window): p for p in evaluation.instruments}


def test_auc_sensitivity_and_specificity_by_hand(store):
    """A threshold of 1 hides nothing: the raw figures."""
    raw = by_window(evaluate(store, parse_period("2025", "2025"), dataset.NOW, 1))
    three = raw[("pauta-cdm", "3 meses")]
    assert (three.assessed, three.positives, three.negatives) == (13, 6, 7)  # July's too
    twelve = raw[("pauta-cdm", "12 meses")]
    assert (twelve.assessed, twelve.positives, twelve.negatives) == (12, 7, 5)


def test_auc_and_its_interval_match_hanley_and_mcneil(store):
    first = evaluate(store, parse_period("2025-01", "2025-01"), dataset.NOW, 1)
    three = by_window(first)[("pauta-cdm", "3 meses")]
    assert (three.assessed, three.positives, three.negatives) == (12, 6, 6)
    a = 7 / 9
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + 5 * (q1 - a * a) + 5 * (q2 - a * a)) / 36)
    assert three.auc == pytest.approx(a)
    assert three.low == pytest.approx(a - 1.959964 * se, abs=1e-5)
    assert three.high == 1.0  # 0.7778 + 0.2749 clipped
    rates = {t.level: (t.sensitivity, t.specificity) for t in three.thresholds}
    assert rates == {"bajo": (1.0, 0.0), "medio": (pytest.approx(5 / 6), 0.5),
                     "alto": (pytest.approx(4 / 6), pytest.approx(5 / 6)),
                     "vital": (pytest.approx(1 / 6), 1.0)}


def test_small_parts_hide_the_rates_that_would_reveal_them(store):
    """With k = 5, 6 positives and 6 negatives publish the AUC, but a rate whose
    numerator or its rest is 1 to 4 women is hidden (medio: 1 false negative)."""
    first = evaluate(store, parse_period("2025-01", "2025-01"), dataset.NOW, 5)
    three = by_window(first)[("pauta-cdm", "3 meses")]
    assert (three.positives, three.negatives) == (6, 6)
    assert three.auc == pytest.approx(7 / 9)
    rates = {t.level: (t.sensitivity, t.specificity) for t in three.thresholds}
    assert rates["bajo"] == (1.0, 0.0)  # 6 of 6 and 0 of 6: nothing small
    assert rates["medio"] == (None, None)  # FN 1; TN 3
    assert rates["vital"] == (None, 1.0)  # TP 1; TN 6 of 6
