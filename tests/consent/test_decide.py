"""decide(): the read matrix (institutions x purposes x consent states x labels), search,
writes, scopes and break-the-glass, against the world of ``world.py``."""

from __future__ import annotations

import pytest

from consent import Context, Principal, access_keys, decide, principal_keys

from .world import (
    APS,
    CAR,
    CDM,
    CONSENT_ORDER,
    INSTITUTIONS,
    RESOURCES,
    TEAM,
    context,
    principal,
)

# resource  institution  purpose  expected per consent state, in the order
#   N none, P permit (care team, COC+TREAT), V permit naming label V, X permit with a nested
#   deny of Observation/DocumentReference to carabineros, R revoked (inactive), E expired,
#   D deny-all.   Labels: INC none, SEX R, STM R, ADM V, PAT none.
#   Authors: INC and SEX carabineros, STM and PAT the centro de la mujer, ADM the shelter.
MATRIX = """
INC CAR COC    +++++++
INC CAR TREAT  +++++++
INC CAR THREAT +++++++
INC CAR HLEGAL +++++++
INC CDM COC    -+++---
INC CDM TREAT  ++++++-
INC CDM THREAT -------
INC CDM HLEGAL -------
INC APS COC    -+++---
INC APS TREAT  ++++++-
INC APS THREAT -------
INC APS HLEGAL -------
INC FIS COC    -+++---
INC FIS TREAT  -+++---
INC FIS THREAT -------
INC FIS HLEGAL +++++++
INC PDI COC    -------
INC PDI TREAT  -------
INC PDI THREAT -------
INC PDI HLEGAL -------
SEX CAR COC    +++++++
SEX CAR TREAT  +++++++
SEX CAR THREAT +++++++
SEX CAR HLEGAL +++++++
SEX CDM COC    -+++---
SEX CDM TREAT  -+++---
SEX CDM THREAT -------
SEX CDM HLEGAL -------
SEX APS COC    -+++---
SEX APS TREAT  ++++++-
SEX APS THREAT -------
SEX APS HLEGAL -------
SEX FIS COC    -+++---
SEX FIS TREAT  -+++---
SEX FIS THREAT -------
SEX FIS HLEGAL +++++++
SEX PDI COC    -------
SEX PDI TREAT  -------
SEX PDI THREAT -------
SEX PDI HLEGAL -------
STM CDM COC    +++++++
STM CDM TREAT  +++++++
STM CDM THREAT +++++++
STM CDM HLEGAL +++++++
STM CAR COC    -++----
STM CAR TREAT  -++----
STM CAR THREAT -------
STM CAR HLEGAL -------
STM APS COC    -+++---
STM APS TREAT  -+++---
STM APS THREAT -------
STM APS HLEGAL -------
STM FIS COC    -+++---
STM FIS TREAT  -+++---
STM FIS THREAT -------
STM FIS HLEGAL -------
STM PDI COC    -------
STM PDI TREAT  -------
STM PDI THREAT -------
STM PDI HLEGAL -------
ADM CDM COC    --+----
ADM CDM TREAT  --+----
ADM CDM THREAT -------
ADM CDM HLEGAL -------
ADM CAR COC    --+----
ADM CAR TREAT  --+----
ADM CAR THREAT -------
ADM CAR HLEGAL -------
ADM APS COC    --+----
ADM APS TREAT  --+----
ADM APS THREAT -------
ADM APS HLEGAL -------
ADM FIS COC    --+----
ADM FIS TREAT  --+----
ADM FIS THREAT -------
ADM FIS HLEGAL -------
ADM PDI COC    -------
ADM PDI TREAT  -------
ADM PDI THREAT -------
ADM PDI HLEGAL -------
PAT CDM COC    +++++++
PAT CDM TREAT  +++++++
PAT CDM THREAT +++++++
PAT CDM HLEGAL +++++++
PAT CAR COC    +++++++
PAT CAR TREAT  -+++---
PAT CAR THREAT +++++++
PAT CAR HLEGAL -------
PAT APS COC    +++++++
PAT APS TREAT  ++++++-
PAT APS THREAT -------
PAT APS HLEGAL -------
PAT FIS COC    +++++++
PAT FIS TREAT  -+++---
PAT FIS THREAT -------
PAT FIS HLEGAL +++++++
PAT PDI COC    -------
PAT PDI TREAT  -------
PAT PDI THREAT -------
PAT PDI HLEGAL -------
"""


def _cases() -> list[tuple[str, str, str, str, bool]]:
    rows = []
    for line in MATRIX.strip().splitlines():
        resource, inst, purpose, expected = line.split()
        for state, sign in zip(CONSENT_ORDER, expected, strict=True):
            rows.append((resource, inst, purpose, state, sign == "+"))
    return rows


CASES = _cases()


def test_the_matrix_has_at_least_two_hundred_cases() -> None:
    assert len(CASES) >= 200


@pytest.mark.parametrize(("resource", "inst", "purpose", "state", "expected"), CASES)
def test_read_decision_matches_the_matrix(resource: str, inst: str, purpose: str, state: str,
                                          expected: bool) -> None:
    ctx = context(resource, state)
    p = principal(inst, purpose)
    decision = decide(p, "read", RESOURCES[resource][0], ctx)
    assert decision.permit is expected, decision
    assert decision.basis and decision.reasons
    assert decide(p, "search", RESOURCES[resource][0], ctx).permit is expected
    assert bool(access_keys(RESOURCES[resource][0], ctx) & principal_keys(p)) is expected


def test_a_deny_is_a_value_naming_the_consent_that_decided() -> None:
    decision = decide(principal("CAR", "COC"), "read", RESOURCES["STM"][0], context("STM", "X"))
    assert not decision.permit
    assert "Consent/excepcion" in decision.basis


def test_a_mandate_permit_names_its_policy_grant() -> None:
    decision = decide(principal("FIS", "HLEGAL"), "read", RESOURCES["SEX"][0],
                      context("SEX", "D"))
    assert decision.permit
    assert decision.basis == ("policy:criminal-justice#prosecutor-investigation",)


def test_care_team_coordination_sees_the_survivor_without_address_or_phone() -> None:
    decision = decide(principal("APS", "COC"), "read", RESOURCES["PAT"][0], context("PAT", "N"))
    assert decision.permit
    assert [o.code for o in decision.obligations] == ["redact"]
    assert set(decision.obligations[0].elements) == {"address", "telecom", "contact"}


def test_her_own_permit_lifts_the_mandates_redaction() -> None:
    decision = decide(principal("APS", "COC"), "read", RESOURCES["PAT"][0], context("PAT", "P"))
    assert decision.permit and decision.obligations == ()


def test_a_consent_for_a_careteam_reference_the_case_does_not_know_grants_nothing() -> None:
    ctx = context("INC", "P", care_team_refs=frozenset({"CareTeam/otro"}))
    assert not decide(principal("CDM", "COC"), "read", RESOURCES["INC"][0], ctx).permit


def test_denying_one_institution_hides_from_unknown_institutions_of_its_kind() -> None:
    """Her consent permits COC to every carabineros unit but denies one that is in the
    case: a unit the case does not know loses what the kind alone gave it."""
    kind_ext = {"url": "https://fhir.amparo.cl/StructureDefinition/ext-tipo-institucion",
                "valueCodeableConcept": {"coding": [{"code": "carabineros"}]}}
    consent = {"resourceType": "Consent", "id": "c", "status": "active", "provision": {
        "type": "permit", "extension": [kind_ext],
        "purpose": [{"code": "COC"}], "period": {"end": "2030-01-01"}}}
    other = Principal("Organization/carabineros-5101", "carabineros", purpose="COC",
                      scopes=frozenset({"system/*.rs"}))
    resource = RESOURCES["INC"][0]
    ctx = Context(author=APS, care_team=TEAM, institutions={CAR: "carabineros"},
                  consents=(consent,))
    assert decide(other, "read", resource, ctx).permit
    deny = {"type": "deny", "actor": [{"reference": {"reference": CAR}}]}
    consent["provision"]["provision"] = [deny]
    assert not decide(principal("CAR", "COC"), "read", resource, ctx).permit
    assert not decide(other, "read", resource, ctx).permit
    assert not access_keys(resource, ctx) & principal_keys(other)


# -- scopes --------------------------------------------------------------------------------
@pytest.mark.parametrize(("scopes", "action", "expected"), [
    ({"system/*.rs"}, "read", True),
    ({"system/Observation.rs"}, "read", True),
    ({"system/Patient.rs"}, "read", False),
    ({"system/Observation.s"}, "read", False),
    ({"system/Observation.s"}, "search", True),
    ({"system/*.read"}, "search", True),
    ({"system/*.write"}, "read", False),
    (set(), "read", False),
    ({"patient/*.rs"}, "read", False),
    ({"system/Observation.rs?category=x"}, "read", False),
])
def test_scopes_gate_every_read_before_any_other_layer(scopes: set[str], action: str,
                                                       expected: bool) -> None:
    p = principal("CAR", "COC", scopes=frozenset(scopes))  # CAR authored INC
    decision = decide(p, action, RESOURCES["INC"][0], context("INC", "N"))
    assert decision.permit is expected
    if not expected:
        assert decision.basis == ("scope",)


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        decide(principal("CAR", "COC"), "peek", RESOURCES["INC"][0], context("INC", "N"))


# -- writes ---------------------------------------------------------------------------------
TASK = {"resourceType": "Task", "id": "t", "status": "requested", "intent": "order",
        "owner": {"reference": APS}, "requester": {"reference": CAR}}
WRITE_ALL = frozenset({"system/*.cruds"})
WRITES = [
    # inst, purpose, scopes, action, resource, author, expected
    ("CAR", "COC", WRITE_ALL, "update", "INC", CAR, True),
    ("CAR", "COC", WRITE_ALL, "delete", "INC", CAR, True),
    ("CAR", "COC", frozenset({"system/*.write"}), "patch", "INC", CAR, True),
    ("CAR", "COC", frozenset({"system/*.read"}), "update", "INC", CAR, False),
    ("CAR", "COC", frozenset({"system/Observation.rs"}), "update", "INC", CAR, False),
    ("CDM", "COC", WRITE_ALL, "update", "INC", CAR, False),
    ("FIS", "HLEGAL", WRITE_ALL, "delete", "SEX", CAR, False),
    ("CDM", "TREAT", WRITE_ALL, "create", "STM", None, True),
    ("CDM", "TREAT", WRITE_ALL, "create", "STM", CDM, True),
    ("CDM", "TREAT", WRITE_ALL, "create", "STM", CAR, False),
    ("APS", "COC", WRITE_ALL, "update", "TASK", CAR, True),  # owner updates its task
    ("APS", "COC", WRITE_ALL, "delete", "TASK", CAR, False),
    ("CDM", "COC", WRITE_ALL, "update", "TASK", CAR, False),  # member, not the owner
]


@pytest.mark.parametrize(("inst", "purpose", "scopes", "action", "resource", "author",
                          "expected"), WRITES)
def test_writes_belong_to_the_author_and_to_grants_that_list_update(
        inst: str, purpose: str, scopes: frozenset[str], action: str, resource: str,
        author: str | None, expected: bool) -> None:
    body = TASK if resource == "TASK" else RESOURCES[resource][0]
    ctx = Context(author=author, care_team=TEAM, institutions={})
    assert decide(principal(inst, purpose, scopes), action, body, ctx).permit is expected


def test_a_token_without_an_institution_writes_nothing() -> None:
    p = Principal(client_id="x", scopes=WRITE_ALL)
    assert not decide(p, "create", RESOURCES["INC"][0], Context()).permit


# -- break-the-glass ---------------------------------------------------------------------------
def test_break_glass_with_a_justification_reads_with_audit_and_notification() -> None:
    p = principal("PDI", "BTG", justification="Riesgo vital: amenaza con arma en curso")
    decision = decide(p, "read", RESOURCES["INC"][0], context("INC", "D"))
    assert decision.permit and decision.basis == ("break-glass",)
    assert [o.code for o in decision.obligations] == ["audit", "notify-auditors"]


def test_break_glass_without_a_justification_is_denied() -> None:
    p = principal("PDI", "BTG", justification="  ")
    assert not decide(p, "read", RESOURCES["INC"][0], context("INC", "N")).permit


def test_break_glass_never_opens_a_very_restricted_record() -> None:
    p = principal("PDI", "BTG", justification="Riesgo vital")
    assert not decide(p, "read", RESOURCES["ADM"][0], context("ADM", "V")).permit


def test_break_glass_does_not_write() -> None:
    p = principal("PDI", "BTG", frozenset({"system/*.cruds"}), justification="Riesgo vital")
    assert not decide(p, "update", RESOURCES["INC"][0], context("INC", "N")).permit


def test_every_matrix_institution_is_known_to_the_world() -> None:
    assert {row[1] for row in CASES} == set(INSTITUTIONS)
