"""``EpisodeOfCare/$summary`` over HTTP (server/api/case_summary.py): the case on one screen
(server/timeline/summary.py), on the story of ``story.py``."""

from __future__ import annotations

import orjson
import pytest

from server.store import StoredVersion
from server.timeline import case_summary, entry
from tests.conftest import assert_outcome
from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution
from tests.server.timeline.story import LEVEL, SHELTER, contact, parts


def org(id: str) -> str:
    return f"Organization/{id}"


def test_the_summary_gives_the_case_on_one_screen(live, story):
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    answer = coordinator.get(f"EpisodeOfCare/{story.case}/$summary")
    assert answer.status_code == 200, answer.text
    summary = parts(answer.json())
    assert answer.json()["resourceType"] == "Parameters"
    assert summary["case"] == [{"value": {"reference": f"EpisodeOfCare/{story.case}"}}]
    [risk] = summary["risk"]
    assert risk["level"]["code"] == "alto" and risk["previousLevel"]["code"] == "medio"
    assert risk["trend"] == "up" and risk["date"] == "2025-03-10T09:00:00-03:00"
    assert risk["instrument"]["coding"][0]["code"] == "pauta-cdm"
    assert risk["assessment"] == {"reference": story.ref("alto")}
    [referral] = summary["referral"]  # the completed one is not open
    assert referral["task"] == {"reference": story.ref("waiting task")}
    assert referral["request"] == {"reference": story.ref("referral")}
    # a Casa de Acogida is labelled V (where it is must stay hidden): no name to give
    assert referral["owner"] == {"reference": org(SHELTER)}
    assert referral["status"] == "requested" and referral["overdue"] is True
    assert referral["due"] == "2025-03-05T10:00:00-03:00"
    [measure] = summary["protectionMeasure"]  # the expired one is not active
    assert measure["measure"] == {"reference": story.ref("in force")}
    assert measure["period"] == {"start": "2025-03-20", "end": "2099-12-31"}
    assert measure["detail"] == {"text": "Prohibición de acercarse a la víctima"}
    [alert] = summary["alert"]
    assert alert["flag"] == {"reference": story.ref("alert")}
    assert alert["code"]["coding"][0]["code"] == "reincidencia"
    assert alert["date"] == "2025-03-15T08:00:00-03:00"
    centre_name = coordinator.get(org(WOMENS_CENTRE)).json()["name"]
    assert summary["institution"] == [
        {"organization": {"reference": org(WOMENS_CENTRE), "display": centre_name},
         "role": "lead"},
        {"organization": {"reference": org(POLICE),
                          "display": coordinator.get(org(POLICE)).json()["name"]},
         "role": "member"}]
    assert summary["lastContact"] == [{
        "encounter": {"reference": story.ref("second contact")},
        "date": "2025-03-18T16:00:00-03:00",
        "institution": {"reference": org(WOMENS_CENTRE), "display": centre_name}}]


def test_a_new_case_says_only_what_there_is(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Fuentes"}]})
    met = centre.create(contact(her, WOMENS_CENTRE, "2025-05-01T09:00:00-04:00"))
    case = met["episodeOfCare"][0]["reference"]
    answer = Institution(live, WOMENS_CENTRE, "COC").get(f"{case}/$summary")
    assert answer.status_code == 200, answer.text
    summary = parts(answer.json())
    assert set(summary) == {"case", "institution", "lastContact"}
    assert [i["role"] for i in summary["institution"]] == ["lead"]  # and member: said once
    assert summary["lastContact"][0]["encounter"] == {"reference": f"Encounter/{met['id']}"}


def test_the_summary_takes_no_parameters(live, story):
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    assert_outcome(coordinator.get(f"EpisodeOfCare/{story.case}/$summary", _count="5"), 400)
    assert_outcome(coordinator.post(f"EpisodeOfCare/{story.case}/$summary", {}), 405)


def assessed(id: str, level: str, when: str) -> StoredVersion:
    body = orjson.dumps({
        "resourceType": "RiskAssessment", "id": id, "status": "final",
        "occurrenceDateTime": when, "meta": {"lastUpdated": when},
        "prediction": [{"qualitativeRisk": {"coding": [{"system": LEVEL, "code": level}]}}]})
    return StoredVersion("RiskAssessment", id, 1, when, False, body, "POST")


@pytest.mark.parametrize(("before", "after", "trend"), [
    ("bajo", "alto", "up"), ("alto", "medio", "down"), ("alto", "vital", "same"),
    ("vital-alto", "alto", "same")])
def test_the_trend_compares_ranks_of_the_common_scale(before, after, trend):
    """Pure rule, no server: the ranks are nivel-riesgo's ``rango`` (alto, vital and the
    PUIR's vital-alto share the top one)."""
    case = entry(StoredVersion("EpisodeOfCare", "c", 1, "2025-01-01T00:00:00+00:00", False,
                               b'{"resourceType": "EpisodeOfCare", "id": "c"}', "POST"))
    part = [case, entry(assessed("b", after, "2025-02-01T00:00:00+00:00")),
            entry(assessed("a", before, "2025-01-01T00:00:00+00:00"))]
    [risk] = parts(case_summary(case, part, lambda ref: None, 0))["risk"]
    assert (risk["level"]["code"], risk["previousLevel"]["code"], risk["trend"]) == (
        after, before, trend)
