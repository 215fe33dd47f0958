"""The AuditEvent of one interaction, after IHE Basic Audit Log Patterns (BALP):
https://profiles.ihe.net/ITI/BALP/ (RESTful read, query, create, update, delete).

Who: the client system (BALP's source role), its institution, and the staff member the
institution's system asserted (if any), requestor, with the decision's basis in
``agent.policy`` (the policy grant or Consent that permitted or denied); the server is
the destination and the observer. What: each resource touched (``entity.what``), the
survivor concerned (role Patient), and a search's query (base64, as BALP says: the
query string can carry a RUN, so it never appears in plain text). Why:
``purposeOfEvent``, break-the-glass included with its justification. Outcome: 0 for a
permitted interaction, 4 for a denied one.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

__all__ = ["Interaction", "audit_event"]

AUDIT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CLIENT_ID = "https://fhir.amparo.cl/sid/cliente"
USER_ID = "https://fhir.amparo.cl/sid/usuario"
SERVER = "Amparo"
#: restful-interaction code -> AuditEvent.action (C create, R read, U update, D delete,
#: E execute: searches, bundles and operations, as BALP records a query).
ACTIONS = {"read": "R", "vread": "R", "history-instance": "R", "history-type": "R",
           "history-system": "R", "search-type": "E", "search-system": "E",
           "create": "C", "update": "U", "patch": "U", "delete": "D",
           "transaction": "E", "batch": "E", "operation": "E", "capabilities": "E"}


@dataclass(frozen=True)
class Interaction:
    """What was asked: the restful-interaction ``code``, the resources touched
    (``Type/id``), the survivor they concern, a search's query string."""

    code: str
    resources: tuple[str, ...] = ()
    patient: str | None = None
    query: str | None = None


def audit_event(interaction: Interaction, *, recorded: str, permitted: bool,
                client_id: str | None, institution: str | None, user: str | None = None,
                purpose: str | None = None, justification: str | None = None,
                basis: tuple[str, ...] = ()) -> dict[str, Any]:
    """The AuditEvent of ``interaction``; ``basis`` names what decided (policy grants as
    ``policy:<file>#<grant>``, ``Consent/<id>``...)."""
    if interaction.code not in ACTIONS:
        raise ValueError(f"'{interaction.code}' is not a FHIR restful interaction")
    requestor: dict[str, Any] = {
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"identifier": {"system": CLIENT_ID, "value": client_id or "anónimo"}},
        "requestor": user is None,
    }
    if basis:
        requestor["policy"] = list(basis)
    agents = [requestor]
    if institution:
        agents.append({"type": {"coding": [{"system": PARTICIPATION, "code": "PRF",
                                            "display": "performer"}]},
                       "who": {"reference": institution}, "requestor": False})
    if user:
        agents.append({"type": {"coding": [{"system": PARTICIPATION, "code": "IRCP",
                                            "display": "information recipient"}]},
                       "who": {"identifier": {"system": USER_ID, "value": user}},
                       "requestor": True})
    agents.append({"type": {"coding": [{"system": DCM, "code": "110152",
                                        "display": "Destination Role ID"}]},
                   "who": {"display": SERVER}, "requestor": False})
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": {"system": AUDIT_TYPE, "code": "rest", "display": "Restful Operation"},
        "subtype": [{"system": INTERACTION, "code": interaction.code}],
        "action": ACTIONS[interaction.code],
        "recorded": recorded,
        "outcome": "0" if permitted else "4",
    }
    if not permitted:
        event["outcomeDesc"] = "denegado"
    if purpose:
        event["purposeOfEvent"] = [{"coding": [{"system": PURPOSE, "code": purpose}]}]
        if justification:
            event["purposeOfEvent"][0]["text"] = justification
    event["agent"] = agents
    event["source"] = {"observer": {"display": SERVER},
                       "type": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                 "security-source-type", "code": "4",
                                 "display": "Application Server"}]}
    entities = []
    if interaction.patient:
        entities.append(_entity(interaction.patient, "1", "1", "Patient"))
    entities += [_entity(ref, "2", "4", "Domain Resource")
                 for ref in interaction.resources if ref != interaction.patient]
    if interaction.query is not None:
        entities.append({"type": {"system": ENTITY_TYPE, "code": "2"},
                         "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                         "query": base64.b64encode(interaction.query.encode()).decode()})
    if entities:
        event["entity"] = entities
    return event


def _entity(reference: str, type: str, role: str, display: str) -> dict[str, Any]:
    return {"what": {"reference": reference},
            "type": {"system": ENTITY_TYPE, "code": type},
            "role": {"system": OBJECT_ROLE, "code": role, "display": display}}
