"""Risk answers scored by the platform into the assessment they give, in the same unit of
work as the answers (``profiles/ig/instruments/README.md``).

- A RiskAnswers QuestionnaireResponse to an instrument the platform holds, written
  ``completed`` or ``amended``, is scored (``profiles.scoring``) and its VAWRiskAssessment
  written as ``RiskAssessment/<assessment_id(response id)>``: instrument (``method``),
  version, raw score, the level the instrument gives, the final level, ``basis`` = the
  response. Answers that cannot be scored are refused (422) and nothing is written.
  Corrected answers re-score the same assessment; a response entered in error makes its
  assessment entered in error; deleting the response deletes it.
- A professional may raise the final level of an assessment, with a reason
  (``prediction.rationale``), never lower it below the level the instrument gave. An
  update may not change what the instrument gave (method, version, score, level): on the
  platform's assessments those are what the platform computes from the answers.
- An instrument the platform scores (DASH) reaches the platform only as answers: an
  assessment naming it that is not the platform's scoring of a response is refused. Other
  instruments (the PUIR, whose items are not public) arrive as an assessment with the
  level they report.

These rules hold whatever ``Settings.profiles`` is: they are the record's integrity, not
conformance to a profile (``amp-rsk-3`` states the level rule for validators elsewhere).
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from profiles import instruments, scoring
from server import errors
from server.validation import validate

if TYPE_CHECKING:
    from server.repository import Repository, Write

__all__ = ["RiskScoring", "assessment_id"]

#: Names the platform's assessment of each response (uuid5: the same response always
#: gives the same id, so re-scoring updates it and a client can find it).
NAMESPACE = uuid.UUID("9a4c3f52-8f0e-4a51-9d4e-2f7c2b1e6a10")
SCORED = ("completed", "amended")
INSTRUMENTS_BASE = "https://fhir.amparo.cl/Questionnaire/"
#: What the instrument gave: an update may not change these (the level with a reason).
INSTRUMENT_EXTENSIONS = (scoring.EXT_LEVEL, scoring.EXT_SCORE, scoring.EXT_VERSION)
Resource = dict[str, Any]


def assessment_id(response_id: str) -> str:
    """The id of the platform's assessment of ``QuestionnaireResponse/<response_id>``."""
    return str(uuid.uuid5(NAMESPACE, f"QuestionnaireResponse/{response_id}"))


class RiskScoring:
    """The write rule (``Repository`` calls it after each write of these types)."""

    types = frozenset({"QuestionnaireResponse", "RiskAssessment"})

    def after_write(self, repo: Repository, w: Write, written: Resource,
                    previous: Resource | None) -> None:
        if written["resourceType"] == "QuestionnaireResponse":
            self._score(repo, w, written)
        else:
            self._check(repo, w, written, previous)

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        if type == "QuestionnaireResponse":
            repo.delete(w, "RiskAssessment", assessment_id(id))

    # -- answers -> assessment ---------------------------------------------------------

    def _score(self, repo: Repository, w: Write, response: Resource) -> None:
        questionnaire = _instrument(response.get("questionnaire"))
        if questionnaire is None:
            return  # not a risk instrument the platform holds
        id = assessment_id(response["id"])
        current = _current(w, "RiskAssessment", id)
        if response.get("status") == "entered-in-error":
            if current is not None and current.get("status") != "entered-in-error":
                _write(repo, w, id, {**current, "status": "entered-in-error"})
            return
        if response.get("status") not in SCORED:
            return
        _write(repo, w, id, _assessment(questionnaire, response, current))

    # -- assessments ---------------------------------------------------------------------

    def _check(self, repo: Repository, w: Write, assessment: Resource,
               previous: Resource | None) -> None:
        response = _scored_response(w, assessment)
        if response is not None:  # the platform's scoring of a response
            questionnaire = _instrument(response.get("questionnaire"))
            expected = _assessment(questionnaire, response, assessment)
            for url in INSTRUMENT_EXTENSIONS:
                if _extension(assessment, url) != _extension(expected, url):
                    raise _refused(f"the instrument's result ({url.rsplit('/', 1)[1]}) is "
                                   f"what the platform computes from {_ref(response)}")
            if _codes(assessment.get("method")) != _codes(expected["method"]) \
                    or _reference(assessment.get("subject")) != _reference(expected["subject"]):
                raise _refused(f"method and subject are those of {_ref(response)}")
        else:
            scored = _questionnaire_of(assessment.get("method"))
            retracted = previous is not None and assessment.get("status") == "entered-in-error"
            if scored is not None and not retracted:
                raise _refused(f"{scored['title']} is scored by the platform: send the "
                               f"answers (a QuestionnaireResponse to {scored['url']}|"
                               f"{scored['version']}), not an assessment")
            if previous is not None and any(
                    _extension(assessment, url) != _extension(previous, url)
                    for url in INSTRUMENT_EXTENSIONS):
                raise _refused("an update may not change what the instrument gave "
                               "(its level, score and version)")
        _check_level(assessment)


# -- helpers ---------------------------------------------------------------------------------

def _assessment(questionnaire: Resource, response: Resource,
                current: Resource | None) -> Resource:
    """The assessment ``response`` gives, keeping what a professional added to
    ``current``: a raised level with its reason, mitigation, notes, performer."""
    for element in ("subject", "authored"):
        if not response.get(element):
            raise errors.unprocessable(f"{_ref(response)} cannot be scored without its "
                                       f"{element}", [f"QuestionnaireResponse.{element}"])
    try:
        scored = scoring.score(questionnaire, response)
        author = response.get("author") or {}
        org = author if str(author.get("reference", "")).startswith("Organization/") else None
        fresh = scoring.risk_assessment(
            scored, response["subject"], org, response["authored"],
            encounter_ref=response.get("encounter"))
    except ValueError as error:
        raise errors.unprocessable(f"{_ref(response)} cannot be scored: {error}",
                                   ["QuestionnaireResponse"]) from None
    fresh["id"] = assessment_id(response["id"])
    if current is None:
        return fresh
    merged = {k: v for k, v in current.items() if k not in ("meta", "text")}
    merged.update({k: v for k, v in fresh.items() if k not in ("prediction",)})
    owned = {scoring.EXT_ASSESSOR, *INSTRUMENT_EXTENSIONS}
    merged["extension"] = fresh["extension"] + [
        e for e in current.get("extension", []) if e.get("url") not in owned]
    merged["basis"] = fresh["basis"] + [b for b in current.get("basis", [])
                                        if b not in fresh["basis"]]
    computed = scored.level["code"]
    kept = _final(current)
    if kept is not None and kept != computed and _rank(kept) > scoring.level_rank(computed):
        merged["prediction"] = current["prediction"]  # the professional's raise stands
    else:
        merged["prediction"] = fresh["prediction"]
    return merged


def _check_level(assessment: Resource) -> None:
    """Never below what the instrument gave; above it only with a reason."""
    given = (_extension(assessment, scoring.EXT_LEVEL) or {}).get("valueCoding", {})
    final = _final(assessment)
    if not given.get("code") or final is None or final == given["code"]:
        return
    if _rank(final) < _rank(given["code"]):
        raise _refused(f"a professional may raise the level the instrument gave, never "
                       f"lower it: the instrument gave '{given['code']}', the assessment "
                       f"says '{final}'")
    if not all(str(p.get("rationale") or "").strip() for p in assessment["prediction"]):
        raise _refused(f"raising the level from '{given['code']}' to '{final}' needs a "
                       "reason (prediction.rationale)")


def _scored_response(w: Write, assessment: Resource) -> Resource | None:
    """The response whose platform assessment this is (by id), if it is one."""
    for basis in assessment.get("basis") or []:
        reference = basis.get("reference", "") if isinstance(basis, dict) else ""
        type, _, id = reference.partition("/")
        if type == "QuestionnaireResponse" and assessment_id(id) == assessment.get("id"):
            response = _current(w, type, id)
            if response is not None and response.get("status") in SCORED \
                    and _instrument(response.get("questionnaire")) is not None:
                return response
    return None


def _instrument(canonical: object) -> Resource | None:
    """The instrument Questionnaire ``canonical`` names; None for a questionnaire that is
    not one of the platform's instruments, 422 for a version of one that it does not hold
    (answers it could not score must not pass for scored)."""
    if not isinstance(canonical, str):
        return None
    try:
        return instruments.questionnaire(canonical)
    except LookupError:
        if canonical.startswith(INSTRUMENTS_BASE):
            held = ", ".join(f"{q['url']}|{q['version']}" for q in instruments.questionnaires())
            raise errors.unprocessable(f"{canonical} is not an instrument version the "
                                       f"platform holds ({held})",
                                       ["QuestionnaireResponse.questionnaire"]) from None
        return None


def _questionnaire_of(method: object) -> Resource | None:
    """The Questionnaire of a platform-scored instrument named by ``method``, if any."""
    scored = _platform_scored()
    return next((scored[code] for code in _codes(method) if code in scored), None)


@cache
def _platform_scored() -> dict[tuple, Resource]:
    """The instruments the platform scores, by each (system, code) of theirs: asked on
    every RiskAssessment write, so built once (the loader copies on every call)."""
    return {(c.get("system"), c.get("code")): questionnaire
            for questionnaire in instruments.questionnaires()
            if scoring.platform_scored(questionnaire) for c in questionnaire["code"]}


def _codes(concept: object) -> set[tuple]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return {(c.get("system"), c.get("code")) for c in codings or [] if isinstance(c, dict)}


def _reference(reference: object) -> object:
    return reference.get("reference") if isinstance(reference, dict) else None


def _current(w: Write, type: str, id: str) -> Resource | None:
    found = w.uow.read(type, id)
    return None if found is None or found.deleted else orjson.loads(found.body)


def _write(repo: Repository, w: Write, id: str, assessment: Resource) -> None:
    valid = validate(assessment, "RiskAssessment", profiles=repo.profiles)
    repo.update(w, "RiskAssessment", id, valid)


def _extension(resource: Resource, url: str) -> Resource | None:
    return next((e for e in resource.get("extension") or []
                 if isinstance(e, dict) and e.get("url") == url), None)


def _final(assessment: Resource) -> str | None:
    for prediction in assessment.get("prediction") or []:
        for coding in (prediction.get("qualitativeRisk") or {}).get("coding", []):
            if coding.get("system") == scoring.LEVEL_SYSTEM:
                return coding.get("code")
    return None


def _rank(code: str) -> int:
    try:
        return scoring.level_rank(code)
    except ValueError:
        raise _refused(f"'{code}' is not a level of nivel-riesgo") from None


def _ref(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def _refused(diagnostics: str) -> errors.FhirError:
    return errors.FhirError(422, "business-rule", diagnostics, ["RiskAssessment"])
