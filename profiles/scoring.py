"""Risk instruments scored from the rules their Questionnaire declares, and the
VAWRiskAssessment that records the result.

An instrument declares its scoring in its RiskInstrument Questionnaire
(``profiles/ig/instruments/README.md``), with standard FHIR only:

- **weights**: the core ``ordinalValue`` extension (R5's ``itemWeight``) on each
  ``answerOption``;
- **rules**: core ``variable`` extensions on the Questionnaire, FHIRPath expressions
  evaluated in order with ``%resource`` = the response and each earlier variable by its
  name. ``puntaje`` is the raw score (optional), ``nivel`` the level, a ``nivel-riesgo``
  code (required). ``weight()`` (SDC's ``ordinal()``, ``weight()`` in fhirpath.js) is the
  weight the Questionnaire gives an answer among its item's options; a weight the
  response itself carries is ignored.

Nothing here knows an instrument: the DASH checklist (weights and thresholds) and the PUIR
(whose level is read as reported) differ only in their Questionnaires. Which levels an
instrument reports, and their order, come from the ``nivel`` property of
``instrumento-riesgo``; the rank that compares levels from ``rango`` of ``nivel-riesgo``.

A professional may raise the computed level, with a reason, never lower it
(``risk_assessment(..., raised_to=, reason=)``). Every refusal is a ``ValueError`` whose
message says what is wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import fhirpathpy
from fhirpathpy.models import models

import terminology
from profiles import instruments

__all__ = ["Scored", "external_level", "level_rank", "platform_scored", "risk_assessment",
           "score"]

BASE = "https://fhir.amparo.cl"
INSTRUMENT_SYSTEM = f"{BASE}/CodeSystem/instrumento-riesgo"
LEVEL_SYSTEM = f"{BASE}/CodeSystem/nivel-riesgo"
PROFILE = f"{BASE}/StructureDefinition/VAWRiskAssessment"
EXT_ASSESSOR = f"{BASE}/StructureDefinition/ext-institucion-evaluadora"
EXT_SCORE = f"{BASE}/StructureDefinition/ext-puntaje-riesgo"
EXT_VERSION = f"{BASE}/StructureDefinition/ext-version-instrumento"
EXT_LEVEL = f"{BASE}/StructureDefinition/ext-nivel-instrumento"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
#: The variables a scored instrument declares: the raw score and the level.
SCORE_VARIABLE, LEVEL_VARIABLE = "puntaje", "nivel"


@dataclass(frozen=True)
class Scored:
    """An instrument's result: what a VAWRiskAssessment records."""

    instrument: dict  # Coding of instrumento-riesgo
    version: str | None  # the instrument's version (Questionnaire.version)
    answers: Mapping[str, tuple]  # linkId -> answer values (the code of a Coding)
    raw_score: int | float | None
    level: dict  # Coding of nivel-riesgo
    questionnaire: str  # canonical, url|version
    response: str | None = None  # "QuestionnaireResponse/<id>", the basis
    unanswered: tuple[str, ...] = field(default=())  # required items with no answer


# -- scoring ------------------------------------------------------------------------------

def score(questionnaire: dict, response: dict) -> Scored:
    """Score ``response`` with the rules ``questionnaire`` declares. Refuses a response to
    another instrument, answers to items the instrument lacks, answers outside an item's
    options, several answers to a non-repeating item, and a Questionnaire without a
    ``nivel`` rule. A required item left unanswered counts nothing (its weight is no
    weight) and is listed in ``unanswered``: the level is then a floor."""
    _check_instrument(questionnaire, response)
    items = _items(questionnaire.get("item", []))
    scoring = copy.deepcopy(response)
    answers: dict[str, tuple] = {}
    for item in _items(scoring.get("item", []), answers=True).values():
        answers[item["linkId"]] = _checked_answers(items, item)
    unanswered = tuple(link for link, item in items.items()
                       if item.get("required") and item.get("type") not in ("group", "display")
                       and not answers.get(link))
    variables = _variables(questionnaire, scoring)
    if LEVEL_VARIABLE not in variables:
        raise ValueError(f"the instrument {questionnaire.get('url')} declares no "
                         f"'{LEVEL_VARIABLE}' rule: it is not scored by the platform")
    code = _single(variables[LEVEL_VARIABLE], LEVEL_VARIABLE)
    if code is None:
        missing = f" (unanswered: {', '.join(unanswered)})" if unanswered else ""
        raise ValueError(f"the response gives no level{missing}")
    instrument = _instrument(questionnaire)
    raw = _single(variables.get(SCORE_VARIABLE, []), SCORE_VARIABLE)
    return Scored(
        instrument=instrument, version=questionnaire.get("version"),
        answers=answers, raw_score=_number(raw, SCORE_VARIABLE),
        level=_level_coding(instrument, code), questionnaire=_canonical(questionnaire),
        response=f"QuestionnaireResponse/{response['id']}" if response.get("id") else None,
        unanswered=unanswered)


def external_level(level_code: str, raw_score: int | float | None = None,
                   questionnaire: dict | None = None) -> Scored:
    """A level computed outside the platform (by default the PUIR's), recorded as
    reported. The level must be one the instrument reports: the PUIR reports ``bajo``,
    ``medio`` and ``vital-alto``, never ``alto`` or ``vital`` alone. An instrument the
    platform scores from its answers (weighted options) is refused: send its answers."""
    questionnaire = questionnaire or instruments.questionnaire("puir")
    if platform_scored(questionnaire):
        raise ValueError(f"the instrument {questionnaire.get('url')} is scored by the "
                         "platform from its answers: score its QuestionnaireResponse")
    instrument = _instrument(questionnaire)
    return Scored(instrument=instrument, version=questionnaire.get("version"), answers={},
                  raw_score=_number(raw_score, "raw_score"),
                  level=_level_coding(instrument, level_code),
                  questionnaire=_canonical(questionnaire))


# -- the RiskAssessment ---------------------------------------------------------------------

def risk_assessment(scored: Scored, survivor_ref: str | dict,
                    assessor_org_ref: str | dict | None, when: str | datetime,
                    raised_to: str | None = None, reason: str | None = None, *,
                    performer_ref: str | dict | None = None,
                    encounter_ref: str | dict | None = None,
                    basis: list[str | dict] | None = None) -> dict:
    """A RiskAssessment conforming to VAWRiskAssessment: the instrument (``method``), its
    version, the raw score, the level the instrument gives (``ext-nivel-instrumento``) and
    the final level (``prediction.qualitativeRisk``), the assessing institution (if
    known), ``basis`` = the response (and any further ``basis``). ``raised_to`` is a level
    the professional raises the computed one to, with ``reason``; it must be one the
    instrument reports and not below the computed level (by ``rango``, then the
    instrument's order).
    Unanswered required items make the assessment ``preliminary``."""
    computed = scored.level["code"]
    level = scored.level
    notes = []
    if raised_to is not None and raised_to != computed:
        level = _level_coding(scored.instrument, raised_to)
        if _order(scored.instrument, raised_to) < _order(scored.instrument, computed):
            raise ValueError(
                f"a professional may raise the computed level, never lower it: computed "
                f"'{computed}' (rank {level_rank(computed)}), asked '{raised_to}' "
                f"(rank {level_rank(raised_to)})")
        if not (reason or "").strip():
            raise ValueError(f"raising the level from '{computed}' to '{raised_to}' "
                             "needs a reason")
        notes.append(f"Nivel que da el instrumento: {scored.level['display']}"
                     f"{_score_text(scored)}. Elevado a {level['display']} por criterio "
                     f"profesional: {reason.strip()}")
    if scored.unanswered:
        notes.append(f"Preguntas sin respuesta: {', '.join(scored.unanswered)}; el nivel "
                     "calculado es un mínimo.")
    extension = []
    if assessor_org_ref is not None:
        extension.append({"url": EXT_ASSESSOR, "valueReference": _reference(assessor_org_ref)})
    extension.append({"url": EXT_LEVEL, "valueCoding": dict(scored.level)})
    if scored.raw_score is not None:
        extension.append({"url": EXT_SCORE, "valueDecimal": scored.raw_score})
    if scored.version:
        extension.append({"url": EXT_VERSION, "valueString": scored.version})
    prediction: dict[str, Any] = {"qualitativeRisk": {"coding": [dict(level)]}}
    if notes:
        prediction["rationale"] = " ".join(notes)
    assessment: dict[str, Any] = {
        "resourceType": "RiskAssessment",
        "meta": {"profile": [PROFILE]},
        "extension": extension,
        "status": "preliminary" if scored.unanswered else "final",
        "method": {"coding": [dict(scored.instrument)]},
        "subject": _reference(survivor_ref),
    }
    if encounter_ref is not None:
        assessment["encounter"] = _reference(encounter_ref)
    assessment["occurrenceDateTime"] = _datetime(when)
    if performer_ref is not None:
        assessment["performer"] = _reference(performer_ref)
    references = ([scored.response] if scored.response else []) + list(basis or [])
    if references:
        assessment["basis"] = [_reference(r) for r in references]
    assessment["prediction"] = [prediction]
    return assessment


def platform_scored(questionnaire: dict) -> bool:
    """True when the platform scores the instrument from its answers (its options carry
    weights), false when its level is reported from outside (the PUIR)."""
    return any(_weight_of(option) is not None
               for item in _items(questionnaire.get("item", [])).values()
               for option in item.get("answerOption", []))


def level_rank(code: str) -> int:
    """A level's rank on the common three-level scale (``rango`` of nivel-riesgo: bajo 1,
    medio 2, alto, vital and vital-alto 3)."""
    concept = _levels().get(code)
    if concept is None:
        raise ValueError(f"'{code}' is not a nivel-riesgo level")
    return next(p["valueInteger"] for p in concept.get("property", [])
                if p["code"] == "rango")


# -- helpers --------------------------------------------------------------------------------

def _check_instrument(questionnaire: dict, response: dict) -> None:
    url, _, version = (response.get("questionnaire") or "").partition("|")
    if url != questionnaire.get("url") or version not in ("", questionnaire.get("version")):
        raise ValueError(f"the response answers {response.get('questionnaire')!r}, not "
                         f"{_canonical(questionnaire)!r}")
    if response.get("status") == "entered-in-error":
        raise ValueError("the response was entered in error")


def _items(items: list, answers: bool = False) -> dict[str, dict]:
    """Items by linkId, nested ones included (in a response, also those under answers)."""
    found: dict[str, dict] = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(_items(item.get("item", []), answers))
        if answers:
            for answer in item.get("answer", []):
                found.update(_items(answer.get("item", []), answers))
    return found


def _checked_answers(items: dict[str, dict], answered: dict) -> tuple:
    """The values of one response item's answers, checked against its Questionnaire item;
    each weighted option's weight is set on the answer (for ``weight()``)."""
    link = answered["linkId"]
    item = items.get(link)
    if item is None:
        raise ValueError(f"the response answers item '{link}', which the instrument lacks")
    given = answered.get("answer", [])
    if len(given) > 1 and not item.get("repeats"):
        raise ValueError(f"item '{link}' takes one answer, {len(given)} given")
    values = []
    for answer in given:
        keys = [k for k in answer if k.startswith("value")]
        if len(keys) != 1:
            raise ValueError(f"an answer to item '{link}' has no value")
        value = answer[keys[0]]
        options = item.get("answerOption")
        if options:
            option = _matching(options, keys[0], value)
            if option is None:
                raise ValueError(f"the answer to item '{link}' is not one of its options")
            if isinstance(value, dict):  # trust only the Questionnaire's weight
                value["extension"] = [e for e in value.get("extension", [])
                                      if e.get("url") != ORDINAL]
                weight = _weight_of(option)
                if weight is not None:
                    value["extension"].append({"url": ORDINAL, "valueDecimal": weight})
                if not value["extension"]:
                    del value["extension"]
        values.append(value.get("code") if keys[0] == "valueCoding" else value)
    return tuple(values)


def _matching(options: list, key: str, value: Any) -> dict | None:
    for option in options:
        expected = option.get(key)
        if key == "valueCoding" and isinstance(expected, dict) and isinstance(value, dict):
            if (expected.get("system"), expected.get("code")) == \
                    (value.get("system"), value.get("code")):
                return option
        elif expected is not None and expected == value:
            return option
    return None


def _weight_of(option: dict) -> int | float | None:
    for extension in option.get("extension", []):
        if extension.get("url") == ORDINAL:
            return extension.get("valueDecimal")
    return None


def _weight(inputs: list) -> list:
    """FHIRPath ``weight()``: the weight on each answer's (or Coding's) ``ordinalValue``."""
    found = []
    for node in inputs:
        coding = node.get("valueCoding", node) if isinstance(node, dict) else None
        if isinstance(coding, dict):
            found += [e["valueDecimal"] for e in coding.get("extension", [])
                      if e.get("url") == ORDINAL and "valueDecimal" in e]
    return found


_OPTIONS = {"userInvocationTable": {"weight": {"fn": _weight, "arity": {0: []}}}}


@cache
def _compiled(expression: str):
    return fhirpathpy.compile(expression, models["r4"], _OPTIONS)


def _variables(questionnaire: dict, resource: dict) -> dict[str, list]:
    values: dict[str, list] = {}
    for extension in questionnaire.get("extension", []):
        if extension.get("url") != VARIABLE:
            continue
        expression = extension.get("valueExpression") or {}
        name, text = expression.get("name"), expression.get("expression")
        if expression.get("language") != "text/fhirpath" or not name or not text:
            raise ValueError(f"the instrument {questionnaire.get('url')} declares a "
                             "variable that is not a named FHIRPath expression")
        try:
            values[name] = _compiled(text)(resource, {"resource": resource, **values})
        except Exception as error:  # noqa: BLE001 - the Questionnaire's rule is at fault
            raise ValueError(f"the instrument's rule '{name}' failed: {error}") from error
    return values


def _single(values: list, name: str) -> Any:
    if len(values) > 1:
        raise ValueError(f"the instrument's rule '{name}' gives {len(values)} values, not one")
    return values[0] if values else None


def _number(value: Any, name: str) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"'{name}' is not a number")
    return int(value) if float(value).is_integer() else float(value)


@cache
def _levels() -> dict[str, dict]:
    return terminology.concepts("nivel-riesgo")


@cache
def _instruments() -> dict[str, dict]:
    return terminology.concepts("instrumento-riesgo")


def _instrument(questionnaire: dict) -> dict:
    for coding in questionnaire.get("code", []):
        if coding.get("system") == INSTRUMENT_SYSTEM and coding.get("code") in _instruments():
            concept = _instruments()[coding["code"]]
            return {"system": INSTRUMENT_SYSTEM, "code": concept["code"],
                    "display": concept["display"]}
    raise ValueError(f"the Questionnaire {questionnaire.get('url')} names no instrument "
                     "of instrumento-riesgo")


def _instrument_levels(instrument: dict) -> list[str]:
    """The levels the instrument reports, lowest first (its ``nivel`` property)."""
    concept = _instruments()[instrument["code"]]
    return [p["valueCoding"]["code"] for p in concept.get("property", [])
            if p["code"] == "nivel"]


def _level_coding(instrument: dict, code: str) -> dict:
    levels = _instrument_levels(instrument)
    if code not in levels:
        raise ValueError(f"{instrument['display']} reports {', '.join(levels)}; "
                         f"'{code}' is not one of its levels")
    return {"system": LEVEL_SYSTEM, "code": code, "display": _levels()[code]["display"]}


def _order(instrument: dict, code: str) -> tuple[int, int]:
    return level_rank(code), _instrument_levels(instrument).index(code)


def _canonical(questionnaire: dict) -> str:
    version = questionnaire.get("version")
    return f"{questionnaire.get('url')}|{version}" if version else questionnaire.get("url")


def _score_text(scored: Scored) -> str:
    return "" if scored.raw_score is None else f" (puntaje {scored.raw_score})"


def _reference(ref: str | dict) -> dict:
    return dict(ref) if isinstance(ref, dict) else {"reference": ref}


def _datetime(when: str | datetime) -> str:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("the time of the assessment needs its UTC offset")
        return when.isoformat(timespec="seconds")
    return when
