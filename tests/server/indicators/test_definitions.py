"""The Measures as the code reads them (``definitions.py``) and the measurement period
(``period.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from profiles import ig
from server.indicators.definitions import _definition, definitions
from server.indicators.period import PeriodError, local_day, parse_period


def test_every_measure_of_the_guide_is_defined_with_computed_names():
    found = definitions()
    assert set(found) == {m["id"] for m in ig.measures()} and len(found) == 12
    scorings = {m.id: m.scoring for m in found.values()}
    assert scorings["casos-nuevos"] == "cohort"
    assert scorings["reincidencia"] == "proportion"
    assert scorings["derivaciones-tiempos"] == "continuous-variable"
    assert [g.code for g in found["derivaciones-tiempos"].groups] == [
        "tiempo-aceptacion", "tiempo-atencion"]


@pytest.mark.parametrize(("change", "problem"), [
    (lambda m: m["group"][0]["population"][0]["criteria"].update(expression="otra"),
     "population 'otra' is not computed"),
    (lambda m: m["group"][0]["stratifier"][0]["criteria"].update(expression="color"),
     "stratifier ['color'] is not computed"),
    (lambda m: m["scoring"]["coding"][0].update(code="ratio"), "scoring 'ratio'"),
    (lambda m: m.update(group=[]), "has no group"),
])
def test_a_measure_promising_what_nobody_computes_is_refused(change, problem):
    measure = next(m for m in ig.measures() if m["id"] == "casos-nuevos")
    change(measure)
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        _definition(measure)


@pytest.mark.parametrize(("start", "end", "first", "last"), [
    ("2025", "2025", date(2025, 1, 1), date(2025, 12, 31)),
    ("2024-02", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2025-01-01", "2025-03-31", date(2025, 1, 1), date(2025, 3, 31)),
])
def test_periods_are_whole_months(start, end, first, last):
    assert parse_period(start, end) == (period := parse_period(start, end))
    assert (period.first, period.last) == (first, last)


@pytest.mark.parametrize(("start", "end"), [
    ("2025-01-02", "2025-12-31"), ("2025-01-01", "2025-12-30"), ("2025", "2024"),
    ("2025-13", "2025-13"), ("2025/01", "2025/01"), ("", "2025"), ("2025-02-29", "2025-03")])
def test_other_periods_are_refused(start, end):
    with pytest.raises(PeriodError):
        parse_period(start, end)


def test_a_record_belongs_to_its_day_in_chile():
    """22:00 in Santiago on 31 March is a March record, even written in UTC."""
    assert local_day("2025-04-01T01:00:00Z")[1] == date(2025, 3, 31)
    assert local_day("2025-03-31T22:00:00-03:00")[1] == date(2025, 3, 31)
    assert local_day("2025-03-31")[1] == date(2025, 3, 31)
    assert local_day("mañana") == (None, None)
    period = parse_period("2025-03", "2025-03")
    assert period.as_of(datetime(2030, 1, 1, tzinfo=UTC)) == \
        datetime(2025, 4, 1, 2, 59, 59, 999999, tzinfo=UTC)  # March's last instant
    assert period.as_of(datetime(2025, 3, 10, tzinfo=UTC)) == datetime(2025, 3, 10, tzinfo=UTC)
