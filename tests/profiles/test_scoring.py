"""Risk instruments as Questionnaires with declarative scoring (profiles/scoring.py,
profiles/ig/instruments/): the DASH checklist scored by the platform from the weights and
thresholds its Questionnaire declares, the PUIR level taken as reported, and the
RiskAssessments built from them, all validated against the IG's profiles."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from profiles import ig, instruments, validate_structure
from profiles.conformance import Conformance
from profiles.scoring import Scored, external_level, level_rank, risk_assessment, score
from terminology.expansion import is_member

CONFORMANCE = Conformance(ig.structure_definitions() + ig.external_definitions(), is_member)
RISK_INSTRUMENT = "https://fhir.amparo.cl/StructureDefinition/RiskInstrument"
RISK_ANSWERS = "https://fhir.amparo.cl/StructureDefinition/RiskAnswers"
ASSESSMENT = "https://fhir.amparo.cl/StructureDefinition/VAWRiskAssessment"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0136"
DONT_KNOW = {"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
             "code": "asked-unknown", "display": "Don't know"}
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
SURVIVOR, CENTRE = "Patient/sobreviviente-ejemplo", "Organization/centro-de-la-mujer-13110"
WHEN = "2025-03-12T11:15:00-03:00"
DASH = instruments.questionnaire("dash-2009")
PUIR = instruments.questionnaire("puir")


def errors(resource: dict, profile: str) -> list:
    issues = validate_structure(resource) + CONFORMANCE.validate(resource, [profile])
    return [i for i in issues if i.severity == "error"]


def extension(resource: dict, name: str) -> dict:
    (found,) = [e for e in resource["extension"] if e["url"].endswith("/" + name)]
    return found


def dash_response(yes: int, unknown: int = 0, missing: tuple[str, ...] = (),
                  questionnaire: dict = DASH) -> dict:
    """A completed response: the first ``yes`` items Yes, the next ``unknown`` Don't know,
    the rest No; the items in ``missing`` left out."""
    items = []
    for i, item in enumerate(questionnaire["item"]):
        if item["linkId"] in missing:
            continue
        coding = ({"system": V2, "code": "Y", "display": "Yes"} if i < yes
                  else DONT_KNOW if i < yes + unknown
                  else {"system": V2, "code": "N", "display": "No"})
        items.append({"linkId": item["linkId"], "answer": [{"valueCoding": dict(coding)}]})
    return {"resourceType": "QuestionnaireResponse", "id": f"dash-{yes}",
            "meta": {"profile": [RISK_ANSWERS]},
            "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
            "status": "completed", "subject": {"reference": SURVIVOR},
            "authored": "2025-03-12T11:10:00-03:00", "author": {"reference": CENTRE},
            "item": items}


def with_nivel_rule(expression: str) -> dict:
    changed = copy.deepcopy(DASH)
    for extension in changed["extension"]:
        if extension["valueExpression"]["name"] == "nivel":
            extension["valueExpression"]["expression"] = expression
    return changed


# -- the instruments --------------------------------------------------------------------------

@pytest.mark.parametrize("questionnaire", instruments.questionnaires(), ids=lambda q: q["id"])
def test_every_instrument_conforms_to_risk_instrument(questionnaire):
    assert questionnaire["meta"]["profile"] == [RISK_INSTRUMENT]
    assert errors(questionnaire, RISK_INSTRUMENT) == []


@pytest.mark.parametrize("response", instruments.sample_responses(), ids=lambda r: r["id"])
def test_every_sample_response_conforms_to_risk_answers_and_scores(response):
    assert errors(response, RISK_ANSWERS) == []
    scored = score(instruments.questionnaire(response["questionnaire"]), response)
    assert scored.response == f"QuestionnaireResponse/{response['id']}"


def test_dash_has_24_yes_no_dont_know_items_in_spanish_with_their_english_text():
    items = DASH["item"]
    assert DASH["language"] == "es-CL" and DASH["version"] == "2009"
    assert [i["linkId"] for i in items] == [str(n) for n in range(1, 25)]
    for item in items:
        assert item["type"] == "choice" and item["required"] is True
        assert item["text"].startswith("¿") and item["text"].endswith("?")
        (translation,) = item["_text"]["extension"]
        assert translation["url"] == TRANSLATION
        parts = {p["url"]: next(v for k, v in p.items() if k.startswith("value"))
                 for p in translation["extension"]}
        assert parts["lang"] == "en" and parts["content"].endswith("?")
        weights = {o["valueCoding"]["code"]: o["extension"][0]["valueDecimal"]
                   for o in item["answerOption"]}
        assert weights == {"Y": 1, "N": 0, "asked-unknown": 0}
        assert all(is_member("http://hl7.org/fhir/ValueSet/yesnodontknow",
                             o["valueCoding"]["system"], o["valueCoding"]["code"])
                   for o in item["answerOption"])


def test_the_puir_instrument_holds_only_the_reported_level_and_score():
    assert [i["linkId"] for i in PUIR["item"]] == ["nivel", "puntaje"]
    levels = [o["valueCoding"]["code"] for o in PUIR["item"][0]["answerOption"]]
    assert levels == ["bajo", "medio", "vital-alto"]


# -- DASH scoring ----------------------------------------------------------------------------

@pytest.mark.parametrize(("yes", "level"), [(0, "bajo"), (13, "medio"), (14, "alto"),
                                            (24, "alto")])
def test_dash_scores_the_number_of_yes_answers_into_a_level(yes, level):
    scored = score(DASH, dash_response(yes))
    assert scored.raw_score == yes
    assert scored.level == {"system": "https://fhir.amparo.cl/CodeSystem/nivel-riesgo",
                            "code": level, "display": level.capitalize()}
    assert scored.instrument["code"] == "dash" and scored.version == "2009"
    assert scored.questionnaire == "https://fhir.amparo.cl/Questionnaire/dash|2009"
    assert list(scored.answers.values()).count(("Y",)) == yes
    assert scored.unanswered == ()


@pytest.mark.parametrize(("yes", "level"), [(1, "bajo"), (9, "bajo"), (10, "medio"),
                                            (12, "medio"), (13, "medio"), (14, "alto"),
                                            (15, "alto")])
def test_dash_level_thresholds(yes, level):
    assert score(DASH, dash_response(yes)).level["code"] == level


def test_dont_know_counts_nothing():
    scored = score(DASH, dash_response(13, unknown=11))
    assert scored.raw_score == 13 and scored.level["code"] == "medio"
    assert list(scored.answers.values()).count(("asked-unknown",)) == 11


def test_missing_answers_count_nothing_are_listed_and_make_the_assessment_preliminary():
    scored = score(DASH, dash_response(14, missing=("20", "24")))
    assert scored.raw_score == 14 and scored.level["code"] == "alto"
    assert scored.unanswered == ("20", "24")
    assessment = risk_assessment(scored, SURVIVOR, CENTRE, WHEN)
    assert assessment["status"] == "preliminary"
    assert "20, 24" in assessment["prediction"][0]["rationale"]
    assert errors(assessment, ASSESSMENT) == []


def test_a_response_without_answers_scores_zero_with_every_item_unanswered():
    response = dash_response(0, missing=tuple(str(n) for n in range(1, 25)))
    response["status"] = "in-progress"
    scored = score(DASH, response)
    assert (scored.raw_score, scored.level["code"], len(scored.unanswered)) == (0, "bajo", 24)


def test_a_weight_the_response_carries_is_ignored():
    response = dash_response(2)
    coding = response["item"][5]["answer"][0]["valueCoding"]  # a "No"
    coding["extension"] = [{"url": ORDINAL, "valueDecimal": 20}]
    assert score(DASH, response).raw_score == 2
    assert coding["extension"][0]["valueDecimal"] == 20  # the caller's response untouched


@pytest.mark.parametrize(("change", "message"), [
    (lambda r: r["item"][0]["answer"][0]["valueCoding"].update(code="maybe"), "options"),
    (lambda r: r["item"][0]["answer"].append({"valueCoding": {"system": V2, "code": "N"}}),
     "one answer"),
    (lambda r: r["item"][0]["answer"].__setitem__(0, {"valueBoolean": True}), "options"),
    (lambda r: r["item"].append({"linkId": "25", "answer": [{"valueBoolean": True}]}),
     "lacks"),
    (lambda r: r.update(questionnaire="https://fhir.amparo.cl/Questionnaire/puir"),
     "answers"),
    (lambda r: r.update(questionnaire="https://fhir.amparo.cl/Questionnaire/dash|2024"),
     "answers"),
    (lambda r: r.update(status="entered-in-error"), "in error"),
])
def test_bad_responses_are_refused(change, message):
    response = dash_response(3)
    change(response)
    with pytest.raises(ValueError, match=message):
        score(DASH, response)


def test_a_response_naming_the_instrument_without_version_is_scored():
    response = dash_response(10)
    response["questionnaire"] = DASH["url"]
    assert score(DASH, response).level["code"] == "medio"


# -- the rule is the Questionnaire's ---------------------------------------------------------

def test_changing_a_threshold_in_the_questionnaire_changes_the_level():
    lowered = with_nivel_rule(
        "iif(%puntaje >= 12, 'alto', iif(%puntaje >= 10, 'medio', 'bajo'))")
    assert score(DASH, dash_response(13)).level["code"] == "medio"
    assert score(lowered, dash_response(13)).level["code"] == "alto"
    assert score(lowered, dash_response(11)).level["code"] == "medio"


def test_changing_a_weight_in_the_questionnaire_changes_the_score():
    weighted = copy.deepcopy(DASH)
    weighted["item"][0]["answerOption"][0]["extension"][0]["valueDecimal"] = 5  # item 1 Yes
    assert score(weighted, dash_response(10)).raw_score == 14
    assert score(weighted, dash_response(10)).level["code"] == "alto"
    assert score(DASH, dash_response(10)).raw_score == 10


def test_a_rule_giving_a_level_the_instrument_does_not_report_is_refused():
    with pytest.raises(ValueError, match="not one of its levels"):
        score(with_nivel_rule("'vital'"), dash_response(3))


def test_a_questionnaire_without_a_level_rule_is_not_scored():
    unscored = copy.deepcopy(DASH)
    del unscored["extension"]
    with pytest.raises(ValueError, match="not scored by the platform"):
        score(unscored, dash_response(3))


# -- the RiskAssessment ----------------------------------------------------------------------

@pytest.mark.parametrize("yes", [0, 13, 14, 24])
def test_the_assessment_records_instrument_version_score_level_and_basis(yes):
    assessment = risk_assessment(score(DASH, dash_response(yes)), SURVIVOR, CENTRE, WHEN,
                                 performer_ref="PractitionerRole/profesional-ejemplo",
                                 encounter_ref="Encounter/contacto-ejemplo")
    assert errors(assessment, ASSESSMENT) == []
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in assessment["extension"]}
    assert extensions["ext-puntaje-riesgo"]["valueDecimal"] == yes
    assert extensions["ext-version-instrumento"]["valueString"] == "2009"
    assert extensions["ext-institucion-evaluadora"]["valueReference"] == {"reference": CENTRE}
    assert assessment["method"]["coding"][0]["code"] == "dash"
    assert assessment["basis"] == [{"reference": f"QuestionnaireResponse/dash-{yes}"}]
    assert assessment["status"] == "final" and assessment["occurrenceDateTime"] == WHEN
    assert "rationale" not in assessment["prediction"][0]


def test_the_validator_would_catch_a_wrong_assessment():
    """The conformance check above is live: a tampered assessment fails it."""
    assessment = risk_assessment(score(DASH, dash_response(24)), SURVIVOR, CENTRE, WHEN)
    extension(assessment, "ext-puntaje-riesgo")["valueDecimal"] = 30
    assert any("amp-rsk-2" in i.diagnostics for i in errors(assessment, ASSESSMENT))


def test_a_professional_may_raise_the_level_with_a_reason():
    scored = score(DASH, dash_response(12))
    assessment = risk_assessment(scored, SURVIVOR, CENTRE, WHEN, raised_to="alto",
                                 reason="Intento de estrangulamiento y separación reciente.")
    assert errors(assessment, ASSESSMENT) == []
    assert assessment["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "alto"
    rationale = assessment["prediction"][0]["rationale"]
    assert "Medio (puntaje 12)" in rationale and "Elevado a Alto" in rationale
    assert "Intento de estrangulamiento" in rationale
    # the score and the instrument's level stay the computed ones
    assert extension(assessment, "ext-puntaje-riesgo")["valueDecimal"] == 12
    assert extension(assessment, "ext-nivel-instrumento")["valueCoding"]["code"] == "medio"


def test_raising_needs_a_reason():
    with pytest.raises(ValueError, match="needs a reason"):
        risk_assessment(score(DASH, dash_response(3)), SURVIVOR, CENTRE, WHEN,
                        raised_to="medio", reason="  ")


def test_the_computed_level_again_needs_no_reason():
    assessment = risk_assessment(score(DASH, dash_response(14)), SURVIVOR, CENTRE, WHEN,
                                 raised_to="alto")
    assert "rationale" not in assessment["prediction"][0]


@pytest.mark.parametrize(("yes", "lowered"), [(14, "medio"), (14, "bajo"), (10, "bajo")])
def test_a_professional_may_never_lower_the_level(yes, lowered):
    with pytest.raises(ValueError, match="never lower"):
        risk_assessment(score(DASH, dash_response(yes)), SURVIVOR, CENTRE, WHEN,
                        raised_to=lowered, reason="La mujer cree que no es para tanto.")


def test_raising_to_a_level_the_instrument_does_not_report_is_refused():
    with pytest.raises(ValueError, match="not one of its levels"):
        risk_assessment(score(DASH, dash_response(14)), SURVIVOR, CENTRE, WHEN,
                        raised_to="vital", reason="Amenaza con arma de fuego.")


def test_levels_of_one_rank_follow_the_instruments_order():
    """alto and vital share rank 3; an instrument reporting both orders them."""
    vital = Scored(instrument={"system": "https://fhir.amparo.cl/CodeSystem/instrumento-riesgo",
                               "code": "pauta-cdm", "display": "Evaluación CDM"},
                   version="2024", answers={}, raw_score=None,
                   level={"system": "https://fhir.amparo.cl/CodeSystem/nivel-riesgo",
                          "code": "vital", "display": "Vital"},
                   questionnaire="https://fhir.amparo.cl/Questionnaire/pauta-cdm|2024")
    with pytest.raises(ValueError, match="never lower"):
        risk_assessment(vital, SURVIVOR, CENTRE, WHEN, raised_to="alto", reason="x")
    alto = replace(vital, level={**vital.level, "code": "alto", "display": "Alto"})
    raised = risk_assessment(alto, SURVIVOR, CENTRE, WHEN, raised_to="vital", reason="Arma.")
    assert raised["prediction"][0]["qualitativeRisk"]["coding"][0]["code"] == "vital"


def test_the_rank_scale():
    assert [level_rank(c) for c in ("bajo", "medio", "alto", "vital", "vital-alto")] == \
        [1, 2, 3, 3, 3]
    with pytest.raises(ValueError):
        level_rank("extremo")


def test_the_time_may_be_an_aware_datetime_only():
    scored = score(DASH, dash_response(1))
    when = datetime(2025, 3, 12, 11, 15, tzinfo=timezone(timedelta(hours=-3)))
    assert risk_assessment(scored, SURVIVOR, CENTRE, when)["occurrenceDateTime"] == WHEN
    with pytest.raises(ValueError, match="offset"):
        risk_assessment(scored, SURVIVOR, CENTRE, datetime(2025, 3, 12, 11, 15))
    assert risk_assessment(scored, SURVIVOR, CENTRE, datetime(2025, 3, 12, tzinfo=UTC))


# -- the PUIR, an external level ---------------------------------------------------------------

@pytest.mark.parametrize("level", ["bajo", "medio", "vital-alto"])
def test_the_puir_levels_are_accepted_as_reported(level):
    scored = external_level(level, raw_score=17)
    assert (scored.instrument["code"], scored.version, scored.level["code"]) == \
        ("puir", "2017", level)
    assessment = risk_assessment(scored, SURVIVOR, "Organization/carabineros-13110", WHEN)
    assert errors(assessment, ASSESSMENT) == []
    assert extension(assessment, "ext-puntaje-riesgo") == {
        "url": "https://fhir.amparo.cl/StructureDefinition/ext-puntaje-riesgo",
        "valueDecimal": 17}
    assert "basis" not in assessment


@pytest.mark.parametrize("level", ["alto", "vital", "extremo"])
def test_the_puir_reports_no_alto_or_vital_alone(level):
    with pytest.raises(ValueError, match="bajo, medio, vital-alto"):
        external_level(level)


def test_a_puir_without_score_records_none():
    assessment = risk_assessment(external_level("medio"), SURVIVOR, CENTRE, WHEN)
    assert [e["url"].rsplit("/", 1)[1] for e in assessment["extension"]] == \
        ["ext-institucion-evaluadora", "ext-nivel-instrumento", "ext-version-instrumento"]
    assert errors(assessment, ASSESSMENT) == []


def test_a_puir_level_may_be_raised_not_lowered():
    raised = risk_assessment(external_level("medio", 9), SURVIVOR, CENTRE, WHEN,
                             raised_to="vital-alto", reason="Acceso a armas de fuego.")
    assert errors(raised, ASSESSMENT) == []
    with pytest.raises(ValueError, match="never lower"):
        risk_assessment(external_level("vital-alto"), SURVIVOR, CENTRE, WHEN,
                        raised_to="medio", reason="x")


def test_a_puir_response_is_scored_as_reported_and_refused_with_alto():
    (response,) = [r for r in instruments.sample_responses() if "puir" in r["questionnaire"]]
    scored = score(PUIR, response)
    assert (scored.level["code"], scored.raw_score) == ("medio", 9)
    assessment = risk_assessment(scored, SURVIVOR, "Organization/carabineros-13110", WHEN)
    assert errors(assessment, ASSESSMENT) == []
    response["item"][0]["answer"][0]["valueCoding"]["code"] = "alto"
    with pytest.raises(ValueError, match="options"):
        score(PUIR, response)
    del response["item"][0]
    with pytest.raises(ValueError, match="no level"):
        score(PUIR, response)


def test_an_instrument_the_platform_scores_takes_no_external_level():
    with pytest.raises(ValueError, match="scored by the platform"):
        external_level("alto", questionnaire=DASH)
