"""FHIR R4B resources (plain dicts) for one planned case, as the institutions would send them.

Shapes chosen (documented once here, profiles may tighten them):

- Survivor = Patient: CL Core identifier (RUN, system ``http://regcivil.cl/Validacion/RUN``,
  type ``CSCodigoDNI#NNCHL``, value ``12345678-5``), or a passport (system
  ``https://fhir.amparo.cl/sid/pasaporte/<CodPais>``, one system per issuing country so that
  system|value is type + country + number), or the local id of the first institution; name
  with the CL Core ``SegundoApellido`` extension; nationality by CL Core ``CodigoPaises``;
  address coded by ``ComunasCl``/``ProvinciasCl``/``RegionesCl``.
- Aggressor = RelatedPerson: RelatedPerson.patient is 1..1, so a man who hurt three women is
  three RelatedPersons with the same RUN; the ``agresor`` identifier names the relationship.
- Case = EpisodeOfCare with a ``caso`` identifier; managingOrganization = the lead
  institution (her Centro de la Mujer when she reaches one, else the first institution).
- Consent at her first contact: permit for coordination of care for two years, sometimes
  with a nested deny of her statements (DocumentReference) to the police.

What happens at each contact is in ``records``.
"""

from __future__ import annotations

import random
from typing import Any

from . import clock
from .ids import ident, urn
from .institutions import Institution
from .plan import Case, Step
from .terms import CL_EXT, HL7, SID, Terms

__all__ = ["Builder"]

RUN_SYSTEM = "http://regcivil.cl/Validacion/RUN"
Resource = dict[str, Any]


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


class Builder:
    """Builds the resources of one case; references inside a bundle are its urn:uuids."""

    def __init__(self, case: Case, t: Terms) -> None:
        self.case, self.t, self.key = case, t, case.key
        self.patient_id = self._patient_identifier()
        self.patient_urn = urn("Patient", self.patient_id["system"], self.patient_id["value"])
        self.episode_id = ident("caso", f"CASO-{self.key}")
        self.aggressor_id = ident("agresor", f"{self.key}-1")
        self.rng = random.Random(f"amparo-synth:text:{case.key}")

    # -- helpers ------------------------------------------------------------------------
    def stamp(self, at: Any, org: Institution | None = None) -> str:
        comuna = org.comuna if org else self.case.survivor.comuna
        return clock.stamp(at, self.t.comunas[comuna].region_code)

    def step_id(self, kind: str, step: Step) -> dict[str, str]:
        return ident(kind, f"{step.org.id}-{self.key}-{step.number:02d}")

    def urn_of(self, resource_type: str, identifier: dict[str, str]) -> str:
        return urn(resource_type, identifier["system"], identifier["value"])

    def _country(self, code: str) -> dict[str, Any]:
        return {
            "url": CL_EXT + "CodigoPaises",
            "valueCodeableConcept": {"coding": [self.t.country_coding(code)]},
        }

    def _patient_identifier(self) -> dict[str, Any]:
        woman = self.case.survivor
        if woman.run:
            return {
                "use": "official",
                "type": {"extension": [self._country("152")], "coding": [HL7["run-type"]]},
                "system": RUN_SYSTEM,
                "value": woman.run,
            }
        if woman.passport:
            return {
                "use": "official",
                "type": {
                    "extension": [self._country(woman.nationality)],
                    "coding": [HL7["passport-type"]],
                },
                "system": f"{SID}pasaporte/{woman.nationality}",
                "value": woman.passport,
            }
        first = self.case.steps[0].org.id
        return {
            "use": "usual",
            "type": {"coding": [HL7["local-type"]]},
            "system": f"{SID}institucion/{first}/persona",
            "value": self.key,
        }

    @staticmethod
    def _name(given: list[str], family: str, second: str | None) -> dict[str, Any]:
        name: dict[str, Any] = {
            "use": "official",
            "text": " ".join([*given, family, *([second] if second else [])]),
            "family": family,
        }
        if second:
            name["_family"] = {
                "extension": [{"url": CL_EXT + "SegundoApellido", "valueString": second}]
            }
        name["given"] = given
        return name

    # -- the survivor, her case and the aggressor ----------------------------------------
    def patient(self) -> Resource:
        woman = self.case.survivor
        patient: Resource = {
            "resourceType": "Patient",
            "extension": [self._country(woman.nationality)],
            "identifier": [self.patient_id],
            "active": True,
            "name": [self._name(woman.given, woman.family, woman.second_family)],
        }
        if woman.phone:
            patient["telecom"] = [{"system": "phone", "value": woman.phone, "use": "mobile"}]
        patient |= {
            "gender": "female",
            "birthDate": woman.birth_date.isoformat(),
            "address": [self.t.address(woman.comuna, woman.line)],
            "communication": [
                {
                    "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": woman.language}]},
                    "preferred": True,
                }
            ],
        }
        return patient

    def episode(self) -> Resource:
        return {
            "resourceType": "EpisodeOfCare",
            "identifier": [self.episode_id],
            "status": "active",
            "patient": ref(self.patient_urn),
            "managingOrganization": self.case.lead.reference,
            "period": {"start": self.stamp(self.case.steps[0].at, self.case.steps[0].org)},
        }

    def related_person(self) -> Resource:
        man = self.case.aggressor
        identifiers: list[dict[str, Any]] = [self.aggressor_id]
        if man.run:
            identifiers.append(
                {
                    "use": "official",
                    "type": {"coding": [HL7["run-type"]]},
                    "system": RUN_SYSTEM,
                    "value": man.run,
                }
            )
        person: Resource = {
            "resourceType": "RelatedPerson",
            "identifier": identifiers,
            "active": True,
            "patient": ref(self.patient_urn),
            "relationship": [self.t.concept_of("relacion-agresor", man.relation)],
        }
        if man.given and man.family:
            person["name"] = [self._name(man.given, man.family, man.second_family)]
        person["gender"] = "male"
        if man.birth_date:
            person["birthDate"] = man.birth_date.isoformat()
        return person

    def consent_id(self, step: Step) -> dict[str, str]:
        return ident("consentimiento", f"{self.key}-{step.number:02d}")

    def consent(self, step: Step, police: Institution | None) -> Resource:
        start = self.stamp(step.at, step.org)
        end = self.stamp(step.at.replace(year=step.at.year + 2), step.org)
        provision: Resource = {
            "type": "permit",
            "period": {"start": start, "end": end},
            "purpose": [HL7["coordination-of-care"]],
        }
        if police and self.rng.random() < 0.15:  # she does not want the police to read her account
            provision["provision"] = [
                {
                    "type": "deny",
                    "actor": [
                        {"role": {"coding": [HL7["recipient"]]}, "reference": police.reference}
                    ],
                    "class": [
                        {
                            "system": "http://hl7.org/fhir/resource-types",
                            "code": "DocumentReference",
                        }
                    ],
                }
            ]
        return {
            "resourceType": "Consent",
            "identifier": [self.consent_id(step)],
            "status": "active",
            "scope": {"coding": [HL7["consent-scope"]]},
            "category": [{"coding": [HL7["consent-category"]]}],
            "patient": ref(self.patient_urn),
            "dateTime": start,
            "performer": [ref(self.patient_urn)],
            "organization": [step.org.reference],
            "policyRule": {"coding": [HL7["opt-in"]]},
            "provision": provision,
        }
