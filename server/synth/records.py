"""FHIR R4B resources for what happens at one contact: encounter, incident, risk, referrals.

Shapes chosen (the survivor's side is in ``resources``):

- Incident = Observation ``observacion-vcm#incidente-violencia``: subject = survivor,
  ``focus`` = the aggressor (keeps him searchable without an extension), ``performer`` = the
  reporting institution, one component per form of violence (code from ``formas-violencia``,
  ``valueBoolean`` true) plus comuna, place, weapon, children present, visible injuries.
  Each institution reports the incident it saw: the police and the ER of the same night
  send two Observations less than 72 hours apart (one incident for the early warnings).
- RiskAssessment: ``method`` = instrument, ``prediction.qualitativeRisk`` = level, and the
  same level as the one the instrument gave (``ext-nivel-instrumento``); no ``performer``
  (R4B allows only Practitioner/PractitionerRole/Device: the assessor institution is the
  encounter's serviceProvider). The PUIR's top level is kept as ``vital-alto``, as
  reported. The DASH is sent as its answers (a RiskAnswers QuestionnaireResponse with
  ``step.score`` "yes" answers): the platform scores them into the assessment.
- Referral = ServiceRequest (requester -> performer) + Task (owner = receiving institution,
  ``focus`` = the ServiceRequest, ``businessStatus`` from ``estado-derivacion``, ``status``
  from its ``estadoTarea`` property, ``statusReason`` text when it ends without service).
- Statement = DocumentReference with the account as base64 text/plain in
  ``content.attachment.data``, labelled restricted (v3-Confidentiality R).
"""

from __future__ import annotations

import base64
from typing import Any

from profiles import instruments

from .ids import conditional, ident
from .pathways import REASONS
from .plan import Change, Referral, Step
from .resources import Builder, Resource, ref
from .statements import account
from .terms import HL7

__all__ = ["Records"]

EPISODE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
LEVEL_EXTENSION = "https://fhir.amparo.cl/StructureDefinition/ext-nivel-instrumento"
FINAL = {"completed", "rejected", "failed", "cancelled"}  # Task statuses that end a referral


def _option(item: Resource, code: str) -> Resource:
    """The item's answer option with this code (v2-0136 Y or N)."""
    return next(dict(o["valueCoding"]) for o in item["answerOption"]
                if o["valueCoding"]["code"] == code)


class Records(Builder):
    """Adds the records of contacts and referrals to the survivor-side ``Builder``."""

    # -- one contact ---------------------------------------------------------------------
    def encounter(self, step: Step, incident: str | None) -> Resource:
        t = self.t
        enc: Resource = {
            "resourceType": "Encounter",
            "identifier": [self.step_id("contacto", step)],
            "status": "finished",
            "class": t.property_coding("tipo-contacto", step.kind, "claseEncuentro"),
            "type": [t.concept_of("tipo-contacto", step.kind)],
            "subject": ref(self.patient_urn),
            "episodeOfCare": [ref(self.urn_of("EpisodeOfCare", self.episode_id))],
        }
        if step.referral_in:
            enc["basedOn"] = [
                ref(conditional("ServiceRequest", self.referral_id(step.referral_in)))
            ]
        enc["period"] = {
            "start": self.stamp(step.at, step.org),
            "end": self.stamp(step.end, step.org),
        }
        if incident:
            enc["reasonReference"] = [ref(incident)]
        enc["serviceProvider"] = step.org.reference
        return enc

    def incident(self, step: Step, encounter: str) -> Resource:
        t, event = self.t, step.event
        assert event is not None
        forms = event.forms
        if step.org.kind == "salud-urgencia":  # the ER records what it can see and treat
            forms = [f for f in forms if f in ("fisica", "sexual")] or forms
        vcm = "observacion-vcm"
        components = [
            {"code": t.concept_of("formas-violencia", f), "valueBoolean": True} for f in forms
        ]
        components += [
            {
                "code": t.concept_of(vcm, "comuna-hechos"),
                "valueCodeableConcept": {"coding": [t.comuna_coding(event.comuna)]},
            },
            {
                "code": t.concept_of(vcm, "lugar-hechos"),
                "valueCodeableConcept": t.concept_of("lugar-hechos", event.place),
            },
            {
                "code": t.concept_of(vcm, "arma"),
                "valueCodeableConcept": t.concept_of("tipo-arma", event.weapon),
            },
            {"code": t.concept_of(vcm, "hijos-presentes"), "valueBoolean": event.children},
            {"code": t.concept_of(vcm, "lesiones-visibles"), "valueBoolean": event.injuries},
        ]
        return {
            "resourceType": "Observation",
            "identifier": [self.step_id("incidente", step)],
            "status": "final",
            "category": [{"coding": [HL7["social-history"]]}],
            "code": t.concept_of(vcm, "incidente-violencia"),
            "subject": ref(self.patient_urn),
            "focus": [ref(self.urn_of("RelatedPerson", self.aggressor_id))],
            "encounter": ref(encounter),
            "effectiveDateTime": self.stamp(step.reported_at or event.at),
            "issued": self.stamp(step.end, step.org),
            "performer": [step.org.reference],
            "component": components,
        }

    def dash_answers(self, step: Step, encounter: str) -> Resource:
        assert step.score is not None
        questionnaire = instruments.questionnaire("dash-2009")
        items = [item for item in questionnaire["item"] if item.get("answerOption")]
        yes = set(self.rng.sample(range(len(items)), step.score))
        return {
            "resourceType": "QuestionnaireResponse",
            "extension": [{"url": EPISODE_EXTENSION,
                           "valueReference": ref(self.urn_of("EpisodeOfCare", self.episode_id))}],
            "identifier": self.step_id("respuestas-riesgo", step),
            "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
            "status": "completed",
            "subject": ref(self.patient_urn),
            "encounter": ref(encounter),
            "authored": self.stamp(step.at, step.org),
            "author": step.org.reference,
            "item": [{"linkId": item["linkId"],
                      "answer": [{"valueCoding": _option(item, "Y" if i in yes else "N")}]}
                     for i, item in enumerate(items)],
        }

    def risk(self, step: Step, encounter: str, basis: list[str]) -> Resource:
        assert step.instrument and step.level
        risk: Resource = {
            "resourceType": "RiskAssessment",
            "identifier": [self.step_id("evaluacion-riesgo", step)],
            "status": "final",
            "method": self.t.concept_of("instrumento-riesgo", step.instrument),
            "subject": ref(self.patient_urn),
            "encounter": ref(encounter),
            "occurrenceDateTime": self.stamp(step.at, step.org),
        }
        if basis:
            risk["basis"] = [ref(b) for b in basis]
        level = self.t.concept_of("nivel-riesgo", step.level)
        risk["extension"] = [{"url": LEVEL_EXTENSION, "valueCoding": level["coding"][0]}]
        risk["prediction"] = [{"qualitativeRisk": level}]
        return risk

    def statement(self, step: Step, encounter: str) -> Resource:
        assert step.document and step.event
        man, t = self.case.aggressor, self.t
        relation = t.concept("relacion-agresor", man.relation)["display"]
        text = account(step.document, step.event, relation, man.relation, self.rng)
        title = t.concept("tipo-documento", step.document)["display"]
        return {
            "resourceType": "DocumentReference",
            "identifier": [self.step_id("documento", step)],
            "status": "current",
            "docStatus": "final",
            "type": t.concept_of("tipo-documento", step.document),
            "subject": ref(self.patient_urn),
            "date": self.stamp(step.end, step.org),
            "author": [step.org.reference],
            "custodian": step.org.reference,
            "securityLabel": [{"coding": [HL7["restricted"]]}],
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "language": "es-CL",
                        "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
                        "title": title,
                        "creation": self.stamp(step.end, step.org),
                    }
                }
            ],
            "context": {
                "encounter": [ref(encounter)],
                "period": {"start": self.stamp(step.event.at)},
            },
        }

    # -- referrals -----------------------------------------------------------------------
    def referral_id(self, referral: Referral) -> dict[str, str]:
        return ident("derivacion", f"{self.key}-{referral.number:02d}")

    def task_id(self, referral: Referral) -> dict[str, str]:
        return ident("tarea-derivacion", f"{self.key}-{referral.number:02d}")

    def service_request(
        self, referral: Referral, encounter: str, reason: str | None, risk: str | None
    ) -> Resource:
        source = referral.source
        request: Resource = {
            "resourceType": "ServiceRequest",
            "identifier": [self.referral_id(referral)],
            "status": "active",
            "intent": "order",
            "priority": "urgent" if source.severity >= 2 else "routine",
            "code": self.t.concept_of("servicio-paquete-minimo", referral.service),
            "subject": ref(self.patient_urn),
            "encounter": ref(encounter),
            "authoredOn": self.stamp(source.end, source.org),
            "requester": source.org.reference,
            "performer": [referral.target.reference],
        }
        if reason:
            request["reasonReference"] = [ref(reason)]
        if risk:
            request["supportingInfo"] = [ref(risk)]
        return request

    def task(
        self, referral: Referral, status: str, at: Any, local: bool, patient: str | None = None
    ) -> Resource:
        """Return the referral's Task in ``status`` (estado-derivacion) as of ``at``;
        ``local``: created in this bundle."""
        source = referral.source
        if local:
            focus = self.urn_of("ServiceRequest", self.referral_id(referral))
            encounter = self.urn_of("Encounter", self.step_id("contacto", source))
        else:
            focus = conditional("ServiceRequest", self.referral_id(referral))
            encounter = conditional("Encounter", self.step_id("contacto", source))
        task: Resource = {
            "resourceType": "Task",
            "identifier": [self.task_id(referral)],
            "status": self.t.property_codes("estado-derivacion", status, "estadoTarea")[0],
            "businessStatus": self.t.concept_of("estado-derivacion", status),
            "intent": "order",
            "priority": "urgent" if source.severity >= 2 else "routine",
            "code": {"coding": [HL7["fulfill"]]},
            "focus": ref(focus),
            "for": ref(patient or conditional("Patient", self.patient_id)),
            "encounter": ref(encounter),
            "authoredOn": self.stamp(source.end, source.org),
            "lastModified": self.stamp(at, referral.target),
            "requester": source.org.reference,
            "owner": referral.target.reference,
        }
        if status in REASONS:
            task["statusReason"] = {"text": REASONS[status]}
        started = next((c.at for c in referral.changes if c.code == "en-atencion"), None)
        period: dict[str, str] = {}
        if started is not None and started <= at:
            period["start"] = self.stamp(started, referral.target)
        if task["status"] in FINAL:
            period["end"] = self.stamp(at, referral.target)
        if period:
            task["executionPeriod"] = period
        return task

    def task_change(self, change: Change, patient: str | None = None) -> Resource:
        """Return the Task version the receiving institution writes for ``change``."""
        return self.task(change.referral, change.code, change.at, False, patient)
