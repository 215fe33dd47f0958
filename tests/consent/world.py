"""A small case world shared by the consent tests: five institutions, five resources and
seven consent states, written out as data."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from consent import Context, Principal

SD = "https://fhir.amparo.cl/StructureDefinition/"
CS = "https://fhir.amparo.cl/CodeSystem/"
CONF = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TEAM_REF = "CareTeam/equipo-caso"
READ_ALL = frozenset({"system/*.rs"})

CDM = "Organization/centro-de-la-mujer-13110"
CAR = "Organization/carabineros-13110"
APS = "Organization/aps-13110"
FIS = "Organization/fiscalia-13110"
PDI = "Organization/pdi-13101"  # not in the care team
SHELTER = "Organization/casa-de-acogida-13101"  # not in the care team
INSTITUTIONS = {"CDM": (CDM, "centro-de-la-mujer"), "CAR": (CAR, "carabineros"),
                "APS": (APS, "aps"), "FIS": (FIS, "fiscalia"), "PDI": (PDI, "pdi")}
KIND_OF = {ref: kind for ref, kind in INSTITUTIONS.values()} | {SHELTER: "casa-de-acogida"}
TEAM = frozenset({CDM, CAR, APS, FIS})


def label(code: str) -> dict[str, Any]:
    return {"security": [{"system": CONF, "code": code}]}


def incident(form: str, rid: str, labelled: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"profile": [SD + "ViolenceIncident"]}
    if labelled:
        meta |= label(labelled)
    return {
        "resourceType": "Observation", "id": rid, "meta": meta, "status": "final",
        "code": {"coding": [{"system": CS + "observacion-vcm", "code": "incidente-violencia"}]},
        "subject": {"reference": "Patient/sobreviviente"},
        "effectiveDateTime": "2026-05-02T23:40:00-04:00",
        "component": [{"code": {"coding": [{"system": CS + "formas-violencia", "code": form}]},
                       "valueBoolean": True}],
    }


RESOURCES: dict[str, tuple[dict[str, Any], str]] = {  # name -> (resource, author)
    "INC": (incident("fisica", "inc-1"), CAR),
    "SEX": (incident("sexual", "inc-2", "R"), CAR),
    "STM": ({
        "resourceType": "DocumentReference", "id": "relato-1",
        "meta": {"profile": [SD + "Statement"]}, "status": "current",
        "type": {"coding": [{"system": CS + "tipo-documento", "code": "relato-sobreviviente"}]},
        "subject": {"reference": "Patient/sobreviviente"},
        "securityLabel": [{"coding": [{"system": CONF, "code": "R"}]}],
        "content": [{"attachment": {"contentType": "text/plain", "data": "eA=="}}],
    }, CDM),
    "ADM": ({
        "resourceType": "Encounter", "id": "ingreso-1", "meta": label("V"), "status": "finished",
        "class": {"code": "AMB"},
        "type": [{"coding": [{"system": CS + "tipo-contacto", "code": "ingreso-casa-acogida"}]}],
        "subject": {"reference": "Patient/sobreviviente"},
        "serviceProvider": {"reference": SHELTER},
    }, SHELTER),
    "PAT": ({
        "resourceType": "Patient", "id": "sobreviviente", "meta": {"profile": [SD + "Survivor"]},
        "name": [{"given": ["Ana"]}],
        "telecom": [{"system": "phone", "value": "+56 9 0000 0000"}],
        "address": [{"city": "La Florida", "_city": {"extension": []}}],
    }, CDM),
}


def _consent(cid: str, provision: dict[str, Any], status: str = "active") -> dict[str, Any]:
    return {"resourceType": "Consent", "id": cid, "status": status,
            "patient": {"reference": "Patient/sobreviviente"}, "provision": provision}


VALID = {"start": "2025-01-01", "end": "2027-12-31"}
PURPOSE = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": c}
           for c in ("COC", "TREAT")]
TEAM_ACTOR = [{"reference": {"reference": TEAM_REF}}]
PERMIT = {"type": "permit", "period": VALID, "actor": TEAM_ACTOR, "purpose": PURPOSE}
KIND_EXT = SD + "ext-tipo-institucion"


def _with(base: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return copy.deepcopy(base) | extra


CONSENTS: dict[str, tuple[dict[str, Any], ...]] = {
    "N": (),
    "P": (_consent("permiso", PERMIT),),
    "V": (_consent("permiso-v", _with(PERMIT, provision=[
        {"type": "permit", "securityLabel": [{"system": CONF, "code": "V"}]}])),),
    "X": (_consent("excepcion", _with(PERMIT, provision=[{
        "type": "deny",
        "extension": [{"url": KIND_EXT, "valueCodeableConcept": {"coding": [
            {"system": CS + "tipo-institucion", "code": "carabineros"}]}}],
        "class": [{"system": "http://hl7.org/fhir/resource-types", "code": "Observation"},
                  {"system": "http://hl7.org/fhir/resource-types", "code": "DocumentReference"}],
    }])),),
    "R": (_consent("revocado", PERMIT, status="inactive"),),
    "E": (_consent("vencido", _with(PERMIT, period={"start": "2024-01-01", "end": "2025-12-31"})),),
    "D": (_consent("negacion", {"type": "deny", "period": VALID}),),
}
CONSENT_ORDER = "NPVXRED"


def context(resource: str, consents: str, **extra: Any) -> Context:
    _, author = RESOURCES[resource]
    fields: dict[str, Any] = {
        "author": author, "care_team": TEAM, "care_team_refs": frozenset({TEAM_REF}),
        "institutions": dict(KIND_OF), "consents": CONSENTS[consents], "now": NOW}
    return Context(**(fields | extra))


def principal(name: str, purpose: str | None, scopes: frozenset[str] = READ_ALL,
              **extra: Any) -> Principal:
    ref, kind = INSTITUTIONS[name]
    return Principal(institution=ref, kind=kind, client_id=f"client-{name.lower()}",
                     purpose=purpose, scopes=scopes, **extra)
