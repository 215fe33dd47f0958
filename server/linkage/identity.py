"""What identifies a woman in a Patient resource, normalised for comparison."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from mappings.run import is_valid
from mappings.run import normalize as normal_run
from server.search.values import normalize

RUN_SYSTEM = "http://regcivil.cl/Validacion/RUN"
UNVERIFIED_RUN_SYSTEM = "https://fhir.amparo.cl/sid/run-no-verificado"
SECOND_SURNAME = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/SegundoApellido"
COMUNA_EXTENSION = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
COMUNA_SYSTEM = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodComunasCL"
STATED_AGE = "https://fhir.amparo.cl/StructureDefinition/ext-edad-declarada"
#: Identifier systems of an ingested record's key (``mappings/``): it finds the record again
#: when the file is ingested twice, and says nothing of who she is.
SOURCE_RECORDS = "https://fhir.amparo.cl/sid/registro/"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
#: The guide's passport systems: ``<this><CodPais code of the issuing country>``.
PASSPORTS = "https://fhir.amparo.cl/sid/pasaporte/"

_NOT_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class Identity:
    """A Patient's identifying facts. Names are lower-case, accent-free words (a hyphen
    counts as a space); phones are their last 8 digits (the Chilean subscriber number,
    whatever prefix was written)."""

    runs: frozenset[str]  # valid RUNs, normal form
    unverified_runs: frozenset[str]  # RUNs sent with a wrong check digit
    documents: frozenset[tuple[str, str]]  # (system, value) of every other identifier
    given: str | None  # the first given name
    surnames: tuple[str, ...]  # first surname, then the second, if any
    birth_date: str | None
    comunas: frozenset[str]  # CUT codes
    phones: frozenset[str]
    ages: frozenset[tuple[date, int]] = frozenset()  # (the day, her age in years that day)


def identity(patient: dict[str, Any]) -> Identity:
    """The ``Identity`` of ``patient`` (a Patient resource as a dict)."""
    runs, unverified, documents = set(), set(), set()
    for identifier in patient.get("identifier") or []:
        system, value = identifier.get("system"), identifier.get("value")
        if not isinstance(system, str) or not isinstance(value, str) or not value.strip() \
                or system.startswith(SOURCE_RECORDS):
            continue  # (a source's record key names the record, not the woman)
        if system in (RUN_SYSTEM, UNVERIFIED_RUN_SYSTEM):
            try:
                run = normal_run(value)
            except ValueError:  # not even shaped like a RUN: nothing to compare
                continue
            (runs if system == RUN_SYSTEM and is_valid(run) else unverified).add(run)
        else:
            documents.add((system, " ".join(value.upper().split())))
    given, surnames = _name(patient.get("name") or [])
    birth = patient.get("birthDate")
    return Identity(
        frozenset(runs), frozenset(unverified), frozenset(documents), given, surnames,
        birth if isinstance(birth, str) and len(birth) == 10 else None,
        frozenset(_comunas(patient.get("address") or [])),
        frozenset(p for p in (_phone(t) for t in patient.get("telecom") or []) if p),
        frozenset(_ages(patient.get("extension") or [])))


def certain_identifiers(patient: dict[str, Any]) -> list[tuple[str, str]]:
    """(system, value) of the identifiers that make a match certain (rule 5.2.1): her
    valid RUNs, in normal form, and every other document she carries."""
    found = identity(patient)
    return sorted((RUN_SYSTEM, run) for run in found.runs) + sorted(found.documents)


def identified(patient: dict[str, Any]) -> bool:
    """Whether ``patient`` carries a valid RUN or an identity document (a passport): rule
    5.2.2 links only a record with neither by name and facts. An institution's record
    number (type ``MR``, the NN patient's) is a certain match within that institution
    but says nothing of who she is, so it leaves her open to the rule."""
    found = identity(patient)
    if found.runs:
        return True
    record_numbers = {(i.get("system"), " ".join(str(i.get("value")).upper().split()))
                      for i in patient.get("identifier") or []
                      if any(c.get("system") == V2_0203 and c.get("code") == "MR"
                             for c in (i.get("type") or {}).get("coding") or [])}
    return bool(found.documents - record_numbers)


def carries_identity_document(patient: dict[str, Any]) -> bool:
    """Whether ``patient`` carries what rule 5.2.1 names: a valid RUN or a passport."""
    found = identity(patient)
    return bool(found.runs) or any(system.startswith(PASSPORTS)
                                   for system, _ in found.documents)


def _words(text: object) -> list[str]:
    return normalize(text.replace("-", " ")).split() if isinstance(text, str) else []


def _name(names: list[dict]) -> tuple[str | None, tuple[str, ...]]:
    """The first given name and the surnames of the official name (else the first): a
    ``family`` of two words without the CL Core second-surname extension is read as
    both surnames (``Rojas Fuentes``)."""
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    given = next((w for g in chosen.get("given") or [] for w in _words(g)), None)
    surnames = _words(chosen.get("family"))
    for extension in (chosen.get("_family") or {}).get("extension") or []:
        if extension.get("url") == SECOND_SURNAME:
            surnames += _words(extension.get("valueString"))
    return given, tuple(surnames[:2])


def _comunas(addresses: list[dict]) -> set[str]:
    found = set()
    for address in addresses:
        for element in ("_city", "_district"):
            for extension in (address.get(element) or {}).get("extension") or []:
                if extension.get("url") != COMUNA_EXTENSION:
                    continue
                for coding in (extension.get("valueCodeableConcept") or {}).get("coding") or []:
                    if coding.get("system") == COMUNA_SYSTEM and coding.get("code"):
                        found.add(coding["code"].zfill(5))
    return found


def _ages(extensions: list[dict]) -> set[tuple[date, int]]:
    """The guide's ``ext-edad-declarada``: an age in years (UCUM ``a``) and the day she
    had it. One without both parts, or in other units, says nothing usable."""
    found = set()
    for extension in extensions:
        if not isinstance(extension, dict) or extension.get("url") != STATED_AGE:
            continue
        parts = {part.get("url"): part for part in extension.get("extension") or []
                 if isinstance(part, dict)}
        age = (parts.get("edad") or {}).get("valueAge") or {}
        day = (parts.get("fecha") or {})
        day = day.get("valueDate") or day.get("valueDateTime")
        if age.get("code") != "a" or not isinstance(age.get("value"), int | float) \
                or not isinstance(day, str):
            continue
        try:
            found.add((date.fromisoformat(day[:10]), int(age["value"])))
        except ValueError:
            continue
    return found


def _phone(telecom: dict) -> str | None:
    if telecom.get("system") not in (None, "phone", "sms") or \
            not isinstance(telecom.get("value"), str):
        return None
    digits = _NOT_DIGITS.sub("", telecom["value"])
    return digits[-8:] if len(digits) >= 8 else None
