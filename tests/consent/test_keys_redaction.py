"""Redaction in the access keys: a permit that obliges a redaction gives the ``|redact:``
variant of its key, a caller holds every variant of its own, and ``redacting`` names the
elements to remove when only variants meet (``consent/_keys.py``)."""

from __future__ import annotations

import consent
from consent import Context, Principal

CENTRE, POLICE = "Organization/centro", "Organization/carabineros"
HER = {"resourceType": "Patient", "id": "p1", "address": [{"city": "Santiago"}]}
CASE = Context(author=CENTRE, care_team=frozenset({CENTRE, POLICE}),
               institutions={CENTRE: "centro-de-la-mujer", POLICE: "carabineros"})


def caller(purpose: str) -> Principal:
    return Principal(institution=POLICE, kind="carabineros", purpose=purpose,
                     scopes=frozenset({"system/*.rs"}))


def test_coordination_meets_her_patient_only_on_a_redacting_variant():
    keys = consent.access_keys(HER, CASE)
    held = consent.principal_keys(caller("COC"))
    met = keys & held
    assert met and not met & consent.plain_keys(held)
    assert consent.redacting(met) == ("address", "contact", "telecom")
    decision = consent.decide(caller("COC"), "read", HER, CASE)
    assert decision.permit and decision.obligations[0].elements == consent.redacting(met)


def test_a_permit_without_redaction_meets_on_a_plain_key():
    keys = consent.access_keys(HER, CASE)
    held = consent.principal_keys(caller("THREAT"))
    assert keys & consent.plain_keys(held)
    assert not consent.decide(caller("THREAT"), "read", HER, CASE).obligations


def test_her_consent_permit_lifts_the_redaction():
    permit = {"resourceType": "Consent", "status": "active",
              "provision": {"type": "permit", "actor": [{"reference": {"reference": POLICE}}]}}
    context = Context(author=CASE.author, care_team=CASE.care_team,
                      institutions=CASE.institutions, consents=(permit,))
    keys = consent.access_keys(HER, context)
    assert keys & consent.plain_keys(consent.principal_keys(caller("COC")))


def test_with_consents_that_do_not_concern_her_coordinator_the_redaction_stays():
    unrelated = {"resourceType": "Consent", "status": "active",
                 "provision": {"type": "deny",
                               "actor": [{"reference": {"reference": "Organization/otra"}}]}}
    context = Context(author=CASE.author, care_team=CASE.care_team,
                      institutions=CASE.institutions, consents=(unrelated,))
    held = consent.principal_keys(caller("COC"))
    met = consent.access_keys(HER, context) & held
    assert met and not met & consent.plain_keys(held)
    assert consent.redacting(met) == ("address", "contact", "telecom")
