"""Risk answers scored by the platform into their VAWRiskAssessment (server/risk.py), over
HTTP on the default (strict) server: the DASH scored from its answers in the same unit of
work, re-scored when corrected; a professional may raise the level with a reason, never
lower it; the instrument's result cannot be edited; the PUIR arrives as a reported level."""

from __future__ import annotations

import copy

import pytest

from profiles import ig, instruments
from server.config import Settings
from server.risk import assessment_id
from tests.conftest import assert_outcome, serve
from tests.profiles.test_scoring import dash_response

EXAMPLES = {name: resource for name, resource, _ in ig.examples()}
CENTRE = "Organization/centro-de-la-mujer-13110"
LEVEL = "https://fhir.amparo.cl/CodeSystem/nivel-riesgo"
EXT = "https://fhir.amparo.cl/StructureDefinition/"
RAISE_REASON = "Intento de estrangulamiento la semana pasada y separación reciente."


@pytest.fixture
def live(db_url):
    """The default server: the guide's profiles enforced (strict)."""
    yield from serve(Settings(store=db_url))


@pytest.fixture
def survivor(live) -> str:
    patient = copy.deepcopy(EXAMPLES["Survivor-valid-1"])
    patient.pop("id")
    created = live.post("Patient", json=patient)
    assert created.status_code == 201, created.text
    return f"Patient/{created.json()['id']}"


def answers(survivor: str, yes: int) -> dict:
    response = dash_response(yes)
    response.pop("id")
    response["subject"] = {"reference": survivor}
    return response


def post_answers(live, survivor: str, yes: int) -> tuple[dict, dict]:
    """(the stored response, the platform's assessment of it)."""
    created = live.post("QuestionnaireResponse", json=answers(survivor, yes))
    assert created.status_code == 201, created.text
    response = created.json()
    return response, assessment_of(live, response["id"])


def assessment_of(live, response_id: str) -> dict:
    found = live.get(f"RiskAssessment/{assessment_id(response_id)}")
    assert found.status_code == 200, found.text
    return found.json()


def level(assessment: dict) -> str:
    (coding,) = assessment["prediction"][0]["qualitativeRisk"]["coding"]
    return coding["code"]


def extension(assessment: dict, name: str):
    found = [e for e in assessment.get("extension", []) if e["url"] == EXT + name]
    return found[0] if found else None


def count(live, type: str) -> int:
    return live.get(type, params={"_summary": "count"}).json()["total"]


@pytest.mark.parametrize(("yes", "expected"), [(14, "alto"), (24, "alto"), (13, "medio"),
                                               (10, "medio"), (9, "bajo"), (0, "bajo")])
def test_completed_dash_answers_are_scored_into_an_assessment(live, survivor, yes, expected):
    response, assessment = post_answers(live, survivor, yes)
    assert level(assessment) == expected
    assert extension(assessment, "ext-nivel-instrumento")["valueCoding"]["code"] == expected
    assert extension(assessment, "ext-puntaje-riesgo")["valueDecimal"] == yes
    assert extension(assessment, "ext-version-instrumento")["valueString"] == "2009"
    assert extension(assessment, "ext-institucion-evaluadora")["valueReference"] == {
        "reference": CENTRE}
    assert assessment["method"]["coding"][0]["code"] == "dash"
    assert assessment["subject"] == {"reference": survivor}
    assert assessment["basis"] == [{"reference": f"QuestionnaireResponse/{response['id']}"}]
    assert assessment["status"] == "final"
    assert assessment["occurrenceDateTime"] == response["authored"]
    found = live.get("RiskAssessment", params={
        "basis": f"QuestionnaireResponse/{response['id']}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [assessment["id"]]


def test_answers_still_in_progress_are_not_scored(live, survivor):
    draft = {**answers(survivor, 20), "status": "in-progress"}
    created = live.post("QuestionnaireResponse", json=draft)
    assert created.status_code == 201, created.text
    assert count(live, "RiskAssessment") == 0


def test_corrected_answers_rescore_the_same_assessment(live, survivor):
    response, first = post_answers(live, survivor, 9)
    corrected = {**answers(survivor, 15), "id": response["id"], "status": "amended"}
    assert live.put(f"QuestionnaireResponse/{response['id']}", json=corrected).status_code == 200
    again = assessment_of(live, response["id"])
    assert (level(first), level(again)) == ("bajo", "alto")
    assert again["meta"]["versionId"] == "2"
    assert extension(again, "ext-puntaje-riesgo")["valueDecimal"] == 15
    assert count(live, "RiskAssessment") == 1


def raised(assessment: dict, to: str, reason: str | None = RAISE_REASON) -> dict:
    changed = copy.deepcopy(assessment)
    prediction = changed["prediction"][0]
    prediction["qualitativeRisk"] = {"coding": [{"system": LEVEL, "code": to}]}
    prediction.pop("rationale", None)
    if reason is not None:
        prediction["rationale"] = reason
    return changed


def test_a_professional_raises_the_level_with_a_reason_and_rescoring_keeps_it(live, survivor):
    response, assessment = post_answers(live, survivor, 11)
    put = live.put(f"RiskAssessment/{assessment['id']}", json=raised(assessment, "alto"))
    assert put.status_code == 200, put.text
    assert level(put.json()) == "alto"
    assert extension(put.json(), "ext-nivel-instrumento")["valueCoding"]["code"] == "medio"
    # corrected answers that still give medio: the professional's raise stands
    corrected = {**answers(survivor, 12), "id": response["id"], "status": "amended"}
    assert live.put(f"QuestionnaireResponse/{response['id']}", json=corrected).status_code == 200
    kept = assessment_of(live, response["id"])
    assert level(kept) == "alto"
    assert kept["prediction"][0]["rationale"] == RAISE_REASON
    assert extension(kept, "ext-puntaje-riesgo")["valueDecimal"] == 12


@pytest.mark.parametrize("profiles", ["strict", "off"])
def test_a_professional_may_not_lower_the_level_whatever_the_profile_mode(db_url, profiles):
    for live in serve(Settings(store=db_url, profiles=profiles)):
        patient = copy.deepcopy(EXAMPLES["Survivor-valid-1"])
        survivor = f"Patient/{live.post('Patient', json=patient).json()['id']}"
        _, assessment = post_answers(live, survivor, 16)
        body = assert_outcome(live.put(f"RiskAssessment/{assessment['id']}",
                                       json=raised(assessment, "medio")), 422)
        assert "never lower" in body["issue"][0]["diagnostics"] or profiles == "strict"
        assert level(live.get(f"RiskAssessment/{assessment['id']}").json()) == "alto"


def test_raising_without_a_reason_is_refused(live, survivor):
    _, assessment = post_answers(live, survivor, 3)
    assert_outcome(live.put(f"RiskAssessment/{assessment['id']}",
                            json=raised(assessment, "medio", reason=None)), 422)
    assert assessment_of(live, assessment["basis"][0]["reference"].split("/")[1])[
        "meta"]["versionId"] == "1"


@pytest.mark.parametrize("tamper", ["score", "instrument level", "version", "method"])
def test_the_instruments_result_cannot_be_edited(live, survivor, tamper):
    _, assessment = post_answers(live, survivor, 14)
    changed = copy.deepcopy(assessment)
    if tamper == "score":
        extension(changed, "ext-puntaje-riesgo")["valueDecimal"] = 20
    elif tamper == "instrument level":
        extension(changed, "ext-nivel-instrumento")["valueCoding"]["code"] = "medio"
        changed = raised(changed, "alto")
    elif tamper == "version":
        extension(changed, "ext-version-instrumento")["valueString"] = "2020"
    else:
        changed["method"]["coding"][0]["code"] = "pauta-cdm"
    assert_outcome(live.put(f"RiskAssessment/{assessment['id']}", json=changed), 422)


def test_a_dash_assessment_sent_without_its_answers_is_refused(live, survivor):
    assessment = copy.deepcopy(EXAMPLES["VAWRiskAssessment-valid-1"])
    assessment.pop("id")
    assessment["subject"] = {"reference": survivor}
    body = assert_outcome(live.post("RiskAssessment", json=assessment), 422, "business-rule")
    assert "scored by the platform" in body["issue"][0]["diagnostics"]
    assert count(live, "RiskAssessment") == 0


def test_answers_that_cannot_be_scored_are_refused_and_nothing_is_written(live, survivor):
    bad = answers(survivor, 5)
    bad["item"][0]["answer"] = [{"valueCoding": {"system": "urn:x", "code": "maybe"}}]
    body = assert_outcome(live.post("QuestionnaireResponse", json=bad), 422)
    assert "not one of its options" in body["issue"][0]["diagnostics"]
    assert (count(live, "QuestionnaireResponse"), count(live, "RiskAssessment")) == (0, 0)


def test_answers_to_an_instrument_version_the_platform_lacks_are_refused(live, survivor):
    unknown = {**answers(survivor, 14), "questionnaire": "https://fhir.amparo.cl/Questionnaire/dash|2020"}
    body = assert_outcome(live.post("QuestionnaireResponse", json=unknown), 422)
    assert body["issue"][0]["expression"] == ["QuestionnaireResponse.questionnaire"]
    other = {**answers(survivor, 14), "questionnaire": "http://example.org/Questionnaire/phq-9"}
    assert live.post("QuestionnaireResponse", json=other).status_code in (201, 422)
    assert count(live, "RiskAssessment") == 0


@pytest.mark.parametrize("missing", ["subject", "authored"])
def test_answers_without_subject_or_date_are_not_scored_even_unprofiled(db_url, missing):
    for live in serve(Settings(store=db_url, profiles="off")):
        response = answers("Patient/x", 14)
        del response[missing]
        body = assert_outcome(live.post("QuestionnaireResponse", json=response), 422)
        assert body["issue"][0]["expression"] == [f"QuestionnaireResponse.{missing}"]
        assert count(live, "QuestionnaireResponse") == 0


def test_answers_in_a_transaction_are_scored_with_resolved_references(live):
    patient = copy.deepcopy(EXAMPLES["Survivor-valid-1"])
    patient.pop("id")
    response = answers("urn:uuid:7d0a5a3c-0000-4000-8000-000000000001", 18)
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:7d0a5a3c-0000-4000-8000-000000000001", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:7d0a5a3c-0000-4000-8000-000000000002", "resource": response,
         "request": {"method": "POST", "url": "QuestionnaireResponse"}}]}
    result = live.post("", json=bundle)
    assert result.status_code == 200, result.text
    patient_ref, response_ref = (e["response"]["location"].split("/_history")[0]
                                 for e in result.json()["entry"])
    assessment = assessment_of(live, response_ref.split("/")[-1])
    assert assessment["subject"]["reference"] == "/".join(patient_ref.split("/")[-2:])
    assert level(assessment) == "alto"


def test_retracted_and_deleted_answers_take_their_assessment_with_them(live, survivor):
    response, assessment = post_answers(live, survivor, 14)
    retracted = {**answers(survivor, 14), "id": response["id"], "status": "entered-in-error"}
    assert live.put(f"QuestionnaireResponse/{response['id']}", json=retracted).status_code == 200
    assert assessment_of(live, response["id"])["status"] == "entered-in-error"
    assert live.delete(f"QuestionnaireResponse/{response['id']}").status_code == 204
    assert live.get(f"RiskAssessment/{assessment['id']}").status_code == 410


def puir_answers(survivor: str, reported: str) -> dict:
    response = copy.deepcopy(next(r for r in instruments.sample_responses()
                                  if r["questionnaire"].startswith(
                                      "https://fhir.amparo.cl/Questionnaire/puir")))
    response.pop("id")
    response["subject"] = {"reference": survivor}
    response.pop("extension", None)  # its case and contact are not in this store
    response.pop("encounter", None)
    response["item"][0]["answer"] = [{"valueCoding": {"system": LEVEL, "code": reported}}]
    return response


def test_the_puir_level_is_recorded_as_reported_from_its_answers(live, survivor):
    created = live.post("QuestionnaireResponse", json=puir_answers(survivor, "vital-alto"))
    assert created.status_code == 201, created.text
    assessment = assessment_of(live, created.json()["id"])
    assert level(assessment) == "vital-alto"
    assert assessment["method"]["coding"][0]["code"] == "puir"
    assert extension(assessment, "ext-puntaje-riesgo")["valueDecimal"] == 9
    bad = live.post("QuestionnaireResponse", json=puir_answers(survivor, "alto"))
    assert_outcome(bad, 422)  # the PUIR reports vital/alto as one level


def test_a_puir_assessment_sent_as_such_may_be_raised_but_not_lowered(live, survivor):
    assessment = copy.deepcopy(EXAMPLES["VAWRiskAssessment-valid-2"])  # PUIR, medio raised
    assessment.pop("id")
    assessment["subject"] = {"reference": survivor}
    created = live.post("RiskAssessment", json=assessment)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert_outcome(live.put(f"RiskAssessment/{stored['id']}", json=raised(stored, "bajo")), 422)
    relabelled = copy.deepcopy(stored)
    extension(relabelled, "ext-nivel-instrumento")["valueCoding"]["code"] = "vital-alto"
    assert_outcome(live.put(f"RiskAssessment/{stored['id']}", json=relabelled), 422)
    mitigated = {**stored, "mitigation": "Casa de acogida esta noche."}
    assert live.put(f"RiskAssessment/{stored['id']}", json=mitigated).status_code == 200
