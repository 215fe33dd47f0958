"""The early-warning rules on synthetic facts (no store): each rule holds exactly when
its condition does, with the records that make it hold as evidence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from server.warnings.config import WarningConfigError, load_rules
from server.warnings.rules import (
    Assessment,
    Incident,
    assessment,
    escalation,
    findings,
    high_risk,
    incident,
    next_due,
    reassessment_due,
    recurrence,
)

RULES = load_rules()
DAY0 = datetime(2025, 3, 1, 22, 0, tzinfo=UTC)


def assessed(n: int, level: str | None, days: float = 0, instrument: str = "puir",
             score: float | None = None) -> Assessment:
    return Assessment(f"RiskAssessment/e{n}", DAY0 + timedelta(days=days), level, instrument,
                      score)


def happened(n: int, days: float) -> Incident:
    return Incident(f"Observation/i{n}", DAY0 + timedelta(days=days))


@pytest.mark.parametrize("level", ["alto", "vital", "vital-alto"])
def test_a_top_level_is_high_risk(level):
    finding = high_risk(RULES, [assessed(1, "bajo"), assessed(2, level, 5)])
    assert (finding.code, finding.evidence) == ("riesgo-alto", ("RiskAssessment/e2",))
    assert level in finding.detail


def test_a_score_over_the_instruments_threshold_is_high_risk():
    assert high_risk(RULES, [assessed(1, "medio", instrument="dash", score=14)]) is not None
    assert high_risk(RULES, [assessed(1, "medio", instrument="dash", score=13)]) is None
    assert high_risk(RULES, [assessed(1, "medio", instrument="puir", score=99)]) is None


def test_high_risk_clears_when_her_latest_assessment_is_lower():
    assert high_risk(RULES, [assessed(1, "alto"), assessed(2, "medio", 30)]) is None


def test_escalation_compares_her_latest_with_the_one_before():
    finding = escalation(RULES, [assessed(1, "bajo"), assessed(2, "medio", 3)])
    assert finding.evidence == ("RiskAssessment/e1", "RiskAssessment/e2")
    assert escalation(RULES, [assessed(1, "medio"), assessed(2, "medio", 3)]) is None
    assert escalation(RULES, [assessed(1, "alto"), assessed(2, "medio", 3)]) is None
    # the PUIR does not tell alto from vital: the same rank
    assert escalation(RULES, [assessed(1, "alto"), assessed(2, "vital-alto", 3)]) is None
    assert escalation(RULES, [assessed(1, "bajo")]) is None


def test_findings_order_assessments_by_date_not_by_arrival():
    late_first = [assessed(2, "alto", 10), assessed(1, "bajo", 0)]
    assert {f.code for f in findings(RULES, late_first, [])} == {"riesgo-alto", "escalamiento"}
    # an older, lower assessment recorded later does not clear her high risk
    older_later = [assessed(1, "alto", 10), assessed(2, "bajo", 0)]
    assert {f.code for f in findings(RULES, older_later, [])} == {"riesgo-alto", "escalamiento"}


def test_two_incidents_within_a_year_are_a_recurrence():
    finding = recurrence(RULES, [happened(1, 0), happened(2, 175)])
    assert finding.evidence == ("Observation/i1", "Observation/i2")
    assert "175 días" in finding.detail
    assert recurrence(RULES, [happened(1, 0), happened(2, 366)]) is None
    assert recurrence(RULES, [happened(1, 0)]) is None


def test_incidents_less_than_72_hours_apart_are_one():
    """The police complaint and the emergency-room visit of the same night."""
    assert recurrence(RULES, [happened(1, 0), happened(2, 0.2)]) is None
    assert recurrence(RULES, [happened(1, 0), happened(2, 2.9)]) is None
    finding = recurrence(RULES, [happened(1, 0), happened(2, 0.2), happened(3, 40)])
    assert finding.evidence == ("Observation/i1", "Observation/i2", "Observation/i3")


def test_the_latest_window_is_the_evidence():
    finding = recurrence(RULES, [happened(1, 0), happened(2, 100), happened(3, 800),
                                 happened(4, 900), happened(5, 950)])
    assert finding.evidence == ("Observation/i3", "Observation/i4", "Observation/i5")


def test_facts_are_read_from_resources():
    ra = {"resourceType": "RiskAssessment", "id": "x", "status": "final",
          "occurrenceDateTime": "2025-03-12T11:15:00-03:00",
          "method": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/instrumento-riesgo",
                                 "code": "dash"}]},
          "extension": [{"url": "https://fhir.amparo.cl/StructureDefinition/ext-puntaje-riesgo",
                         "valueDecimal": 15}],
          "prediction": [{"qualitativeRisk": {"coding": [
              {"system": "https://fhir.amparo.cl/CodeSystem/nivel-riesgo", "code": "alto"}]}}]}
    read = assessment(ra)
    assert (read.level, read.instrument, read.score) == ("alto", "dash", 15)
    assert read.at == datetime(2025, 3, 12, 14, 15, tzinfo=UTC)
    assert assessment({**ra, "status": "entered-in-error"}) is None
    obs = {"resourceType": "Observation", "id": "y", "status": "final",
           "code": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/observacion-vcm",
                                "code": "incidente-violencia"}]},
           "effectiveDateTime": "2025-03-02"}
    assert incident(obs) == Incident("Observation/y", datetime(2025, 3, 2, tzinfo=UTC))
    assert incident({**obs, "code": {"coding": [{"code": "incidente-violencia"}]}}) is None
    assert incident({**obs, "effectiveDateTime": "ayer"}) is None


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["riesgoAlto"].update(niveles=["altisimo"]), "altisimo is not a nivel-riesgo"),
    (lambda d: d["escalamiento"]["rango"].pop("vital"), "vital has no rank"),
    (lambda d: d["reincidencia"].update(incidentes=1), "incidentes"),
    (lambda d: d["riesgoAlto"]["umbralPuntaje"].update(otro=3), "otro is not an instrumento"),
    (lambda d: d.update(extra=True), "extra"),
    (lambda d: d["reevaluacion"]["diasPorNivel"].update(extremo=3),
     "extremo is not a nivel-riesgo"),
    (lambda d: d.pop("reevaluacion"), "reevaluacion"),
])
def test_a_bad_rules_file_is_refused_with_its_problem(tmp_path, change, problem):
    from importlib import resources
    doc = json.loads((resources.files("server.warnings") / "rules.json").read_text("utf-8"))
    change(doc)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(WarningConfigError) as raised:
        load_rules(path)
    assert problem in str(raised.value)


@pytest.mark.parametrize(("level", "days", "due"), [
    ("vital", 13, False), ("vital", 15, True), ("alto", 29, False), ("alto", 31, True),
    ("medio", 91, True), ("bajo", 179, False)])
def test_an_assessment_older_than_its_levels_interval_is_due_again(level, days, due):
    now = DAY0 + timedelta(days=days)
    finding = reassessment_due(RULES, [assessed(1, "bajo", -400), assessed(2, level)], now)
    assert (finding is not None) == due
    if due:
        assert finding.evidence == ("RiskAssessment/e2",)


def test_her_timer_is_the_next_instant_a_time_based_rule_may_change():
    latest = [assessed(1, "vital")]
    assert next_due(RULES, latest, [], DAY0) == DAY0 + timedelta(days=14)
    assert next_due(RULES, latest, [], DAY0 + timedelta(days=15)) is None  # already due
