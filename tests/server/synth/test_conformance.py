"""The synthetic journeys (and so the demo) conform to the implementation guide: every
resource passes the profiles the default (strict) server holds it to, and loaded into a
strict store every DASH answer set is scored into its assessment."""

from __future__ import annotations

from profiles import validate_structure
from server.config import Settings
from server.conformance import conformance, enforced_profiles
from server.loading import initialise, load_demo
from server.synth import journeys


def test_every_synthetic_resource_conforms_to_the_profiles_that_recognise_it():
    checked: dict[str, int] = {}
    for bundle in journeys(60, 7):
        for entry in bundle["entry"]:
            resource = entry["resource"]
            urls = enforced_profiles(resource, "strict")
            problems = [p for p in validate_structure(resource)
                        + conformance().validate(resource, urls) if p.severity == "error"]
            assert problems == [], (entry["fullUrl"], problems)
            if urls:
                checked[resource["resourceType"]] = checked.get(resource["resourceType"], 0) + 1
    # the guide's profiles did judge them: survivors, cases, contacts, risk, referrals...
    assert {"Patient", "EpisodeOfCare", "Encounter", "RiskAssessment", "ServiceRequest",
            "Task", "QuestionnaireResponse", "RelatedPerson", "Consent"} <= set(checked)


def test_the_demo_loads_into_a_strict_store_and_its_dash_answers_are_scored(db_url):
    bundles = list(journeys(12, 3))
    creates = {(e["resource"]["resourceType"], e["request"].get("ifNoneExist"))
               for b in bundles for e in b["entry"] if e["request"]["method"] == "POST"}
    answers = sum(1 for type, _ in creates if type == "QuestionnaireResponse")
    assessments = sum(1 for type, _ in creates if type == "RiskAssessment")
    assert answers > 0 and assessments > 0
    settings = Settings(store=db_url)
    assert settings.profiles == "strict"
    initialise(settings)
    loaded = load_demo(settings, 12, 3)
    assert loaded["QuestionnaireResponse"] == answers
    assert loaded["RiskAssessment"] == assessments + answers
