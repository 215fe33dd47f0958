"""The early-warning rules on synthetic facts (no store): each rule holds exactly when
its condition does, with the records that make it hold as evidence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from server.warnings.aggressors import (
    Aggressor,
    Measure,
    aggressor,
    breach_ends,
    breaches,
    measure,
    serial_aggressor,
)
from server.warnings.config import WarningConfigError, load_rules
from server.warnings.engagement import (
    Activity,
    Contact,
    activities,
    contact,
    drop_outs,
    lost_contact,
    lost_contact_due,
)
from server.warnings.rules import (
    Assessment,
    Incident,
    Referral,
    assessment,
    day,
    escalation,
    findings,
    high_risk,
    incident,
    next_due,
    reassessment_due,
    recurrence,
    referral,
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


def test_escalation_compares_her_latest_with_her_lowest_of_the_year_before():
    """Section 5.4 of the institutions' fixtures: medio, then the PUIR's vital-alto, then
    vital is an escalation (S01), though the last two rank the same."""
    finding = escalation(RULES, [assessed(1, "medio"), assessed(2, "vital-alto", 100),
                                 assessed(3, "vital", 110)])
    assert finding.evidence == ("RiskAssessment/e1", "RiskAssessment/e3")
    finding = escalation(RULES, [assessed(1, "bajo"), assessed(2, "medio", 9),
                                 assessed(3, "alto", 20)])
    assert finding.evidence == ("RiskAssessment/e1", "RiskAssessment/e3")
    # a lower assessment more than a year before her latest is no escalation now
    assert escalation(RULES, [assessed(1, "bajo"), assessed(2, "medio", 366)]) is None
    assert escalation(RULES, [assessed(1, "bajo"), assessed(2, "medio", 365)]) is not None


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
    (lambda d: d["agresorSerial"].update(mujeres=1), "mujeres"),
    (lambda d: d["abandono"]["estadosDerivacion"].append("inventado"),
     "inventado is not an estado-derivacion code"),
    (lambda d: d["abandono"]["estadosDerivacion"].append("completada"),
     "completada does not end a referral's task unserved"),
    (lambda d: d["abandono"].update(estadosActividad=["completed"]), "estadosActividad"),
    (lambda d: d["perdidaContacto"].update(dias=0), "dias"),
    (lambda d: d.pop("perdidaContacto"), "perdidaContacto"),
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


# -- rule 4: the same aggressor against two or more women ----------------------------------

RUN = "http://regcivil.cl/Validacion/RUN"
ANA, BERTA, CARLA = "Patient/ana", "Patient/berta", "Patient/carla"


def him(n: int, *runs: str, **others: str) -> Aggressor:
    return Aggressor(f"RelatedPerson/a{n}", frozenset(
        {(RUN, run) for run in runs} | {(s, v) for s, v in others.items()}))


def against(n: int, woman: str, days: float, *aggressors: int) -> Incident:
    return Incident(f"Observation/i{n}", DAY0 + timedelta(days=days), woman,
                    tuple(f"RelatedPerson/a{a}" for a in aggressors))


def records_of(*aggressors: Aggressor) -> dict[str, Aggressor]:
    return {a.ref: a for a in aggressors}


def test_the_same_run_against_two_women_is_a_serial_aggressor_for_each():
    men = records_of(him(1, "9876543-3"), him(2, "9876543-3"))
    incidents = [against(1, ANA, 0, 1), against(2, BERTA, 40, 2)]
    [for_ana] = serial_aggressor(RULES, ANA, incidents, men)
    [for_berta] = serial_aggressor(RULES, BERTA, incidents, men)
    assert for_ana.evidence == ("RelatedPerson/a1", "RelatedPerson/a2", "Observation/i1",
                                "Observation/i2")
    assert (for_ana.code, for_ana.about, for_berta.about) == (
        "agresor-serial", "RelatedPerson/a1", "RelatedPerson/a2")
    assert "contra 2 mujeres" in for_ana.detail and "su RUN" in for_ana.detail
    # her words never name the other woman, nor date her incident
    assert "berta" not in for_ana.detail and day(DAY0 + timedelta(days=40)) not in for_ana.detail


def test_one_man_is_one_alert_however_many_incidents_and_records_she_has():
    men = records_of(him(1, "9876543-3"), him(3, "9876543-3"), him(2, "9876543-3"))
    incidents = [against(1, ANA, 0, 1), against(3, ANA, 10, 3), against(2, BERTA, 40, 2),
                 against(4, BERTA, 50, 2)]
    [finding] = serial_aggressor(RULES, ANA, incidents, men)
    assert finding.evidence[:3] == ("RelatedPerson/a1", "RelatedPerson/a3", "RelatedPerson/a2")
    assert len(finding.evidence) == 7 and finding.about == "RelatedPerson/a1"


def test_the_same_record_named_by_another_womans_incident_is_the_same_man():
    [finding] = serial_aggressor(RULES, ANA, [against(1, ANA, 0, 1), against(2, BERTA, 3, 1)],
                                 records_of(him(1)))
    assert finding.evidence == ("RelatedPerson/a1", "Observation/i1", "Observation/i2")
    assert "el registro del agresor" in finding.detail


def test_different_men_unverified_runs_and_one_woman_are_no_serial_aggressor():
    unverified = Aggressor("RelatedPerson/a2", frozenset())  # as ``identifiers`` reads it
    assert serial_aggressor(RULES, ANA, [against(1, ANA, 0, 1), against(2, BERTA, 3, 2)],
                            records_of(him(1, "9876543-3"), unverified)) == []
    assert serial_aggressor(RULES, ANA, [against(1, ANA, 0, 1), against(2, ANA, 3, 1)],
                            records_of(him(1))) == []
    # the other woman's incident entered in error (the engine leaves it out): it clears
    assert serial_aggressor(RULES, ANA, [against(1, ANA, 0, 1)], records_of(him(1))) == []
    three = replace(RULES, serial_women=3)
    incidents = [against(1, ANA, 0, 1), against(2, BERTA, 3, 2)]
    men = records_of(him(1, pasaporte="X1"), him(2, pasaporte="X1"))
    assert serial_aggressor(three, ANA, incidents, men) == []
    [finding] = serial_aggressor(three, ANA, [*incidents, against(3, CARLA, 9, 2)], men)
    assert "contra 3 mujeres" in finding.detail and "otro identificador" in finding.detail


def test_an_aggressors_identifiers_are_read_as_linkage_reads_them():
    person = {"resourceType": "RelatedPerson", "id": "p", "identifier": [
        {"system": RUN, "value": "9.876.543-3"},
        {"system": RUN, "value": "9876543-4"},  # a wrong check digit: not certain
        {"system": "https://fhir.amparo.cl/sid/run-no-verificado", "value": "1234567-8"},
        {"system": "https://fhir.amparo.cl/sid/pasaporte/PER", "value": " 123 "},
        {"value": "sin sistema"}]}
    assert aggressor(person) == Aggressor("RelatedPerson/p", frozenset({
        (RUN, "9876543-3"), ("https://fhir.amparo.cl/sid/pasaporte/PER", "123")}))
    obs = {"resourceType": "Observation", "id": "o", "status": "final",
           "code": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/observacion-vcm",
                                "code": "incidente-violencia"}]},
           "subject": {"reference": "https://otro/fhir/Patient/ana"},
           "focus": [{"reference": "RelatedPerson/p"}, {"reference": "Patient/ana"}],
           "effectiveDateTime": "2025-03-02"}
    assert incident(obs) == Incident("Observation/o", datetime(2025, 3, 2, tzinfo=UTC), ANA,
                                     ("RelatedPerson/p",))


# -- rule 5: a new incident while a protection measure against him is in force -------------

def in_force(status: str = "active", grounds: tuple[str, ...] = ("Observation/i1",)) -> Measure:
    return Measure("ServiceRequest/m1", status, DAY0 + timedelta(days=5),
                   DAY0 + timedelta(days=100), grounds)


def test_an_incident_of_the_measures_aggressor_while_it_is_in_force_is_a_breach():
    men = records_of(him(1, "9876543-3"), him(2, "9876543-3"), him(3, "11111111-1"))
    incidents = [against(1, ANA, 0, 1), against(2, ANA, 20, 2), against(3, ANA, 30, 3),
                 against(4, ANA, 2, 1), against(5, ANA, 120, 1)]  # before it, after it
    now = DAY0 + timedelta(days=40)
    [finding] = breaches(ANA, [in_force()], incidents, men, now)
    assert (finding.code, finding.about) == ("incumplimiento-medida-proteccion",
                                             "ServiceRequest/m1")
    assert finding.evidence == ("ServiceRequest/m1", "Observation/i2")  # not the ground
    assert day(DAY0 + timedelta(days=20)) in finding.detail
    # a second breach joins the same alert
    [grown] = breaches(ANA, [in_force()], [*incidents, against(6, ANA, 35, 1)], men, now)
    assert grown.evidence == ("ServiceRequest/m1", "Observation/i2", "Observation/i6")
    assert breach_ends([grown], [in_force()], now) == DAY0 + timedelta(days=100)


def test_a_breach_clears_when_the_measure_ends_is_revoked_or_names_no_aggressor():
    men = records_of(him(1))
    incidents = [against(1, ANA, 0, 1), against(2, ANA, 20, 1)]
    now = DAY0 + timedelta(days=40)
    assert breaches(ANA, [in_force()], incidents, men, now)
    assert breaches(ANA, [in_force()], incidents, men, DAY0 + timedelta(days=100)) == []
    assert breaches(ANA, [in_force("revoked")], incidents, men, now) == []
    assert breaches(ANA, [in_force("completed")], incidents, men, now) == []
    assert breaches(ANA, [in_force(grounds=())], incidents, men, now) == []  # a Statement
    assert breaches(ANA, [in_force()], incidents[:1], men, now) == []  # entered in error


def test_a_measures_period_is_read_whole_days():
    sr = {"resourceType": "ServiceRequest", "id": "m", "status": "active",
          "category": [{"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/tipo-solicitud",
                                    "code": "medida-proteccion"}]}],
          "occurrencePeriod": {"start": "2025-03-20", "end": "2025-09-20"},
          "reasonReference": [{"reference": "Observation/g"},
                              {"reference": "DocumentReference/d"}]}
    assert measure(sr) == Measure("ServiceRequest/m", "active",
                                  datetime(2025, 3, 20, tzinfo=UTC),
                                  datetime(2025, 9, 21, tzinfo=UTC), ("Observation/g",))
    assert measure({**sr, "category": []}) is None


# -- rule 7: drop-out and lost contact -----------------------------------------------------

def task(n: int, status: str, business: str | None, days: float = 0) -> Referral:
    return Referral(f"Task/t{n}", status, None, f"ServiceRequest/s{n}", business,
                    DAY0 + timedelta(days=days))


SHELTER = {f"ServiceRequest/s{n}": "casa-acogida" for n in range(1, 5)}


@pytest.mark.parametrize(("status", "business", "left"), [
    ("failed", "no-se-presenta", True), ("failed", "abandona", True),
    ("cancelled", "desiste", True), ("rejected", "sin-cupo", True),
    ("rejected", "rechazada", True), ("cancelled", "anulada", False),
    ("completed", "completada", False), ("accepted", "aceptada", False)])
def test_a_referral_ended_unserved_is_a_drop_out(status, business, left):
    found = drop_outs(RULES, [task(1, status, business)], SHELTER, [])
    assert bool(found) == left
    if left:
        [finding] = found
        assert (finding.code, finding.about) == ("perdida-contacto", "Task/t1")
        assert finding.evidence == ("ServiceRequest/s1", "Task/t1")
        assert finding.detail.startswith("Abandono: la derivación a «Casa de acogida»")


def test_a_drop_out_clears_when_she_is_back_in_the_same_service():
    dropped = task(1, "failed", "no-se-presenta", days=10)
    assert drop_outs(RULES, [dropped, task(2, "accepted", "aceptada", days=12)], SHELTER, []) == []
    assert drop_outs(RULES, [dropped, task(2, "completed", "completada", days=12)], SHELTER,
                     []) == []
    # an older referral, one still waiting, or another service: she is not back
    assert drop_outs(RULES, [dropped, task(2, "completed", "completada", days=2)], SHELTER, [])
    assert drop_outs(RULES, [dropped, task(2, "requested", "enviada", days=12)], SHELTER, [])
    other = {**SHELTER, "ServiceRequest/s2": "asesoria-juridica"}
    assert drop_outs(RULES, [dropped, task(2, "accepted", "aceptada", days=12)], other, [])
    # two referrals left are two alerts
    assert len(drop_outs(RULES, [dropped, task(2, "failed", "abandona", 11)], SHELTER, [])) == 2


def service(status: str, days: float = 0, plan: str = "CarePlan/p1", open: bool = True,
            case: str | None = "EpisodeOfCare/c1") -> Activity:
    return Activity(plan, "apoyo-psicosocial", status, DAY0 + timedelta(days=days), case, open)


def test_a_service_of_her_plan_stopped_or_declined_is_a_drop_out_until_she_is_back():
    [finding] = drop_outs(RULES, [], {}, [service("stopped"), service("completed")])
    assert finding.about == "CarePlan/p1#apoyo-psicosocial"
    assert finding.evidence == ("EpisodeOfCare/c1",)
    assert finding.basis == (("CarePlan/p1", "apoyo-psicosocial"),)
    assert "«Apoyo psicosocial»" in finding.detail and "se interrumpió" in finding.detail
    assert drop_outs(RULES, [], {}, [service("cancelled")])
    assert drop_outs(RULES, [], {}, [service("stopped", open=False)]) == []  # plan closed
    assert drop_outs(RULES, [], {}, [service("stopped", case=None)]) == []
    # back: a referral to the service made after the plan, or a later plan taking it
    back = task(1, "in-progress", "en-atencion", days=3)
    services = {"ServiceRequest/s1": "apoyo-psicosocial"}
    assert drop_outs(RULES, [back], services, [service("stopped")]) == []
    assert drop_outs(RULES, [], {}, [service("stopped"),
                                     service("scheduled", 30, "CarePlan/p2")]) == []


def test_activities_and_contacts_are_read_from_resources():
    plan = {"resourceType": "CarePlan", "id": "p", "status": "active",
            "created": "2025-03-12T11:30:00-03:00",
            "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare",
                           "valueReference": {"reference": "EpisodeOfCare/c"}}],
            "activity": [{"detail": {"code": {"coding": [{
                "system": "https://fhir.amparo.cl/CodeSystem/servicio-paquete-minimo",
                "code": "plan-seguridad"}]}, "status": "stopped"}},
                {"reference": {"reference": "ServiceRequest/m"}}]}
    assert activities(plan) == [Activity("CarePlan/p", "plan-seguridad", "stopped",
                                         datetime(2025, 3, 12, 14, 30, tzinfo=UTC),
                                         "EpisodeOfCare/c", True)]
    assert activities({**plan, "status": "entered-in-error"}) == []
    encounter = {"resourceType": "Encounter", "id": "e", "status": "finished",
                 "period": {"start": "2025-03-12T10:00:00-03:00",
                            "end": "2025-03-12T11:30:00-03:00"}}
    assert contact(encounter) == Contact("Encounter/e", datetime(2025, 3, 12, 14, 30, tzinfo=UTC))
    assert contact({**encounter, "status": "planned"}) is None
    task_ = {"resourceType": "Task", "id": "t", "status": "failed",
             "code": {"coding": [{"code": "fulfill"}]}, "focus": {"reference": "ServiceRequest/s"},
             "businessStatus": {"coding": [{
                 "system": "https://fhir.amparo.cl/CodeSystem/estado-derivacion",
                 "code": "abandona"}]}, "authoredOn": "2025-03-03"}
    read = referral(task_)
    assert (read.business, read.authored) == ("abandona", datetime(2025, 3, 3, tzinfo=UTC))


def test_a_high_risk_woman_no_institution_has_seen_for_30_days_is_lost_to_contact():
    high = [assessed(1, "alto")]
    seen = [Contact("Encounter/e1", DAY0 + timedelta(days=5))]
    assert lost_contact(RULES, high, seen, DAY0 + timedelta(days=34)) is None
    assert lost_contact_due(RULES, high, seen) == DAY0 + timedelta(days=35)
    finding = lost_contact(RULES, high, seen, DAY0 + timedelta(days=36))
    assert (finding.code, finding.about) == ("perdida-contacto", "")
    assert finding.evidence == ("RiskAssessment/e1", "Encounter/e1")
    assert "desde el 2025-03-06" in finding.detail and "30 días" in finding.detail
    # a new contact clears it; a woman not at high risk is never lost to contact
    later = [*seen, Contact("Encounter/e2", DAY0 + timedelta(days=35))]
    assert lost_contact(RULES, high, later, DAY0 + timedelta(days=36)) is None
    low = [assessed(1, "medio")]
    assert lost_contact(RULES, low, [], DAY0 + timedelta(days=99)) is None
    assert lost_contact_due(RULES, low, []) is None
    # with no contact at all, her assessment is the last time anyone saw her
    assert lost_contact(RULES, high, [], DAY0 + timedelta(days=31)).evidence == (
        "RiskAssessment/e1",)


def test_a_record_without_a_valid_run_is_the_man_of_the_same_name_and_birth_date():
    """Rule 5.3 of the institutions' fixtures (G12: his second complaint's RUN has a wrong
    check digit). Names without a birth date identify nobody; two valid RUNs that
    differ are two men whatever their names."""
    from server.warnings.aggressors import aggressor, same

    def person(n: int, run: str | None = None, born: str | None = "1970-06-06",
               given: str = "Héctor Manuel", family: str = "Oyarzo") -> Aggressor:
        body = {"id": f"a{n}", "name": [{"use": "official", "family": family,
                                         "given": [given]}]}
        if run:
            body["identifier"] = [{"system": RUN, "value": run}]
        if born:
            body["birthDate"] = born
        return aggressor(body)

    known = person(1, "40380821-0")
    assert same(known, person(2))  # no RUN: his name and birth date
    assert same(known, person(3, given="  hector", family="OYARZO"))
    assert not same(known, person(4, born=None))
    assert not same(known, person(5, born="1970-06-07"))
    assert not same(known, person(6, "9876543-3"))  # another valid RUN: another man
    incidents = [against(1, ANA, 0, 1), against(2, BERTA, 3, 2)]
    [finding] = serial_aggressor(RULES, ANA, incidents, records_of(known, person(2)))
    assert "su nombre y fecha de nacimiento" in finding.detail

