"""The de-identification of one resource (``server/analytics/deidentify.py``), element by
element, on a Survivor that carries every kind of identifying data the guide allows."""

from __future__ import annotations

import os
from datetime import date

import orjson
import pytest

from profiles import validate_structure
from server.analytics.deidentify import Deidentifier
from server.analytics.policy import statistics_policy

COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
SURVIVOR = {
    "resourceType": "Patient", "id": "p1",
    "meta": {"versionId": "3", "lastUpdated": "2026-01-02T03:04:05.123456+00:00",
             "source": "urn:sistema:1455",
             "profile": ["https://fhir.amparo.cl/StructureDefinition/Survivor"],
             "tag": [{"system": "https://fhir.amparo.cl/CodeSystem/institucion-autora",
                      "code": "linea-1455"}, {"system": "urn:other", "code": "x"}]},
    "text": {"status": "generated", "div": "<div>Roxana Silva, RUN 12345678-5</div>"},
    "extension": [
        {"url": "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/CodigoPaises",
         "valueCodeableConcept": {"coding": [{"code": "152", "display": "Chile"}]}},
        {"url": "https://fhir.amparo.cl/StructureDefinition/ext-contacto-seguro",
         "extension": [{"url": "instrucciones", "valueString": "llamar solo de día"}]},
        {"url": "https://fhir.amparo.cl/StructureDefinition/ext-edad-declarada",
         "extension": [{"url": "edad", "valueAge": {"value": 34, "unit": "a",
                                                     "system": "http://unitsofmeasure.org",
                                                     "code": "a"}},
                       {"url": "fecha", "valueDate": "2025-03-02"}]}],
    "identifier": [{"system": "http://regcivil.cl/Validacion/RUN", "value": "12345678-5"}],
    "active": True,
    "name": [{"text": "Roxana Silva", "family": "Silva", "given": ["Roxana"],
              "_family": {"extension": [{
                  "url": "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/"
                         "SegundoApellido", "valueString": "Olguín"}]}}],
    "telecom": [{"system": "phone", "value": "+56968519486"}],
    "gender": "female", "birthDate": "1988-05-29",
    "address": [{"use": "home", "line": ["Vicuña Mackenna 23"], "city": "La Florida",
                 "_city": {"extension": [{"url": COMUNA, "valueCodeableConcept": {
                     "coding": [{"code": "13110", "display": "La Florida"}]}}]},
                 "postalCode": "8240000", "state": "Metropolitana de Santiago",
                 "country": "CL", "text": "Vicuña Mackenna 23, La Florida"}],
    "contact": [{"name": {"family": "Hermana"}, "telecom": [{"value": "+56911111111"}]}],
    "link": [{"other": {"reference": "Patient/p0"}, "type": "replaces"}],
    "managingOrganization": {"reference": "Organization/linea-1455", "display": "Fono 1455"},
}
INCIDENT = {
    "resourceType": "Observation", "id": "o1", "status": "final",
    "code": {"coding": [{"code": "incidente-violencia"}], "text": "ella relata que..."},
    "subject": {"reference": "Patient/p1", "display": "Roxana Silva"},
    "focus": [{"reference": "RelatedPerson/r1"}],
    "encounter": {"reference": "Encounter/e1"},
    "effectiveDateTime": "2025-03-01T17:20:00-03:00", "issued": "2025-03-02T10:23:00-03:00",
    "performer": [{"reference": "Organization/carabineros-13101"},
                  {"reference": "PractitionerRole/pr9", "display": "Sgto. Pérez"}],
    "note": [{"text": "vive con el agresor en Calle Falsa 123"}],
    "component": [{"code": {"coding": [{"code": "comuna-hechos"}]},
                   "valueCodeableConcept": {"coding": [{"code": "13110"}]}},
                  {"code": {"coding": [{"code": "relato"}]}, "valueString": "me golpeó"}],
}


@pytest.fixture
def deid() -> Deidentifier:
    return Deidentifier(statistics_policy(), os.urandom(32), today=date(2026, 11, 28))


def test_a_survivor_keeps_only_what_statistics_need(deid):
    out = deid.resource(SURVIVOR)
    assert set(out) == {"resourceType", "id", "meta", "extension", "active", "gender",
                        "birthDate", "address", "managingOrganization"}
    assert out["id"] == deid.pseudonym("Patient", "p1") != "p1"
    assert out["birthDate"] == "1988"
    assert out["meta"] == {"tag": [SURVIVOR["meta"]["tag"][0]]}
    assert out["address"] == [{"use": "home", "city": "La Florida", "_city": {"extension": [
        {"url": COMUNA, "valueCodeableConcept": {"coding": [{"code": "13110"}]}}]},
        "state": "Metropolitana de Santiago", "country": "CL"}]
    assert [e["url"].rsplit("/", 1)[1] for e in out["extension"]] == [
        "CodigoPaises", "ext-edad-declarada"]
    stated = {e["url"]: e for e in out["extension"][1]["extension"]}
    assert stated["edad"]["valueAge"]["value"] == 34
    shift = deid.shift("Patient/p1")
    assert stated["fecha"]["valueDate"] == \
        date.fromordinal(date(2025, 3, 2).toordinal() + shift).isoformat()
    assert out["managingOrganization"] == {"reference": "Organization/linea-1455"}
    text = orjson.dumps(out).decode()
    for secret in ("12345678-5", "Roxana", "Silva", "Olguín", "968519486", "Vicuña",
                   "8240000", "Hermana", "día", "p0", "1988-05-29", "Fono"):
        assert secret not in text
    assert validate_structure(out) == []


def test_a_record_links_to_her_pseudonym_and_keeps_institutions_and_coded_facts(deid):
    out = deid.resource(INCIDENT)
    assert out["subject"] == {"reference": f"Patient/{deid.pseudonym('Patient', 'p1')}"}
    aggressor = deid.pseudonym("RelatedPerson", "r1")
    officer = deid.pseudonym("PractitionerRole", "pr9")
    assert out["focus"] == [{"reference": f"RelatedPerson/{aggressor}"}]
    assert out["performer"] == [{"reference": "Organization/carabineros-13101"},
                                {"reference": f"PractitionerRole/{officer}"}]
    assert out["code"] == {"coding": [{"code": "incidente-violencia"}]}
    assert out["component"] == [{"code": {"coding": [{"code": "comuna-hechos"}]},
                                 "valueCodeableConcept": {"coding": [{"code": "13110"}]}},
                                {"code": {"coding": [{"code": "relato"}]}}]
    assert "note" not in out and "issued" not in out
    shifted = date.fromordinal(date(2025, 3, 1).toordinal() + deid.shift("Patient/p1"))
    assert out["effectiveDateTime"] == shifted.isoformat()
    assert validate_structure(out) == []


def test_her_shift_is_one_for_all_her_records_and_within_a_month(deid):
    shifts = {deid.shift(f"Patient/p{n}") for n in range(200)}
    assert shifts <= set(range(-30, 31)) and len(shifts) > 20
    assert deid.shift("Patient/p1") == deid.shift("Patient/p1")


def test_another_key_gives_other_pseudonyms_and_the_key_never_shows(deid):
    key = os.urandom(32)
    other = Deidentifier(statistics_policy(), key)
    assert other.pseudonym("Patient", "p1") != deid.pseudonym("Patient", "p1")
    assert key.hex() not in repr(other) and repr(key) not in repr(other)
    assert key.hex() not in repr(vars(other).get("policy"))
    with pytest.raises(ValueError):
        Deidentifier(statistics_policy(), b"short")


def test_what_may_not_leave_gives_nothing(deid):
    assert deid.resource({"resourceType": "DocumentReference", "id": "d1",
                          "status": "current"}) is None
    assert deid.resource({**INCIDENT, "meta": {"security": [{"code": "V"}]}}) is None
    assert deid.resource({"resourceType": "Patient"}) is None  # no id


def test_a_birth_date_from_ninety_years_back_is_removed(deid):
    assert "birthDate" not in deid.resource({**SURVIVOR, "birthDate": "1936-01-01"})
    assert deid.resource({**SURVIVOR, "birthDate": "1937-12"})["birthDate"] == "1937"


def test_dates_of_a_record_without_survivor_keep_their_month(deid):
    loose = {k: v for k, v in INCIDENT.items() if k != "subject"}
    assert deid.resource(loose)["effectiveDateTime"] == "2025-03"


def test_references_it_cannot_keep_are_removed(deid):
    out = deid.resource({**INCIDENT, "focus": [{"reference": "urn:uuid:1234"},
                                               {"reference": "#contained"},
                                               {"identifier": {"value": "RUN"}}]})
    assert "focus" not in out
