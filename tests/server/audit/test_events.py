"""The AuditEvent of an interaction (server/audit/events.py), after IHE BALP."""

from __future__ import annotations

import base64
import json

import pytest

from profiles import validate_structure
from server.audit import Interaction, audit_event
from server.audit.events import ACTIONS

WHO = {"client_id": "cliente-fiscalia", "institution": "Organization/fiscalia-centro-norte"}


def event(code: str = "read", **kwargs) -> dict:
    interaction = kwargs.pop("interaction", Interaction(code, ("Observation/1",), "Patient/9"))
    return audit_event(interaction, recorded="2026-11-28T10:00:00-03:00",
                       permitted=kwargs.pop("permitted", True), **{**WHO, **kwargs})


@pytest.mark.parametrize("code", sorted(ACTIONS))
def test_every_interaction_gives_a_valid_r4b_audit_event(code):
    assert validate_structure(event(code)) == []
    assert event(code)["action"] == ACTIONS[code]


def test_a_permitted_and_a_denied_interaction_differ_in_outcome():
    assert event()["outcome"] == "0"
    denied = event(permitted=False)
    assert (denied["outcome"], denied["outcomeDesc"]) == ("4", "denegado")


def test_who_names_the_client_its_institution_and_the_asserted_user():
    recorded = event(user="rut-12345678-5", purpose="HLEGAL",
                     basis=("policy:criminal-justice#fiscalia", "Consent/7"))
    client, institution, user, server = recorded["agent"]
    assert client["who"]["identifier"]["value"] == "cliente-fiscalia"
    assert client["policy"] == ["policy:criminal-justice#fiscalia", "Consent/7"]
    assert institution["who"] == {"reference": "Organization/fiscalia-centro-norte"}
    assert user["who"]["identifier"]["value"] == "rut-12345678-5" and user["requestor"]
    assert not client["requestor"] and server["who"]["display"] == "Amparo"
    assert recorded["purposeOfEvent"][0]["coding"][0]["code"] == "HLEGAL"


def test_break_glass_keeps_its_justification():
    recorded = event(purpose="BTG", justification="Riesgo vital: amenaza con arma hoy")
    assert recorded["purposeOfEvent"][0]["text"] == "Riesgo vital: amenaza con arma hoy"


def test_the_survivor_is_the_patient_entity_and_each_resource_a_domain_resource():
    roles = {e["what"]["reference"]: e["role"]["code"] for e in event()["entity"]}
    assert roles == {"Patient/9": "1", "Observation/1": "4"}


def test_a_query_is_recorded_in_base64_never_in_plain_text():
    query = "identifier=http://regcivil.cl/Validacion/RUN|12345678-5"
    recorded = event("search-type", interaction=Interaction("search-type", query=query))
    (entity,) = recorded["entity"]
    assert base64.b64decode(entity["query"]).decode() == query
    assert "12345678" not in json.dumps(recorded)


def test_an_unknown_interaction_is_refused():
    with pytest.raises(ValueError, match="restful interaction"):
        event("peek")
