"""``PlanDefinition/$apply`` over HTTP (server/api/plan_apply.py): whichever institution
she comes to first, the package gives her the same offered services, in a CasePlan that
names her case and conforms to the guide; the plan is returned, not stored; bad inputs
are 4xx OperationOutcomes and a survivor hidden from the caller is a 404 like a missing one."""

from __future__ import annotations

import pytest

from profiles import ig
from server.cases import WORKFLOW_EPISODE
from server.plans import CASE_PLAN_PROFILE, PACKAGE_URL, minimum_package
from tests.conftest import assert_outcome
from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    PROSECUTOR,
    WOMENS_CENTRE,
    Institution,
    missing_id,
    seen,
)
from tests.server.plans.conftest import applied, met, parameters

SERVICES = [a["code"][0]["coding"][0]["code"] for a in minimum_package()["action"]]
#: the doors she may come in by: (institution, the purpose its staff work under)
ENTRY_POINTS = [(WOMENS_CENTRE, "TREAT"), (HOTLINE, "TREAT"), (POLICE, "THREAT")]


def services(plan: dict) -> list[tuple[str, str]]:
    return [(a["detail"]["code"]["coding"][0]["code"], a["detail"]["status"])
            for a in plan["activity"]]


def case_of(institution: Institution, her: dict) -> dict:
    [case] = [e["resource"] for e in institution.get(
        "EpisodeOfCare", patient=f"Patient/{her['id']}").json()["entry"]]
    return case


def test_every_entry_point_offers_her_the_same_services_in_a_plan_of_her_case(live):
    plans = []
    for org, purpose in ENTRY_POINTS:
        institution = Institution(live, org, purpose)
        her = met(institution, org, f"Puerta {org}")
        plan = applied(institution, her)
        case = case_of(Institution(live, org, "COC"), her)
        assert plan["subject"] == {"reference": f"Patient/{her['id']}"}
        assert plan["author"] == {"reference": f"Organization/{org}"}
        assert plan["extension"] == [{"url": WORKFLOW_EPISODE, "valueReference": {
            "reference": f"EpisodeOfCare/{case['id']}"}}]
        assert plan["careTeam"] == [{"reference": case["team"][0]["reference"]}]
        assert plan["instantiatesCanonical"] == [PACKAGE_URL]
        assert plan["meta"]["profile"] == [CASE_PLAN_PROFILE]
        assert (plan["status"], plan["intent"]) == ("active", "plan")
        assert "id" not in plan  # returned, not stored
        plans.append(plan)
    assert all(services(p) == [(s, "not-started") for s in SERVICES] for p in plans)
    assert plans[0]["activity"] == plans[1]["activity"] == plans[2]["activity"]
    assert Institution(live, WOMENS_CENTRE, "COC").total("CarePlan") == 0


def test_the_plan_conforms_to_case_plan_and_is_stored_by_a_plain_create(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Conforme")
    plan = applied(centre, her)
    outcome = centre.post(f"CarePlan/$validate?profile={CASE_PLAN_PROFILE}", plan)
    assert outcome.status_code == 200, outcome.text
    assert [i for i in outcome.json()["issue"] if i["severity"] == "error"] == []
    case = f"EpisodeOfCare/{case_of(Institution(live, WOMENS_CENTRE, 'COC'), her)['id']}"
    once = {"If-None-Exist": f"caso={case}"}
    stored = centre.post("CarePlan", plan, once)
    assert stored.status_code == 201, stored.text
    again = centre.post("CarePlan", applied(centre, her), once)  # a second intake
    assert again.status_code == 200 and again.json()["id"] == stored.json()["id"]
    assert centre.ids("CarePlan", caso=case) == {stored.json()["id"]}


def test_type_and_instance_level_and_get_give_the_same_plan(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Niveles")
    subject = f"Patient/{her['id']}"
    by_id = applied(centre, her)
    by_type = applied(centre, her, "PlanDefinition")
    given = centre.post("PlanDefinition/$apply", {"resourceType": "Parameters", "parameter": [
        {"name": "planDefinition", "resource": minimum_package()},
        {"name": "subject", "valueReference": {"reference": f"{live.base}/{subject}"}}]})
    assert given.status_code == 200, given.text
    by_get = centre.get("PlanDefinition/paquete-minimo/$apply", subject=subject)
    assert by_get.status_code == 200, by_get.text
    by_type_get = centre.get("PlanDefinition/$apply", subject=subject, userLanguage="es-CL")
    assert by_type_get.status_code == 200, by_type_get.text
    for plan in (by_type, given.json(), by_get.json(), by_type_get.json()):
        assert plan["activity"] == by_id["activity"]
        assert plan["extension"] == by_id["extension"]


def test_encounter_practitioner_and_organization_are_applied_or_refused(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Contexto")
    other = met(centre, WOMENS_CENTRE, "Otra")
    [contact] = [e["resource"] for e in centre.get(
        "Encounter", subject=f"Patient/{her['id']}").json()["entry"]]
    subject = f"Patient/{her['id']}"
    plan = centre.post("PlanDefinition/paquete-minimo/$apply", parameters(
        subject=subject, encounter=f"Encounter/{contact['id']}",
        practitioner="PractitionerRole/trabajadora-social",
        organization=f"Organization/{WOMENS_CENTRE}")).json()
    assert plan["encounter"] == {"reference": f"Encounter/{contact['id']}"}
    assert plan["contributor"] == [{"reference": "PractitionerRole/trabajadora-social"}]
    assert_outcome(centre.post("PlanDefinition/paquete-minimo/$apply", parameters(
        subject=f"Patient/{other['id']}", encounter=f"Encounter/{contact['id']}")),
        422, "business-rule")
    assert_outcome(centre.post("PlanDefinition/paquete-minimo/$apply", parameters(
        subject=subject, organization=f"Organization/{POLICE}")), 403, "forbidden")


def test_without_an_open_case_the_answer_says_to_record_her_contact_first(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "SinCaso"}]})
    body = assert_outcome(centre.post("PlanDefinition/paquete-minimo/$apply", parameters(
        subject=f"Patient/{her['id']}")), 422, "business-rule")
    assert "caso abierto" in body["issue"][0]["diagnostics"]


def test_a_hidden_survivor_is_answered_like_a_missing_one(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Oculta")
    prosecutor = Institution(live, PROSECUTOR, "HLEGAL")  # never on her case
    hidden = prosecutor.post("PlanDefinition/paquete-minimo/$apply",
                             parameters(subject=f"Patient/{her['id']}"))
    missing = prosecutor.post("PlanDefinition/paquete-minimo/$apply",
                              parameters(subject=f"Patient/{missing_id()}"))
    assert_outcome(hidden, 404, "not-found")
    assert seen(hidden) == seen(missing)


@pytest.mark.parametrize("body, status", [
    (parameters(), 400),  # no subject
    ({"resourceType": "Parameters", "parameter": {"name": "subject"}}, 400),
    ({"resourceType": "Parameters", "parameter": [{"name": "subject", "valueInteger": 1}]},
     400),
    (parameters(subject="Group/abc"), 400),
    (parameters(subject="Patient/a", patient="Patient/a"), 400),  # no such parameter
    ({"resourceType": "Parameters", "parameter": [
        {"name": "subject", "valueString": "Patient/a"},
        {"name": "subject", "valueString": "Patient/b"}]}, 400),  # one survivor at a time
    ({"resourceType": "Patient"}, 400),  # not a Parameters
])
def test_malformed_inputs_are_refused_with_an_operation_outcome(live, body, status):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    assert_outcome(centre.post("PlanDefinition/paquete-minimo/$apply", body), status)


def test_a_definition_that_is_not_the_package_is_refused(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Otra definicion")
    twice = next(r for n, r, _ in ig.examples()
                 if n == "MinimumServicePackage-invalid-service-twice")
    body = assert_outcome(centre.post("PlanDefinition/$apply", {
        "resourceType": "Parameters", "parameter": [
            {"name": "planDefinition", "resource": twice},
            {"name": "subject", "valueString": f"Patient/{her['id']}"}]}), 422)
    assert body["issue"][0]["expression"] == ["Parameters.parameter[0].resource"]
    assert_outcome(centre.post("PlanDefinition/paquete-minimo/$apply", {
        "resourceType": "Parameters", "parameter": [
            {"name": "planDefinition", "resource": minimum_package()},
            {"name": "subject", "valueString": f"Patient/{her['id']}"}]}), 400)
    assert_outcome(centre.post("PlanDefinition/nada/$apply",
                               parameters(subject=f"Patient/{her['id']}")), 404)


def test_only_the_platform_package_carries_its_canonical_url(live):
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = met(centre, WOMENS_CENTRE, "Copia")
    less = {**minimum_package(), "id": "paquete-recortado"}
    less["action"] = less["action"][:2]  # conforms, and offers two services
    given = centre.post("PlanDefinition/$apply", {"resourceType": "Parameters", "parameter": [
        {"name": "planDefinition", "resource": less},
        {"name": "subject", "valueString": f"Patient/{her['id']}"}]})
    assert_outcome(given, 422, "business-rule")
    assert centre.put("PlanDefinition/paquete-recortado", less).status_code == 201
    assert_outcome(centre.post("PlanDefinition/paquete-recortado/$apply", parameters(
        subject=f"Patient/{her['id']}")), 422, "business-rule")
    own = {**less, "url": "https://centro.example/PlanDefinition/recortado"}
    assert [a["detail"]["code"]["coding"][0]["code"] for a in centre.post(
        "PlanDefinition/$apply", {"resourceType": "Parameters", "parameter": [
            {"name": "planDefinition", "resource": own},
            {"name": "subject", "valueString": f"Patient/{her['id']}"}]}).json()[
        "activity"]] == ["apoyo-psicosocial", "asesoria-juridica"]


def test_the_capability_statement_lists_apply_on_plan_definition(live):
    rest = live.get("metadata").json()["rest"][0]
    [plan_definition] = [r for r in rest["resource"] if r["type"] == "PlanDefinition"]
    assert {"name": "apply", "definition":
            "http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply"} in \
        plan_definition["operation"]
