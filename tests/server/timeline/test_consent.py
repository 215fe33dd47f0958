"""What the consent gate lets each institution see of the timeline and the summary: its
part only, never a count or a hint of the rest; a hidden survivor or case answers exactly
like a missing one (``seen`` compares the two answers with ids masked)."""

from __future__ import annotations

import pytest

from tests.server.access.institutions import (
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
    missing_id,
    seen,
)
from tests.server.timeline.story import names, parts


def test_a_team_member_sees_only_its_part_of_the_case(live, story):
    """Carabineros, on her team, coordinating (COC): the case, its contacts, referrals,
    measures, alerts and assessments, but not the centre's incident (care record, TREAT)
    nor the assessment labelled very restricted (V)."""
    police = Institution(live, POLICE, "COC")
    answer = police.get(f"EpisodeOfCare/{story.case}/$everything", _count=100)
    assert answer.status_code == 200, answer.text
    found = names(story, answer.json())
    assert "incident" not in found and "alto" not in found
    assert answer.json()["total"] == len(found) == 12
    assert found[:5] == ["case", "expired", "first contact", "medio", "referral"]


def test_a_purpose_that_does_not_see_the_case_reads_her_part_only(live, story):
    """Carabineros protecting her (THREAT) see her, the measures they enforce, the risk
    level and their own contact; not the case (coordination, COC)."""
    police = Institution(live, POLICE, "THREAT")
    found = names(story, police.get(f"Patient/{story.her['id']}/$everything",
                                    _count=100).json())
    assert found == ["her", "expired", "medio", "police contact", "in force"]
    assert police.get(f"EpisodeOfCare/{story.case}/$everything").status_code == 404
    assert police.get(f"EpisodeOfCare/{story.case}/$summary").status_code == 404


@pytest.mark.parametrize("path", ["Patient/{her}/$everything", "EpisodeOfCare/{case}/$everything",
                                  "EpisodeOfCare/{case}/$summary"])
def test_a_hidden_survivor_or_case_answers_like_a_missing_one(live, story, path):
    prosecutor = Institution(live, PROSECUTOR, "HLEGAL")  # never on her case
    hidden = prosecutor.get(path.format(her=story.her["id"], case=story.case))
    missing = prosecutor.get(path.format(her=missing_id(), case=missing_id()))
    assert hidden.status_code == 404
    assert seen(hidden) == seen(missing)


def test_the_summary_says_only_what_the_caller_sees(live, story):
    """For Carabineros the current level is the one they see (medio): the higher one they
    may not see gives no trend, no previous level, no count."""
    coordinator = parts(Institution(live, WOMENS_CENTRE, "COC").get(
        f"EpisodeOfCare/{story.case}/$summary").json())
    police = parts(Institution(live, POLICE, "COC").get(
        f"EpisodeOfCare/{story.case}/$summary").json())
    [risk] = police["risk"]
    assert risk["level"]["code"] == "medio" and set(risk) == {
        "level", "date", "instrument", "assessment"}
    assert risk["assessment"] == {"reference": story.ref("medio")}
    assert {k: v for k, v in police.items() if k != "risk"} == {
        k: v for k, v in coordinator.items() if k != "risk"}
