"""The code systems our ValueSets and ConceptMaps may name, with the codes each one holds.

Ours come from ``terminology.concepts``; the national ones from the data the package
carries (``terminology/data``); the few HL7 code systems we use without carrying them are
listed here by hand, from HL7 Terminology (THO): v2 table 0203 and v3 ActReason
(PurposeOfUse codes).
"""

from __future__ import annotations

from functools import cache

import terminology

V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
ACTREASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ISO3166 = "urn:iso:std:iso:3166"

# The v2 identifier types we use (of table 0203), with their HL7 displays, and the
# PurposeOfUse codes of v3 ActReason 2.1.0 (THO), whose displays we do not need.
HL7: dict[str, dict[str, str]] = {
    V2_0203: {"PPN": "Passport number", "MR": "Medical record number",
              "PI": "Patient internal identifier"},
    ACTREASON: dict.fromkeys((
        "PurposeOfUse", "HMARKT", "HOPERAT", "CAREMGT", "DONAT", "FRAUD", "GOV", "HACCRED",
        "HCOMPL", "HDECD", "HDIRECT", "HDM", "HLEGAL", "HOUTCOMS", "HPRGRP", "HQUALIMP",
        "HSYSADMIN", "LABELING", "METAMGT", "MEMADMIN", "MILCDM", "PATADMIN", "PATSFTY",
        "PERFMSR", "RECORDMGT", "SYSDEV", "HTEST", "TRAIN", "HPAYMT", "CLMATTCH", "COVAUTH",
        "COVERAGE", "ELIGDTRM", "ELIGVER", "ENROLLM", "MILDCRG", "REMITADV", "HRESCH", "BIORCH",
        "CLINTRCH", "CLINTRCHNPC", "CLINTRCHPC", "PRECLINTRCH", "DSRCH", "POARCH", "TRANSRCH",
        "PATRQT", "FAMRQT", "PWATRNY", "SUPNWK", "PUBHLTH", "DISASTER", "THREAT", "TREAT",
        "CLINTRL", "COC", "ETREAT", "BTG", "ERTREAT", "POPHLTH",
    ), "PurposeOfUse code"),
}


@cache
def displays() -> dict[str, dict[str, str]]:
    """Code system URL -> code -> display, for every system a resource of ours may name."""
    found: dict[str, dict[str, str]] = {
        f"{terminology.BASE}/CodeSystem/{name}": {
            code: concept["display"] for code, concept in terminology.concepts(name).items()}
        for name in terminology.code_system_names()}
    comunas = terminology.comunas()
    found[terminology.COMUNAS_SYSTEM] = {c.code: c.display for c in comunas}
    found[terminology.PROVINCIAS_SYSTEM] = {c.provincia_code: c.provincia for c in comunas}
    found[terminology.REGIONES_SYSTEM] = {c.region_code: c.region for c in comunas}
    found[terminology.PAISES_SYSTEM] = terminology.countries()
    found[terminology.PUEBLOS_SYSTEM] = terminology.pueblos()
    for id in ("CSTipoIdentificador", "CSCodigoDNI"):
        cs = terminology.clcore_code_system(id)
        found[cs["url"]] = {c["code"]: c["display"] for c in cs["concept"]}
    found.update(HL7)
    return found


def ours(system: str) -> bool:
    return system.startswith(f"{terminology.BASE}/CodeSystem/")
