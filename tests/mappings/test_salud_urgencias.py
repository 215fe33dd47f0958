"""The public hospitals' ER mapping (``mappings/salud-urgencias.json``) over the
institutions' fixture ``health/urgencias.hl7`` (HL7 v2.5 ``ADT^A04``): the outcomes and
messy cases of ``shared/fixtures/institutions/README.md`` (sections 5.1, 6.1 and 6.2),
first through the pure engine, then ingested into a real store (every transaction passes
the guide's profiles, and a second run writes nothing)."""

from __future__ import annotations

import mappings
from mappings.engine import CONTACT, DUPLICATE, INGESTED, OUT_OF_SCOPE, REJECTED, resource_id
from mappings.readers import read
from server.ingest import ingest
from tests.mappings.records import EXTRACTED, FIXTURES, entry, identifiers, resource

MAPPING = "salud-urgencias"
FILE = FIXTURES / "health" / "urgencias.hl7"
RUN = "http://regcivil.cl/Validacion/RUN"
UNVERIFIED = "https://fhir.amparo.cl/sid/run-no-verificado"
SID = "https://fhir.amparo.cl/sid/"
SECOND_SURNAME = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/SegundoApellido"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
NATIONALITY = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/CodigoPaises"
FORMS = "https://fhir.amparo.cl/CodeSystem/formas-violencia"


def message(results: list[mappings.Result], position: int) -> mappings.Result:
    return results[position - 1]


def forms(incident: dict) -> list[str]:
    return [c["code"]["coding"][0]["code"] for c in incident["component"]
            if c["code"]["coding"][0]["system"] == FORMS]


def warnings(result: mappings.Result) -> list[str]:
    return [i.field for i in result.issues if i.severity == "warning"]


# -- outcomes (README 6.1) -----------------------------------------------------------------

def test_outcomes(results: list[mappings.Result]) -> None:
    """15 messages: 13 ingested, message 5 a re-send of message 2, message 12 a fall at
    home with no VAW evidence."""
    assert len(results) == 15
    outcomes = {r.position: r.outcome for r in results}
    assert outcomes.pop(5) == DUPLICATE
    assert outcomes.pop(12) == OUT_OF_SCOPE
    assert set(outcomes.values()) == {INGESTED}
    assert message(results, 5).key == message(results, 2).key == "HEC-20250503-001407"
    assert message(results, 5).bundle is None and message(results, 12).bundle is None
    assert not any(r.outcome in (CONTACT, REJECTED) for r in results)


def test_only_the_wrong_check_digit_warns(results: list[mappings.Result]) -> None:
    assert {r.position: warnings(r) for r in results if r.issues} == {4: ["run"]}


# -- the survivor --------------------------------------------------------------------------

def test_a_valid_run_identifies_her(results: list[mappings.Result]) -> None:
    found = entry(message(results, 1), "Patient")
    patient = found["resource"]
    assert identifiers(patient) == {RUN: "41382204-1",
                                    SID + "institucion/hlf/persona": "00812345"}
    assert found["request"] == {"method": "POST", "url": "Patient",
                                "ifNoneExist": f"identifier={RUN}|41382204-1"}
    name = patient["name"][0]
    assert (name["use"], name["family"], name["given"]) == ("official", "Rojas",
                                                           ["Camila", "Andrea"])
    assert name["_family"]["extension"] == [{"url": SECOND_SURNAME, "valueString": "Fuentes"}]
    assert patient["birthDate"] == "1992-04-17" and patient["gender"] == "female"
    assert patient["telecom"] == [{"system": "phone", "value": "+56981234501", "use": "mobile"}]
    coding = patient["address"][0]["_city"]["extension"][0]["valueCodeableConcept"]["coding"]
    assert patient["address"][0]["_city"]["extension"][0]["url"] == COMUNA
    assert coding[0]["code"] == "13110" and patient["address"][0]["city"] == "La Florida"
    assert patient["extension"][0]["url"] == NATIONALITY
    assert patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "152"


def test_a_wrong_check_digit_is_kept_unverified(results: list[mappings.Result]) -> None:
    """S09: the hospital sends 41127350-7 (the right one is -4): an unverified RUN with a
    warning, never a certain identifier; she is found again by her record number."""
    result = message(results, 4)
    assert result.outcome == INGESTED
    assert any("41127350-7" in i.message and "no verificado" in i.message
               for i in result.issues if i.field == "run")
    found = entry(result, "Patient")
    assert identifiers(found["resource"]) == {UNVERIFIED: "41127350-7",
                                              SID + "institucion/hggb/persona": "00344102"}
    assert found["request"]["ifNoneExist"] == \
        f"identifier={SID}institucion/hggb/persona|00344102"


def test_a_run_with_dots_is_normalised(results: list[mappings.Result]) -> None:
    found = entry(message(results, 9), "Patient")
    assert identifiers(found["resource"])[RUN] == "43295810-8"
    assert found["request"]["ifNoneExist"] == f"identifier={RUN}|43295810-8"


def test_a_passport_identifies_her(results: list[mappings.Result]) -> None:
    """S20: ``134598762^^^VEN^PPN``, the country as CodPais (862), as every mapping writes
    it, so the police complaint finds the same woman."""
    found = entry(message(results, 8), "Patient")
    patient = found["resource"]
    assert RUN not in identifiers(patient)
    assert identifiers(patient)[SID + "pasaporte/862"] == "134598762"
    assert found["request"]["ifNoneExist"] == f"identifier={SID}pasaporte/862|134598762"
    assert patient["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] == "862"


def test_the_unidentified_woman_is_her_own_survivor(results: list[mappings.Result]) -> None:
    """Message 15, ``NN^MUJER`` (name type U), record number only (rule 5.2(4))."""
    found = entry(message(results, 15), "Patient")
    patient = found["resource"]
    assert patient["identifier"] == [{
        "use": "usual", "system": SID + "institucion/hblt/persona", "value": "00987654",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                             "code": "MR", "display": "Medical record number"}]}}]
    assert found["request"]["ifNoneExist"] == \
        f"identifier={SID}institucion/hblt/persona|00987654"
    assert patient["name"] == [{"use": "anonymous", "text": "NN"}]
    assert not {"birthDate", "telecom", "address", "extension"} & set(patient)
    assert resource(message(results, 15), "RelatedPerson") is None  # NO_REFIERE, Y07.9


def test_names_as_the_hospital_writes_them(results: list[mappings.Result]) -> None:
    """S05: ``CASTRO^FERNANDA^YGNACIA``, PID-6 ``MUNOZ`` (the RUN decides, not the name)."""
    patient = resource(message(results, 3), "Patient")
    assert patient["name"][0]["family"] == "Castro"
    assert patient["name"][0]["given"] == ["Fernanda", "Ygnacia"]
    assert patient["name"][0]["_family"]["extension"][0]["valueString"] == "Munoz"
    assert identifiers(patient)[RUN] == "43711092-1"


# -- the visit, the incident, the aggressor ------------------------------------------------

def test_the_visit_is_an_emergency_contact(results: list[mappings.Result]) -> None:
    result = message(results, 1)
    encounter = resource(result, "Encounter")
    assert encounter["type"][0]["coding"][0]["code"] == "atencion-urgencia"
    assert encounter["class"]["code"] == "EMER"
    assert encounter["period"] == {"start": "2025-03-09T00:20:00-03:00",
                                   "end": "2025-03-09T03:45:00-03:00"}
    assert encounter["subject"]["reference"] == entry(result, "Patient")["fullUrl"]
    assert {"system": SID + "institucion/hlf/dau", "value": "DAU-2025-0000218"} in \
        encounter["identifier"]
    assert encounter["reasonReference"] == [{"reference": entry(result, "Observation")["fullUrl"]}]


def test_winter_time_keeps_its_offset(results: list[mappings.Result]) -> None:
    assert resource(message(results, 2), "Observation")["effectiveDateTime"] == \
        "2025-05-03T21:40:00-04:00"


def test_the_incident(results: list[mappings.Result]) -> None:
    result = message(results, 1)
    incident = resource(result, "Observation")
    assert incident["effectiveDateTime"] == "2025-03-09T00:20:00-03:00"
    assert incident["encounter"]["reference"] == entry(result, "Encounter")["fullUrl"]
    assert incident["focus"] == [{"reference": entry(result, "RelatedPerson")["fullUrl"]}]
    assert forms(incident) == ["fisica", "psicologica"]
    place = [c for c in incident["component"] if c["code"]["coding"][0]["code"] == "lugar-hechos"]
    assert place[0]["valueCodeableConcept"]["coding"][0]["code"] == "domicilio"  # Y04.0


def test_forms_of_violence_from_zvg_and_cie10_once_each(
        results: list[mappings.Result]) -> None:
    """Message 3: ZVG ``SEXUAL~PSICOLOGICA``, and T74.2, Y05.0 and Z04.4 all say sexual."""
    assert forms(resource(message(results, 3), "Observation")) == ["sexual", "psicologica"]
    assert forms(resource(message(results, 15), "Observation")) == ["fisica"]


def test_the_aggressor_relationship(results: list[mappings.Result]) -> None:
    """ZVG-4 decides (message 2 is an ex-partner coded Y07.8; message 7 one coded Y07.0)."""
    for position, code in ((1, "pareja"), (2, "ex-pareja"), (7, "ex-pareja")):
        result = message(results, position)
        aggressor = resource(result, "RelatedPerson")
        assert aggressor["relationship"][0]["coding"][0]["code"] == code
        assert aggressor["patient"]["reference"] == entry(result, "Patient")["fullUrl"]
        assert "name" not in aggressor  # the message says nothing of who he is


def test_the_hospital_of_each_message(results: list[mappings.Result]) -> None:
    """The directory's hospital (found by its network identifier, added when missing) is
    the contact's provider, the incident's performer and the Provenance's agent."""
    for position, network in ((1, "salud-urgencia-13110"), (8, "salud-urgencia-13101-2"),
                              (15, "salud-urgencia-13130")):
        result = message(results, position)
        found = entry(result, "Organization")
        assert found["request"]["ifNoneExist"] == f"identifier={SID}institucion|{network}"
        assert found["resource"]["type"][0]["coding"][0]["code"] == "salud-urgencia"
        assert resource(result, "Encounter")["serviceProvider"]["reference"] == \
            found["fullUrl"]
        assert resource(result, "Observation")["performer"][0]["reference"] == \
            found["fullUrl"]
        assert resource(result, "Provenance")["agent"][0]["who"] == \
            {"reference": found["fullUrl"]}
    assert resource(message(results, 15), "Organization")["name"] == \
        "Hospital Barros Luco Trudeau"


def test_ids_are_deterministic(mapping: dict, data: bytes,
                               results: list[mappings.Result]) -> None:
    again = list(mappings.convert(mapping, data, "urgencias.hl7", extracted=EXTRACTED))
    for one, other in zip(results, again, strict=True):
        assert (one.bundle is None) == (other.bundle is None)
        if one.bundle is not None:
            assert [e["fullUrl"] for e in one.bundle["entry"]] == \
                [e["fullUrl"] for e in other.bundle["entry"]]
    assert resource(message(results, 1), "Encounter")["id"] == \
        resource_id(mapping, "HLF-20250309-000218", "contacto")
    assert resource(message(results, 7), "Encounter")["id"] != \
        resource(message(results, 1), "Encounter")["id"]


# -- the rules on messages the fixture does not have ---------------------------------------

def _first(data: bytes) -> str:
    """Message 1 (S01 at La Florida), to alter."""
    return "MSH|" + data.decode().split("MSH|")[1]


def _one(mapping: dict, text: str) -> mappings.Result:
    [result] = mappings.convert(mapping, text.encode(), "prueba.hl7", extracted=EXTRACTED)
    return result


def test_a_message_without_pv1_is_rejected(mapping: dict, data: bytes) -> None:
    text = "\r".join(s for s in _first(data).split("\r") if not s.startswith("PV1|"))
    result = _one(mapping, text)
    assert result.outcome == REJECTED and result.bundle is None
    assert {i.field for i in result.issues if i.severity == "error"} == {"pv1", "llegada"}


def test_a_future_arrival_is_rejected(mapping: dict, data: bytes) -> None:
    result = _one(mapping, _first(data).replace("|20250309002000-0300|", "|20620309002000-0300|"))
    assert result.outcome == REJECTED and "posterior a la extracción" in result.reason


def test_a_vaw_diagnosis_is_in_scope_without_zvg(mapping: dict, data: bytes) -> None:
    text = "\r".join(s for s in _first(data).split("\r") if not s.startswith("ZVG|"))
    result = _one(mapping, text)
    assert result.outcome == INGESTED
    assert forms(resource(result, "Observation")) == ["fisica"]  # T74.1, Y04.0
    assert resource(result, "RelatedPerson")["relationship"][0]["coding"][0]["code"] == \
        "pareja"  # Y07.0
    no_evidence = "\r".join(s for s in text.split("\r")
                            if not s.startswith(("DG1|3|", "DG1|4|")))
    assert _one(mapping, no_evidence).outcome == OUT_OF_SCOPE


def test_a_hospital_the_mapping_does_not_know(mapping: dict, data: bytes) -> None:
    result = _one(mapping, _first(data).replace("|HLF^114110^DEIS|", "|HXX^999999^DEIS|"))
    assert result.outcome == INGESTED and warnings(result) == ["hospital"]
    assert resource(result, "Organization") is None
    assert resource(result, "Encounter")["serviceProvider"] == {"display": "HXX"}
    assert resource(result, "Provenance")["agent"][0]["who"] == \
        {"reference": f"Organization/{mapping['institution']}"}


def test_hl7_repetitions_by_type_and_all_of_them() -> None:
    text = ("MSH|^~\\&|A|B|C|D|20250101000000-0300||ADT^A04|X1|P|2.5\r"
            "PID|1||00123^^^HX^MR~12.345.678-5^^^SRCEI^NNCHL||A^B\r"
            "ZVG|1|S|FISICA~~SEXUAL|PAREJA")
    [record] = read({"format": "hl7v2"}, text.encode())
    assert record.get("PID.F3[C5=NNCHL].C1") == "12.345.678-5"
    assert record.get("PID.F3[C5=MR].C4") == "HX"
    assert record.get("PID.F3[C5=MR]") == "00123"
    assert record.get("PID.F3[C5=PPN].C1") is None
    assert record.get("ZVG.F3.R*") == "FISICA,SEXUAL"
    assert record.get("ZVG.F4.R*") == "PAREJA"
    assert record.get("ZVG.F9.R*") is None


# -- ingested into a store -----------------------------------------------------------------

def test_ingested_and_again_changes_nothing(stored, mapping: dict, data: bytes) -> None:
    """Every transaction passes the strict profiles; the two hospitals the directory lacks
    are added once; one Patient per woman (S01 came twice); re-running the file writes no
    new version."""
    store, settings = stored
    organizations = store.count("Organization")
    summary = ingest(store, settings, mapping, data, "urgencias.hl7", extracted=EXTRACTED)
    assert summary.counts[INGESTED] == 13, \
        [(r.position, r.reason) for r in summary.results if r.outcome == REJECTED]
    assert summary.counts[REJECTED] == 0
    assert summary.counts[DUPLICATE] == summary.counts[OUT_OF_SCOPE] == 1
    assert store.count("Organization") == organizations + 2  # El Pino, Barros Luco
    assert store.count("Patient") == 12
    assert store.count("Encounter") == store.count("Observation") == 13
    assert store.count("RelatedPerson") == 12  # not the NN woman's
    versions = store.version_count()
    again = ingest(store, settings, mapping, data, "urgencias.hl7", extracted=EXTRACTED)
    assert again.counts[INGESTED] == 13 and again.counts[REJECTED] == 0
    assert store.version_count() == versions
    assert store.count("Patient") == 12 and store.count("Organization") == organizations + 2
