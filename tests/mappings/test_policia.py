"""The police mapping (``mappings/policia.json``) over the institutions' fixture
``police/denuncias.json`` (Carabineros and PDI VIF complaints with the PUIR): the outcomes
and messy cases of ``shared/fixtures/institutions/README.md`` (sections 6.1 to 6.3), first
through the pure engine, then ingested into a real store (every transaction passes the
guide's strict profiles, and a second run writes nothing)."""

from __future__ import annotations

import copy
import json

import mappings
from mappings.engine import CONTACT, DUPLICATE, INGESTED, REJECTED, resource_id
from server.ingest import ingest
from tests.mappings.records import EXTRACTED, FIXTURES, entry, identifiers, resource

MAPPING = "policia"
FILE = FIXTURES / "police" / "denuncias.json"
RUN = "http://regcivil.cl/Validacion/RUN"
SID = "https://fhir.amparo.cl/sid/"
UNVERIFIED = f"{SID}run-no-verificado"
SECOND_SURNAME = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/SegundoApellido"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
FIREARMS = "https://fhir.amparo.cl/StructureDefinition/ext-acceso-armas"
VCM = "https://fhir.amparo.cl/CodeSystem/observacion-vcm"
FORMS = "https://fhir.amparo.cl/CodeSystem/formas-violencia"
#: Items that are the same woman as an earlier item (README 6.2: S03, S01, S12).
REPEATED = {6: 1, 11: 3, 18: 4}


def item(results: list[mappings.Result], position: int) -> mappings.Result:
    return results[position - 1]


def components(incident: dict) -> dict[str, object]:
    """The incident's components by code: a form of violence is True, the others their
    value's code (or boolean)."""
    found: dict[str, object] = {}
    for component in incident["component"]:
        code = component["code"]["coding"][0]["code"]
        assert code not in found, f"{code} twice"
        found[code] = component["valueCodeableConcept"]["coding"][0]["code"] \
            if "valueCodeableConcept" in component else component["valueBoolean"]
    return found


# -- the engine alone ----------------------------------------------------------------------

def test_every_complaint_is_ingested(results: list[mappings.Result]) -> None:
    """Section 6.1: 25 records, 25 ingested; each a transaction with her, the complaint,
    the accused and the incident, and the PUIR where it was applied."""
    assert len(results) == 25
    assert [r.outcome for r in results] == [INGESTED] * 25, \
        [(r.position, r.outcome, r.reason) for r in results if r.outcome != INGESTED]
    assert len({r.key for r in results}) == 25
    for result in results:
        types = sorted(e["resource"]["resourceType"] for e in result.bundle["entry"])
        expected = ["Encounter", "Observation", "Patient", "Provenance", "RelatedPerson",
                    "RiskAssessment"]
        if result.position in (16, 21):  # the PUIR was not applied
            expected.remove("RiskAssessment")
        assert types == expected, result.position


def test_the_warnings(results: list[mappings.Result]) -> None:
    """Item 5: the place's CUT is null (the comuna is found by its name, and flagged);
    items 7 and 18: the accused's RUN has a wrong check digit."""
    warned = {r.position: [(i.field, i.severity) for i in r.issues] for r in results if r.issues}
    assert warned == {5: [("comunaHechos", "warning")], 7: [("agresorRun", "warning")],
                      18: [("agresorRun", "warning")]}
    assert "41290833-6" in item(results, 7).issues[0].message
    assert "QUILICURA" in item(results, 5).issues[0].message


def test_a_null_cut_keeps_the_comuna_by_name(results: list[mappings.Result]) -> None:
    incident = resource(item(results, 5), "Observation")
    assert components(incident)["comuna-hechos"] == "13125"
    (address,) = resource(item(results, 5), "Patient")["address"]  # her home has its CUT
    assert address["_city"]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] \
        == "13125"


def test_a_mistyped_accused_run_is_unverified(results: list[mappings.Result]) -> None:
    """Item 7: ``41290833-6`` is kept under its own system, never as a RUN."""
    aggressor = resource(item(results, 7), "RelatedPerson")
    assert identifiers(aggressor) == {UNVERIFIED: "41290833-6"}
    assert aggressor["identifier"][0]["use"] == "secondary"
    assert aggressor["name"][0]["family"] == "Núñez"
    assert aggressor["birthDate"] == "1984-08-18"


def test_the_same_accused_by_his_run(results: list[mappings.Result]) -> None:
    """A2 (items 1, 6, 15, the last with ``PERES``) and A1 (3, 11, 20); G12's item 18
    has his RUN mistyped and keeps only his name and birth date to link him."""
    for positions, run in (((1, 6, 15), "42420775-6"), ((3, 11, 20), "41637290-K")):
        for position in positions:
            aggressor = resource(item(results, position), "RelatedPerson")
            assert identifiers(aggressor) == {RUN: run}, position
    assert resource(item(results, 15), "RelatedPerson")["name"][0]["_family"] == {
        "extension": [{"url": SECOND_SURNAME, "valueString": "Peres"}]}
    first, mistyped = (resource(item(results, n), "RelatedPerson") for n in (4, 18))
    assert identifiers(first) == {RUN: "40380821-0"}
    assert identifiers(mistyped) == {UNVERIFIED: "40380821-3"}
    assert first["birthDate"] == mistyped["birthDate"] == "1970-06-06"
    assert first["name"] == mistyped["name"]


def test_the_aggressor(results: list[mappings.Result]) -> None:
    """Item 3 (A1 against S01): relationship by the ConceptMap, names, birth date, the
    survivor he relates to, and the incident's focus."""
    result = item(results, 3)
    found = entry(result, "RelatedPerson")
    aggressor = found["resource"]
    assert aggressor["relationship"][0]["coding"][0]["code"] == "conviviente"
    assert aggressor["name"] == [{"use": "official", "family": "Muñoz", "_family": {
        "extension": [{"url": SECOND_SURNAME, "valueString": "Soto"}]},
        "given": ["Cristián", "Andrés"]}]
    assert aggressor["gender"] == "male"
    assert aggressor["birthDate"] == "1988-09-03"
    assert aggressor["patient"]["reference"] == entry(result, "Patient")["fullUrl"]
    assert resource(result, "Observation")["focus"] == [{"reference": found["fullUrl"]}]
    assert resource(item(results, 16), "RelatedPerson")["relationship"][0]["coding"][0][
        "code"] == "hijo"


def test_a_firearm(results: list[mappings.Result]) -> None:
    """Item 8: the accused carried a revolver (``porta_armas``): access to firearms on him,
    a firearm in the incident. Elsewhere the PUIR's P05 says whether he has access."""
    result = item(results, 8)
    (access,) = resource(result, "RelatedPerson")["extension"]
    assert access["url"] == FIREARMS
    assert access["valueCodeableConcept"]["coding"][0]["code"] == "Y"
    assert components(resource(result, "Observation"))["arma"] == "arma-fuego"
    assert all("arma" not in components(resource(r, "Observation"))
               for r in results if r.position != 8)
    codes = {n: [e["valueCodeableConcept"]["coding"][0]["code"]
                 for e in resource(item(results, n), "RelatedPerson").get("extension", [])]
             for n in (1, 2, 16)}
    assert codes == {1: ["asked-unknown"], 2: ["N"], 16: []}  # P05 NS, NO, not applied


def test_a_passport_identifies_her(results: list[mappings.Result]) -> None:
    """Item 12: no RUN, passport VEN ``134598762``, by the guide's system for its issuing
    country (CodPais 862, as the health and SernamEG mappings name it); the accused too."""
    found = entry(item(results, 12), "Patient")
    passport = f"{SID}pasaporte/862"
    assert identifiers(found["resource"]) == {passport: "134598762"}
    assert found["request"]["ifNoneExist"] == f"identifier={passport}|134598762"
    (identifier,) = found["resource"]["identifier"]
    assert identifier["type"]["coding"][0]["code"] == "PPN"
    nationality = found["resource"]["extension"][0]
    assert nationality["valueCodeableConcept"]["coding"][0]["code"] == "862"
    assert identifiers(resource(item(results, 12), "RelatedPerson")) == {passport: "112873390"}


def test_mixed_case_names(results: list[mappings.Result]) -> None:
    """Item 14: ``  priscila ANDREA`` ``cortés `` ``Godoy``."""
    (name,) = resource(item(results, 14), "Patient")["name"]
    assert name == {"use": "official", "family": "Cortés", "_family": {
        "extension": [{"url": SECOND_SURNAME, "valueString": "Godoy"}]},
        "given": ["Priscila", "Andrea"]}


def test_every_survivor(results: list[mappings.Result]) -> None:
    """Conditional create on her valid RUN (every item but 12); names, birth date,
    gender, home comuna (CUT), phone when there is one, the age she stated that day."""
    for result in results:
        found = entry(result, "Patient")
        patient = found["resource"]
        assert found["request"]["method"] == "POST"
        assert patient["gender"] == "female"
        assert patient["birthDate"]
        (address,) = patient["address"]
        assert address["_city"]["extension"][0]["url"] == COMUNA
        if result.position != 12:
            run = identifiers(patient)[RUN]
            assert found["request"]["ifNoneExist"] == f"identifier={RUN}|{run}"
    s01 = resource(item(results, 3), "Patient")
    assert identifiers(s01) == {RUN: "41382204-1"}
    assert s01["birthDate"] == "1992-04-17"
    assert s01["telecom"] == [{"system": "phone", "value": "+56981234501", "use": "mobile"}]
    assert s01["address"][0]["city"] == "La Florida"
    age = next(e for e in s01["extension"] if e["url"].endswith("ext-edad-declarada"))
    assert [p.get("valueAge", {}).get("value") or p.get("valueDate") for p in age["extension"]] \
        == [32, "2025-03-08"]
    assert "telecom" not in resource(item(results, 2), "Patient")  # no phone: none made up


def test_the_same_woman_is_the_same_conditional(results: list[mappings.Result]) -> None:
    for later, earlier in REPEATED.items():
        assert entry(item(results, later), "Patient")["request"]["ifNoneExist"] == \
            entry(item(results, earlier), "Patient")["request"]["ifNoneExist"]


def test_the_complaint(results: list[mappings.Result]) -> None:
    """The contact: a ``denuncia`` at ``fecha_denuncia``, by the national institution of
    the record (item 9 is the PDI's), with the unit named, the RUC and the incident."""
    result = item(results, 9)
    encounter = resource(result, "Encounter")
    assert encounter["type"][0]["coding"][0]["code"] == "denuncia"
    assert encounter["period"] == {"start": "2025-06-19T11:15:00-04:00"}
    assert encounter["serviceProvider"] == {
        "reference": "Organization/pdi",
        "display": "Policía de Investigaciones de Chile, Brigada de Investigación Criminal "
                   "Padre Las Casas"}
    assert identifiers(encounter) == {f"{SID}contacto": "PDI-2025-09112-000077",
                                      f"{SID}ruc": "2501459931-5"}
    assert encounter["subject"]["reference"] == entry(result, "Patient")["fullUrl"]
    assert encounter["reasonReference"] == [{"reference": entry(result, "Observation")["fullUrl"]}]
    assert {resource(r, "Encounter")["serviceProvider"]["reference"] for r in results} == {
        "Organization/carabineros", "Organization/pdi"}
    (agent,) = resource(result, "Provenance")["agent"]
    assert agent["who"] == {"reference": "Organization/pdi"}


def test_the_incident(results: list[mappings.Result]) -> None:
    """Dated ``fecha_hechos``; item 4 (habitual abuse, ``fecha_hechos`` null) at
    ``fecha_denuncia``. The forms are the officer's ``tipo_maltrato``."""
    result = item(results, 3)
    incident = resource(result, "Observation")
    assert incident["effectiveDateTime"] == "2025-03-08T21:30:00-03:00"
    assert incident["issued"] == "2025-03-08T23:10:00-03:00"
    assert incident["performer"][0]["reference"] == "Organization/carabineros"
    assert incident["encounter"]["reference"] == entry(result, "Encounter")["fullUrl"]
    assert components(incident) == {"fisica": True, "psicologica": True,
                                    "comuna-hechos": "13110", "lugar-hechos": "domicilio",
                                    "lesiones-visibles": True}
    assert all(c["code"]["coding"][0]["system"] in (FORMS, VCM) for c in incident["component"])
    habitual = resource(item(results, 4), "Observation")
    assert habitual["effectiveDateTime"] == habitual["issued"] == "2025-03-27T17:05:00-03:00"
    assert components(habitual) == {"psicologica": True, "economica": True,
                                    "comuna-hechos": "10101", "lugar-hechos": "domicilio",
                                    "lesiones-visibles": False}


def test_the_puir(results: list[mappings.Result]) -> None:
    """The level through ``policia-nivel-riesgo`` (``VITAL/ALTO`` is one level), the score
    as reported, dated ``fecha_aplicacion``, by the institution of the record."""
    levels = {r.position: resource(r, "RiskAssessment")["prediction"][0]["qualitativeRisk"][
        "coding"][0]["code"] for r in results if entry(r, "RiskAssessment")}
    assert {p: levels[p] for p in (1, 3, 8, 23)} == {
        1: "bajo", 3: "medio", 8: "vital-alto", 23: "vital-alto"}
    result = item(results, 11)
    assessment = resource(result, "RiskAssessment")
    assert assessment["method"]["coding"][0]["code"] == "puir"
    assert assessment["occurrenceDateTime"] == "2025-08-23T23:55:00-04:00"
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in assessment["extension"]}
    assert extensions["ext-nivel-instrumento"]["valueCoding"]["code"] == "vital-alto"
    assert extensions["ext-puntaje-riesgo"]["valueDecimal"] == 24
    assert extensions["ext-institucion-evaluadora"]["valueReference"]["reference"] == \
        "Organization/carabineros"
    assert assessment["encounter"]["reference"] == entry(result, "Encounter")["fullUrl"]
    assert assessment["basis"] == [{"reference": entry(result, "Observation")["fullUrl"]}]


def test_no_assessment_when_the_puir_was_not_applied(results: list[mappings.Result]) -> None:
    """Item 21: the victim refused it; item 16: her son is no partner (no PUIR)."""
    for position in (16, 21):
        assert entry(item(results, position), "RiskAssessment") is None
        assert entry(item(results, position), "Observation") is not None


def test_the_other_outcomes(mapping: dict, data: bytes) -> None:
    """What the fixture does not exercise, on copies of item 1: a re-exported record is a
    duplicate; a future date or a missing victim rejects it; a victim with neither a RUN,
    a passport nor a surname leaves the complaint as a contact only; a code no ConceptMap
    knows is a warning."""
    first = json.loads(data)[0]
    future = copy.deepcopy(first) | {"id_registro": "CAR-2062-13119-000001",
                                     "fecha_hechos": "2062-03-15T10:00:00-03:00"}
    victimless = copy.deepcopy(first) | {"id_registro": "CAR-2025-13119-000002"}
    del victimless["victima"]
    unnamed = copy.deepcopy(first) | {"id_registro": "CAR-2025-13119-000003"}
    unnamed["victima"].update(run=None, dv=None, apellido_paterno=None)
    unknown = copy.deepcopy(first) | {"id_registro": "CAR-2025-13119-000004",
                                      "tipo_maltrato": ["PSICOLOGICO", "DIGITAL"]}
    records = [first, first, future, victimless, unnamed, unknown]
    found = list(mappings.convert(mapping, json.dumps(records).encode(), "x.json",
                                  extracted=EXTRACTED))
    assert [r.outcome for r in found] == [INGESTED, DUPLICATE, REJECTED, REJECTED, CONTACT,
                                          INGESTED]
    assert [i.field for i in found[2].issues] == ["hechos"]
    assert [i.field for i in found[3].issues] == ["victima"]
    assert sorted(e["resource"]["resourceType"] for e in found[4].bundle["entry"]) == [
        "Encounter", "Provenance"]
    assert "subject" not in resource(found[4], "Encounter")
    assert [(i.field, i.severity) for i in found[5].issues] == [("formas", "warning")]
    assert components(resource(found[5], "Observation"))["psicologica"] is True


def test_ids_are_deterministic(mapping: dict, data: bytes,
                               results: list[mappings.Result]) -> None:
    """A second run gives the same bundles but for Provenance.recorded (the instant)."""
    again = list(mappings.convert(mapping, data, "denuncias.json", extracted=EXTRACTED))

    def stable(bundle: dict) -> dict:
        for e in bundle["entry"]:
            if e["resource"]["resourceType"] == "Provenance":
                e["resource"].pop("recorded")
        return bundle
    for one, other in zip(results, again, strict=True):
        assert stable(one.bundle) == stable(other.bundle)
    encounter = entry(item(results, 1), "Encounter")
    assert encounter["resource"]["id"] == resource_id(mapping, "CAR-2025-13119-000337",
                                                      "contacto")


# -- ingested into a store -----------------------------------------------------------------

def test_ingested_and_again_changes_nothing(stored, mapping: dict, data: bytes) -> None:
    """Every transaction passes the strict profiles; the repeated women (S01, S03, S12)
    are found again by their RUN; re-running the file writes no new version."""
    store, settings = stored
    summary = ingest(store, settings, mapping, data, "denuncias.json", extracted=EXTRACTED)
    assert summary.counts[INGESTED] == 25, \
        [(r.position, r.reason) for r in summary.results if r.outcome == REJECTED]
    assert summary.counts[REJECTED] == 0
    assert store.count("Patient") == 25 - len(REPEATED)
    assert store.count("Encounter") == store.count("Observation") == 25
    assert store.count("RelatedPerson") == 25
    assert store.count("RiskAssessment") == 23
    versions = store.version_count()
    again = ingest(store, settings, mapping, data, "denuncias.json", extracted=EXTRACTED)
    assert again.counts[INGESTED] == 25 and again.counts[REJECTED] == 0
    assert store.version_count() == versions
    assert store.count("Patient") == 25 - len(REPEATED)
