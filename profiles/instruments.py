"""The risk instruments the platform knows, as RiskInstrument Questionnaires, and sample
RiskAnswers responses to them (``profiles/ig/instruments/``, see its README).

- ``Questionnaire-<id>.json``: one instrument version each, e.g. ``dash-2009`` (the
  SafeLives DASH checklist, scored by the platform from the rules it declares) and
  ``puir`` (the police and prosecutors' PUIR: only the level and score it reports);
- ``QuestionnaireResponse-<name>.json``: a sample completed response per instrument.

Read with ``importlib.resources`` and loaded once; callers get fresh copies.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from profiles.ig import load_folder

__all__ = ["questionnaire", "questionnaires", "sample_responses"]

Resource = dict[str, Any]


@cache
def _questionnaires() -> tuple[Resource, ...]:
    return load_folder("instruments", "Questionnaire-")


@cache
def _responses() -> tuple[Resource, ...]:
    return load_folder("instruments", "QuestionnaireResponse-")


def questionnaires() -> list[Resource]:
    """Every instrument Questionnaire, by file name."""
    return copy.deepcopy(list(_questionnaires()))


def questionnaire(key: str) -> Resource:
    """The instrument Questionnaire with this id (``dash-2009``), canonical URL
    (``https://fhir.amparo.cl/Questionnaire/dash``, the one version we hold) or
    ``url|version``. Raises ``LookupError`` for an unknown one."""
    url, _, version = key.partition("|")
    for found in _questionnaires():
        if found["id"] == key or (found["url"] == url
                                  and version in ("", found.get("version"))):
            return copy.deepcopy(found)
    raise LookupError(f"no risk instrument Questionnaire {key!r}")


def sample_responses() -> list[Resource]:
    """The sample QuestionnaireResponses (one completed response per instrument)."""
    return copy.deepcopy(list(_responses()))
