"""Codes for the synthetic data, read from the ``terminology`` package, never typed here.

``Terms`` wraps our CodeSystems and the national lists (comunas, countries) so that the
generator asks for ``coding("formas-violencia", "fisica")`` and gets system, code and the
display of the file; an unknown code raises ``KeyError`` at once. The few HL7 codes FHIR
itself requires (Consent scope, Task code, identifier types) are kept in ``HL7`` below.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from typing import Any

import terminology
from terminology import Comuna

__all__ = ["HL7", "SID", "Terms", "terms"]

SID = terminology.BASE + "/sid/"

# HL7 and CL Core codes that FHIR elements require; not Amparo terminology.
HL7: dict[str, dict[str, str]] = {
    "run-type": {
        "system": "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodigoDNI",
        "code": "NNCHL",
        "display": "Chile",
    },
    "passport-type": {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
        "code": "PPN",
        "display": "Passport number",
    },
    "local-type": {
        "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
        "code": "PI",
        "display": "Patient internal identifier",
    },
    "social-history": {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "social-history",
        "display": "Social History",
    },
    "survey": {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "survey",
        "display": "Survey",
    },
    "consent-scope": {
        "system": "http://terminology.hl7.org/CodeSystem/consentscope",
        "code": "patient-privacy",
        "display": "Privacy Consent",
    },
    "consent-category": {"system": "http://loinc.org", "code": "59284-0"},
    "opt-in": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"},
    "coordination-of-care": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
        "code": "COC",
    },
    "recipient": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
        "code": "IRCP",
        "display": "information recipient",
    },
    "restricted": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "code": "R",
        "display": "restricted",
    },
    "very-restricted": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "code": "V",
        "display": "very restricted",
    },
    "fulfill": {"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"},
}

CL_EXT = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/"


class Terms:
    """Our CodeSystems and the national lists, loaded once, looked up by code."""

    def __init__(self) -> None:
        self._concepts = {
            name: terminology.concepts(name) for name in terminology.code_system_names()
        }
        self.comunas = {c.code: c for c in terminology.comunas()}
        self.countries = terminology.countries()
        by_province: dict[str, list[Comuna]] = defaultdict(list)
        for comuna in self.comunas.values():
            by_province[comuna.provincia_code].append(comuna)
        self.by_province = dict(by_province)

    def concept(self, system: str, code: str) -> dict[str, Any]:
        """Return a concept of our CodeSystem ``system``; KeyError when the code is unknown."""
        return self._concepts[system][code]

    def codes(self, system: str) -> list[str]:
        """Return every code of ``system`` in file order (parents before their children)."""
        return list(self._concepts[system])

    def coding(self, system: str, code: str) -> dict[str, str]:
        """Return the Coding (system, code, es-CL display) of one of our codes."""
        concept = self.concept(system, code)
        return {
            "system": f"{terminology.BASE}/CodeSystem/{system}",
            "code": code,
            "display": concept["display"],
        }

    def concept_of(self, system: str, code: str) -> dict[str, Any]:
        """Return a CodeableConcept holding the Coding of ``code``."""
        return {"coding": [self.coding(system, code)]}

    def property_codes(self, system: str, code: str, name: str) -> list[str]:
        """Return the codes a concept's property ``name`` points at, in file order."""
        values = []
        for prop in self.concept(system, code).get("property", []):
            if prop["code"] == name:
                values.append(
                    prop["valueCoding"]["code"] if "valueCoding" in prop else prop["valueCode"]
                )
        return values

    def property_coding(self, system: str, code: str, name: str) -> dict[str, str]:
        """Return the first Coding value of a concept's property ``name``."""
        for prop in self.concept(system, code).get("property", []):
            if prop["code"] == name:
                return dict(prop["valueCoding"])
        raise KeyError(f"{system}#{code} has no property {name}")

    def root(self, system: str, code: str) -> str:
        """Return the top-level ancestor of ``code`` in a hierarchical CodeSystem."""
        while (parent := self.concept(system, code)["parent"]) is not None:
            code = parent
        return code

    def comuna_coding(self, code: str) -> dict[str, str]:
        comuna = self.comunas[code]
        return {"system": terminology.COMUNAS_SYSTEM, "code": code, "display": comuna.display}

    def address(self, code: str, line: str | None = None, use: str = "home") -> dict[str, Any]:
        """Return a CL Core address: comuna, provincia and región coded by extension."""
        comuna = self.comunas[code]

        def coded(ext: str, system: str, value: str, display: str) -> dict[str, Any]:
            return {
                "extension": [
                    {
                        "url": CL_EXT + ext,
                        "valueCodeableConcept": {
                            "coding": [{"system": system, "code": value, "display": display}]
                        },
                    }
                ]
            }

        address: dict[str, Any] = {"use": use}
        if line:
            address["line"] = [line]
        address |= {
            "city": comuna.display,
            "_city": coded("ComunasCl", terminology.COMUNAS_SYSTEM, code, comuna.display),
            "district": comuna.provincia,
            "_district": coded(
                "ProvinciasCl",
                terminology.PROVINCIAS_SYSTEM,
                comuna.provincia_code,
                comuna.provincia,
            ),
            "state": comuna.region,
            "_state": coded(
                "RegionesCl", terminology.REGIONES_SYSTEM, comuna.region_code, comuna.region
            ),
            "country": "CL",
        }
        return address

    def country_coding(self, code: str) -> dict[str, str]:
        return {"system": terminology.PAISES_SYSTEM, "code": code, "display": self.countries[code]}


@cache
def terms() -> Terms:
    """Return the shared ``Terms`` (the files are read once per process)."""
    return Terms()
