"""access_keys / principal_keys: for reads, the keys intersect exactly when decide
permits, on randomly generated care teams, consents, labels and principals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent import (
    Context,
    Principal,
    access_basis,
    access_keys,
    decide,
    keys_valid_until,
    plain_keys,
    principal_keys,
    redacting,
)

from .world import CONF, NOW, RESOURCES

SD = "https://fhir.amparo.cl/StructureDefinition/"
POOL = {  # institution -> its kind in the directory
    "Organization/cdm-1": "centro-de-la-mujer", "Organization/car-1": "carabineros",
    "Organization/car-2": "carabineros", "Organization/fis-1": "fiscalia",
    "Organization/aps-1": "aps", "Organization/pdi-1": "pdi",
    "Organization/tf-1": "tribunal-familia", "Organization/cvs-1": "centro-violencia-sexual",
}
TEAM_REF = "CareTeam/equipo"
TASK = {"resourceType": "Task", "id": "t", "status": "requested", "intent": "order",
        "owner": {"reference": "Organization/aps-1"}}
REFERRAL = {"resourceType": "ServiceRequest", "id": "s", "status": "active", "intent": "order",
            "performer": [{"reference": "Organization/cdm-1"}],
            "authoredOn": "2026-05-01"}
SURVIVOR = {"resourceType": "Patient", "id": "sobreviviente",  # redacted for coordination
            "address": [{"city": "Santiago"}], "telecom": [{"value": "+56 9 0000 0000"}]}
BODIES = [r for r, _ in RESOURCES.values()] + [TASK, REFERRAL, SURVIVOR]
PERIODS = [None, {"start": "2025-01-01", "end": "2027-01-01"},
           {"start": "2024-01-01", "end": "2025-06-30"}, {"start": "2026-09-01"}]
PURPOSE_CODES = ["COC", "TREAT", "THREAT", "HLEGAL", "PUBHLTH", "BTG"]
ACTORS = list(POOL) + [TEAM_REF, "CareTeam/otro", "PractitionerRole/p-1"]
KINDS = sorted(set(POOL.values())) + ["salud-urgencia"]
CLASSES = ["Observation", "DocumentReference", "Patient", "Encounter", "Task",
           SD + "ViolenceIncident"]


def _rarely(strategy: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    """A criterion absent two times in three, so that provisions often apply."""
    return st.one_of(st.just([]), st.just([]), strategy)


def _provision(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        "type": st.sampled_from(["permit", "deny"]),
        "period": st.sampled_from(PERIODS),
        "actor": st.lists(st.sampled_from(ACTORS), max_size=2),
        "kinds": st.lists(st.sampled_from(KINDS), max_size=2),
        "purpose": _rarely(st.lists(st.sampled_from(PURPOSE_CODES), min_size=1, max_size=2)),
        "class": _rarely(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=2)),
        "securityLabel": _rarely(st.lists(st.sampled_from(["R", "V", "N"]), min_size=1,
                                          max_size=1)),
        "action": _rarely(st.lists(st.sampled_from(["access", "collect", "disclose"]),
                                   min_size=1, max_size=1)),
        "dataPeriod": st.sampled_from([None, None, None, {"start": "2026-01-01"},
                                       {"end": "2025-01-01"}]),
        "children": (st.lists(_provision(depth - 1), max_size=2) if depth else st.just([])),
    }
    return st.fixed_dictionaries(fields).map(_build)


def _build(d: dict[str, Any]) -> dict[str, Any]:
    p: dict[str, Any] = {"type": d["type"]}
    if d["period"]:
        p["period"] = d["period"]
    if d["actor"]:
        p["actor"] = [{"reference": {"reference": a}} for a in d["actor"]]
    if d["kinds"]:
        p["extension"] = [{"url": SD + "ext-tipo-institucion",
                           "valueCodeableConcept": {"coding": [{"code": k}]}} for k in d["kinds"]]
    for key in ("purpose", "securityLabel"):
        if d[key]:
            system = CONF if key == "securityLabel" else "x"
            p[key] = [{"system": system, "code": c} for c in d[key]]
    if d["class"]:
        p["class"] = [{"code": c} for c in d["class"]]
    if d["action"]:
        p["action"] = [{"coding": [{"code": c}]} for c in d["action"]]
    if d["dataPeriod"]:
        p["dataPeriod"] = d["dataPeriod"]
    if d["children"]:
        p["provision"] = d["children"]
    return p


consents = st.lists(
    st.tuples(st.sampled_from(["active", "active", "active", "inactive", "rejected"]),
              _provision(2)),
    min_size=1, max_size=3,
).map(lambda items: tuple({"resourceType": "Consent", "id": f"c{i}", "status": s,
                           "provision": p} for i, (s, p) in enumerate(items)))

contexts = st.builds(
    lambda author, team, known, cs: Context(
        author=author, care_team=frozenset(team), care_team_refs=frozenset({TEAM_REF}),
        institutions={i: POOL[i] for i in known}, consents=cs, now=NOW),
    st.sampled_from([None, *POOL]),
    st.sets(st.sampled_from(list(POOL)), min_size=2, max_size=7),
    st.sets(st.sampled_from(list(POOL)), max_size=8),
    st.one_of(st.just(()), consents),  # without any: the mandate alone (its fast path)
)

principals = st.builds(
    lambda inst, outsider_kind, purpose, why: Principal(
        institution=inst, kind=POOL.get(inst, outsider_kind), purpose=purpose,
        scopes=frozenset({"system/*.rs"}), justification=why),
    st.sampled_from([*POOL, "Organization/car-99", "Organization/cvs-99", None]),
    st.sampled_from(KINDS + [None]),
    st.sampled_from(["COC", "COC", "TREAT", "TREAT", "THREAT", "HLEGAL", "HLEGAL", *PURPOSE_CODES,
                     None, "XYZ"]),
    st.sampled_from([None, "riesgo vital"]),
)

resources = st.tuples(st.sampled_from(BODIES), st.sampled_from([None, None, None, "R", "V"])).map(
    lambda pair: _labelled(*pair))


def _labelled(body: dict[str, Any], code: str | None) -> dict[str, Any]:
    out = copy.deepcopy(body)
    if code:
        out.setdefault("meta", {})["security"] = [{"system": CONF, "code": code}]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(principal=principals, resource=resources, context=contexts)
def test_keys_intersect_exactly_when_decide_permits_a_read(
        principal: Principal, resource: dict[str, Any], context: Context) -> None:
    held = principal_keys(principal)
    keyed = access_basis(resource, context)
    met = frozenset(keyed) & held
    assert frozenset(keyed) == access_keys(resource, context)
    decision = decide(principal, "read", resource, context)
    assert decision.permit is bool(met)
    assert decide(principal, "search", resource, context).permit is bool(met)
    if met:  # and the redaction the keys imply is the one the decision obliges
        obliged = [o.elements for o in decision.obligations if o.code == "redact"]
        implied = () if met & plain_keys(held) else redacting(met)
        assert (obliged[0] if obliged else ()) == implied
        # and the basis the trail records holds the rules the decision names
        assert set(decision.basis) <= {rule for key in met for rule in keyed[key]}


def test_the_author_key_needs_no_purpose() -> None:
    ctx = Context(author="Organization/cdm-1", now=NOW)
    p = Principal("Organization/cdm-1", "centro-de-la-mujer", scopes=frozenset({"system/*.rs"}))
    assert access_keys(RESOURCES["INC"][0], ctx) & principal_keys(p) == {"inst:cdm-1"}


def test_break_glass_is_one_key_every_record_but_a_very_restricted_one_carries() -> None:
    ctx = Context(now=NOW)
    assert "btg" in access_keys(RESOURCES["INC"][0], ctx)
    assert "btg" not in access_keys(RESOURCES["ADM"][0], ctx)
    assert "btg" in principal_keys(Principal(purpose="BTG", justification="riesgo vital"))
    assert "btg" not in principal_keys(Principal(purpose="BTG"))


def test_keys_use_only_the_documented_vocabulary() -> None:
    consent = {"resourceType": "Consent", "id": "c", "status": "active",
               "provision": {"type": "permit", "period": {"end": "2027-01-01"}}}
    ctx = Context(author="Organization/car-1", care_team=frozenset(POOL), institutions=POOL,
                  consents=(consent,), now=NOW)
    for key in access_keys(RESOURCES["INC"][0], ctx):
        assert key == "btg" or key.startswith(("inst:", "kind:")), key


def test_keys_are_valid_until_the_next_period_boundary_of_an_active_consent() -> None:
    consent = {"resourceType": "Consent", "id": "c", "status": "active", "provision": {
        "type": "permit", "period": {"start": "2025-01-01", "end": "2027-01-01T00:00:00Z"},
        "provision": [{"type": "deny", "period": {"start": "2026-07-01T00:00:00Z"}}]}}
    ctx = Context(consents=(consent,), now=NOW)
    assert keys_valid_until(ctx) == datetime(2026, 7, 1, tzinfo=UTC)
    assert keys_valid_until(Context(now=NOW)) is None
