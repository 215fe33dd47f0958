"""The SernamEG Centros de la Mujer mapping (``mappings/sernameg-cdm.json``) over the
institutions' fixture ``sernameg/ingresos.csv``: the outcomes and messy cases of
``shared/fixtures/institutions/README.md`` (sections 6.1 and 6.2), first through the pure
engine, then ingested into a real store (every transaction passes the guide's profiles,
and a second run writes nothing)."""

from __future__ import annotations

import mappings
from mappings.engine import INGESTED, REJECTED, resource_id
from server.ingest import ingest
from server.synth.institutions import catalogue
from tests.mappings.records import EXTRACTED, FIXTURES, entry, identifiers

MAPPING = "sernameg-cdm"
FILE = FIXTURES / "sernameg" / "ingresos.csv"
RUN = "http://regcivil.cl/Validacion/RUN"
SID = "https://fhir.amparo.cl/sid/"
SECOND_SURNAME = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/SegundoApellido"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
PUEBLO = "https://fhir.amparo.cl/StructureDefinition/ext-pueblo-originario"


def row(results: list[mappings.Result], position: int) -> mappings.Result:
    return results[position - 1]


def survivor(result: mappings.Result) -> dict:
    return entry(result, "Patient")["resource"]


# -- the engine alone ----------------------------------------------------------------------

def test_every_intake_is_ingested(results: list[mappings.Result]) -> None:
    """Section 6.1: 20 records, 20 ingested (no duplicate, none out of scope or rejected),
    each one a transaction with her, the intake and the centre."""
    assert len(results) == 20
    assert [r.outcome for r in results] == [INGESTED] * 20, \
        [(r.position, r.outcome, r.reason) for r in results if r.outcome != INGESTED]
    assert len({r.key for r in results}) == 20
    assert all(r.key.startswith("CDM-") for r in results)
    for result in results:
        types = sorted(e["resource"]["resourceType"] for e in result.bundle["entry"])
        assert types == ["Encounter", "Organization", "Patient", "Provenance", "RelatedPerson",
                         "RiskAssessment"], result.position


def test_only_the_future_birth_date_warns(results: list[mappings.Result]) -> None:
    warned = {r.position: [(i.field, i.severity) for i in r.issues] for r in results if r.issues}
    assert warned == {10: [("nacimiento", "warning")]}


def test_a_future_birth_date_is_dropped_with_a_warning(results: list[mappings.Result]) -> None:
    """Row 10: ``fecha_nacimiento`` 08-11-2096, a typo; she is still ingested."""
    result = row(results, 10)
    assert "2096-11-08" in result.issues[0].message
    patient = survivor(result)
    assert "birthDate" not in patient
    assert identifiers(patient) == {RUN: "42851776-8"}


def test_missing_birth_date_and_phone(results: list[mappings.Result]) -> None:
    """Row 11: nothing is made up for what is not there (no empty telecom either)."""
    patient = survivor(row(results, 11))
    assert "birthDate" not in patient and "telecom" not in patient
    assert patient["name"][0]["given"] == ["Evelyn", "Johanna"]
    age = next(e for e in patient["extension"] if e["url"].endswith("ext-edad-declarada"))
    assert [p.get("valueAge", {}).get("value") or p.get("valueDate") for p in age["extension"]] \
        == [37, "2025-11-20"]


def test_a_passport_identifies_her(results: list[mappings.Result]) -> None:
    """Row 14: passport COL ``AT742615``, by the guide's system for its issuing country
    (CodPais 170), and the conditional create is on it."""
    found = entry(row(results, 14), "Patient")
    passport = f"{SID}pasaporte/170"
    assert identifiers(found["resource"]) == {passport: "AT742615"}
    assert found["request"]["ifNoneExist"] == f"identifier={passport}|AT742615"
    (identifier,) = found["resource"]["identifier"]
    assert identifier["type"]["coding"][0]["code"] == "PPN"


def test_lowercase_check_digit_and_uppercase_names(results: list[mappings.Result]) -> None:
    """Row 19: RUN ``41.580.007-k``, names ``MACARENA ISABEL `` ``PINO`` ``CÁRDENAS``."""
    found = entry(row(results, 19), "Patient")
    assert found["request"]["ifNoneExist"] == f"identifier={RUN}|41580007-K"
    (name,) = found["resource"]["name"]
    assert name["given"] == ["Macarena", "Isabel"]
    assert name["family"] == "Pino"
    assert name["_family"]["extension"] == [{"url": SECOND_SURNAME, "valueString": "Cárdenas"}]


def test_comuna_resolved_by_name(results: list[mappings.Result]) -> None:
    """Row 20: ``rancagua `` without its CUT."""
    (address,) = survivor(row(results, 20))["address"]
    assert address["city"] == "Rancagua"
    (comuna,) = address["_city"]["extension"]
    assert comuna["url"] == COMUNA
    assert comuna["valueCodeableConcept"]["coding"][0]["code"] == "06101"


def test_a_surname_is_kept_as_written(results: list[mappings.Result]) -> None:
    """Row 1: ``Gonzalez`` without its accent (linkage tolerates it; the mapping does not
    correct it), the dotted RUN in normal form."""
    patient = survivor(row(results, 1))
    assert patient["name"][0]["family"] == "Gonzalez"
    assert identifiers(patient) == {RUN: "40917736-0"}
    assert patient["birthDate"] == "1987-11-02"
    assert patient["telecom"] == [{"system": "phone", "value": "+56972341102", "use": "mobile"}]


def test_a_single_surname(results: list[mappings.Result]) -> None:
    """Row 13: ``Marie-Claude`` ``Joseph``, no second surname."""
    (name,) = survivor(row(results, 13))["name"]
    assert name == {"use": "official", "family": "Joseph", "given": ["Marie-Claude"]}


def test_every_survivor(results: list[mappings.Result]) -> None:
    for result in results:
        found = entry(result, "Patient")
        patient = found["resource"]
        assert patient["gender"] == "female"
        assert found["request"]["method"] == "POST"
        assert found["request"]["ifNoneExist"].startswith("identifier=")
        if result.position != 14:
            run = identifiers(patient)[RUN]
            assert found["request"]["ifNoneExist"] == f"identifier={RUN}|{run}"


def test_indigenous_people(results: list[mappings.Result]) -> None:
    """Row 7 (Mapuche) carries the extension; ``No pertenece`` is no value and no warning."""
    for result in results:
        pueblo = [e for e in survivor(result).get("extension", []) if e["url"] == PUEBLO]
        if result.position == 7:
            assert pueblo[0]["valueCodeableConcept"]["coding"][0]["code"] == "1"
        else:
            assert pueblo == []


def test_the_intake_is_a_contact_not_an_incident(results: list[mappings.Result]) -> None:
    """README 5.4: an intake is a service event. The contact is dated at the intake, given
    by the centre of the record, and the forms of violence are its reasons."""
    result = row(results, 6)  # Valparaíso, "Física, Psicológica, Económica"
    encounter = entry(result, "Encounter")["resource"]
    assert encounter["type"][0]["coding"][0]["code"] == "ingreso-cdm"
    assert encounter["period"] == {"start": "2025-06-19"}
    assert encounter["subject"]["reference"] == entry(result, "Patient")["fullUrl"]
    assert encounter["serviceProvider"]["reference"] == entry(result, "Organization")["fullUrl"]
    assert [c["coding"][0]["code"] for c in encounter["reasonCode"]] == [
        "fisica", "psicologica", "economica"]
    assert encounter["hospitalization"]["admitSource"]["coding"][0]["code"] == "fiscalia"
    assert all(entry(r, "Observation") is None for r in results)


def test_the_centre_of_the_record(results: list[mappings.Result]) -> None:
    """Found in the directory by its network id (``centro-de-la-mujer-<CUT>``), or added."""
    for result in results:
        found = entry(result, "Organization")
        cut = result.key.split("-")[1]
        assert found["request"]["ifNoneExist"] == \
            f"identifier={SID}institucion|centro-de-la-mujer-{cut}"
        assert found["resource"]["name"].startswith("Centro de la Mujer ")


def test_the_risk_assessment(results: list[mappings.Result]) -> None:
    levels = {r.position: entry(r, "RiskAssessment")["resource"] for r in results}
    assert {p: a["prediction"][0]["qualitativeRisk"]["coding"][0]["code"]
            for p, a in levels.items() if p in (1, 2, 6, 12, 14)} == {
        1: "bajo", 2: "medio", 6: "alto", 12: "vital", 14: "alto"}
    assessment = levels[12]
    assert assessment["method"]["coding"][0]["code"] == "pauta-cdm"
    assert assessment["occurrenceDateTime"] == "2025-12-05"
    assert assessment["encounter"]["reference"] == entry(row(results, 12), "Encounter")["fullUrl"]


def test_the_aggressor(results: list[mappings.Result]) -> None:
    """A1 (rows 2 and 17) by his RUN; row 8's has no RUN and is kept by name and
    relationship only (names without a birth date identify no aggressor)."""
    first, second = (entry(row(results, n), "RelatedPerson")["resource"] for n in (2, 17))
    assert identifiers(first) == identifiers(second) == {RUN: "41637290-K"}
    assert first["relationship"][0]["coding"][0]["code"] == "conviviente"
    assert first["name"] == [{"use": "official", "text": "Cristián Andrés Muñoz Soto"}]
    assert first["patient"]["reference"] == entry(row(results, 2), "Patient")["fullUrl"]
    nameless = entry(row(results, 8), "RelatedPerson")["resource"]
    assert "identifier" not in nameless
    assert nameless["relationship"][0]["coding"][0]["code"] == "pololo"


def test_ids_are_deterministic(mapping: dict, data: bytes,
                               results: list[mappings.Result]) -> None:
    again = list(mappings.convert(mapping, data, "ingresos.csv", extracted=EXTRACTED))
    for one, other in zip(results, again, strict=True):
        assert [e["fullUrl"] for e in one.bundle["entry"]] == \
            [e["fullUrl"] for e in other.bundle["entry"]]
    encounter = entry(row(results, 1), "Encounter")
    assert encounter["resource"]["id"] == resource_id(mapping, "CDM-13201-2025-0025", "contacto")


# -- ingested into a store -----------------------------------------------------------------

def test_ingested_and_again_changes_nothing(stored, mapping: dict, data: bytes) -> None:
    """Every transaction passes the strict profiles; the centres not in the directory are
    added once; re-running the file writes no new version."""
    store, settings = stored
    organizations = store.count("Organization")
    summary = ingest(store, settings, mapping, data, "ingresos.csv", extracted=EXTRACTED)
    assert summary.counts[INGESTED] == 20, \
        [(r.position, r.reason) for r in summary.results if r.outcome == REJECTED]
    assert summary.counts[REJECTED] == 0
    assert store.count("Patient") == 20
    assert store.count("Encounter") == store.count("RiskAssessment") == 20
    centres = {r.key.split("-")[1] for r in summary.results}
    known = {i.comuna for i in catalogue().institutions.values()
             if i.kind == "centro-de-la-mujer"}
    assert store.count("Organization") == organizations + len(centres - known)
    versions = store.version_count()
    again = ingest(store, settings, mapping, data, "ingresos.csv", extracted=EXTRACTED)
    assert again.counts[INGESTED] == 20 and again.counts[REJECTED] == 0
    assert store.version_count() == versions
    assert store.count("Patient") == 20
