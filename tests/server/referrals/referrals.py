"""Referrals for the workflow tests: a survivor, her ServiceRequest and its Task, written
over HTTP by the institutions' own clients, and the moves of a task through its states."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime

import requests

from tests.server.access.institutions import Institution

WOMENS_CENTRE = "centro-de-la-mujer-13101"  # refers (requester)
SHELTER = "casa-de-acogida-13101"  # receives (owner)
HEALTH = "salud-urgencia-13101"  # outside the referral
ESTADO = "https://fhir.amparo.cl/CodeSystem/estado-derivacion"
REFERRAL_TASK = "https://fhir.amparo.cl/StructureDefinition/ReferralTask"
#: a business status of each Task.status (estado-derivacion, estadoTarea)
BUSINESS = {"requested": "enviada", "received": "recibida", "accepted": "aceptada",
            "in-progress": "en-atencion", "completed": "completada", "rejected": "rechazada",
            "failed": "no-se-presenta", "cancelled": "anulada", "on-hold": "suspendida"}
REASON = {"text": "La mujer no cumple los criterios de ingreso"}


@dataclass
class Referral:
    centre: Institution
    shelter: Institution
    survivor: str  # Patient/<id>
    request: dict  # the ServiceRequest

    @classmethod
    def new(cls, centre: Institution, shelter: Institution, priority: str = "urgent"
            ) -> Referral:
        her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
        survivor = f"Patient/{her['id']}"
        request = centre.create({
            "resourceType": "ServiceRequest", "status": "active", "intent": "order",
            "priority": priority, "code": {"text": "acogida"},
            "subject": {"reference": survivor},
            "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
            "performer": [{"reference": f"Organization/{SHELTER}"}]})
        return cls(centre, shelter, survivor, request)

    def task(self, status: str = "requested", **fields) -> dict:
        """The referral's Task as the centre sends it (not yet written)."""
        return {"resourceType": "Task", "status": status,
                "businessStatus": business(BUSINESS.get(status, "enviada")),
                "intent": "order",
                "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                                     "code": "fulfill"}]},
                "focus": {"reference": f"ServiceRequest/{self.request['id']}"},
                "for": {"reference": self.survivor},
                "authoredOn": "2026-03-02T10:00:00-03:00",
                "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
                "owner": {"reference": f"Organization/{SHELTER}"}, **fields}

    def send(self, **fields) -> dict:
        """The task, created by the centre."""
        return self.centre.create(self.task(**fields))

    def advance(self, task: dict, *statuses: str) -> dict:
        """The task after the shelter moved it through ``statuses``."""
        for status in statuses:
            extra = {"statusReason": REASON} if status == "rejected" else {}
            answer = put(self.shelter, moved(task, status, **extra))
            assert answer.status_code == 200, answer.text
            task = answer.json()
        return task


def business(code: str) -> dict:
    return {"coding": [{"system": ESTADO, "code": code}]}


def moved(task: dict, status: str, code: str | None = None, **fields) -> dict:
    """``task`` in ``status`` with a business status of it (``code``, else ``BUSINESS``)."""
    changed = copy.deepcopy(task)
    changed.update(status=status, businessStatus=business(code or BUSINESS[status]), **fields)
    return changed


def put(institution: Institution, task: dict) -> requests.Response:
    return institution.put(f"Task/{task['id']}", task)


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
