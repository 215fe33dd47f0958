"""Search index extraction: every value kind and expression form of the R4B definitions.

Expected values follow https://hl7.org/fhir/R4B/search.html. Example resources come from
``tests/data/fhir-r4b`` (vendored) and, for the all-examples sweep, the shared reference
folder when it is present.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.search.definitions import SearchParam
from server.search.extract import compile_plan, extract, fallback_params
from server.search.index import DATE_MAX, DATE_MIN, ResourceIndex
from tests.conftest import SHARED

DATA = Path(__file__).resolve().parents[2] / "data" / "fhir-r4b"
SHARED_EXAMPLES = SHARED / "reference/fhir-r4b/examples"
INF = float("inf")


def _us(text: str) -> int:
    """Microseconds since the epoch of an ISO instant (naive = UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _rows(index: ResourceIndex, kind: str, code: str) -> list[tuple]:
    return [row[1:] for row in getattr(index, kind) if row[0] == code]


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def shared_examples() -> Path:
    if not SHARED_EXAMPLES.is_dir():
        pytest.skip(f"{SHARED_EXAMPLES} is absent: the R4B examples are not on this machine")
    return SHARED_EXAMPLES


def _custom(code: str, kind: str, expression: str, base: str) -> SearchParam:
    return SearchParam(code, kind, expression, (base,), (), f"http://example.org/sp/{code}")


# -- tokens -------------------------------------------------------------------------------


def test_identifier_indexes_system_value_and_type_text() -> None:
    patient = {"resourceType": "Patient", "identifier": [
        {"system": "http://regcivil.cl/Validacion/RUN", "value": "5020000-0",
         "type": {"text": "RUN Válido"}}]}
    assert _rows(extract(patient), "tokens", "identifier") == [
        ("http://regcivil.cl/Validacion/RUN", "5020000-0", "run valido")]


def test_codeable_concept_indexes_each_coding_and_its_text() -> None:
    condition = {"resourceType": "Condition", "code": {"text": "Asma  Bronquial", "coding": [
        {"system": "http://snomed.info/sct", "code": "195967001", "display": "Asthma"},
        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "J45"}]}}
    assert _rows(extract(condition), "tokens", "code") == [
        ("http://snomed.info/sct", "195967001", "asthma"),
        ("http://hl7.org/fhir/sid/icd-10", "J45", None),
        (None, None, "asma bronquial"),
    ]


def test_coding_indexes_system_code_and_display() -> None:
    encounter = {"resourceType": "Encounter", "class": {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB",
        "display": "ambulatory"}}
    assert _rows(extract(encounter), "tokens", "class") == [
        ("http://terminology.hl7.org/CodeSystem/v3-ActCode", "AMB", "ambulatory")]


def test_code_and_boolean_index_as_a_code_without_system() -> None:
    index = extract({"resourceType": "Patient", "gender": "female", "active": False})
    assert _rows(index, "tokens", "gender") == [(None, "female", None)]
    assert _rows(index, "tokens", "active") == [(None, "false", None)]


def test_contact_point_value_is_the_token_code_and_where_system_splits_phone_from_email() -> None:
    patient = {"resourceType": "Patient", "telecom": [
        {"system": "phone", "value": "+56912345678", "use": "mobile"},
        {"system": "email", "value": "ana@example.cl"}]}
    index = extract(patient)
    assert _rows(index, "tokens", "phone") == [(None, "+56912345678", None)]
    assert _rows(index, "tokens", "email") == [(None, "ana@example.cl", None)]
    assert _rows(index, "tokens", "telecom") == [
        (None, "+56912345678", None), (None, "ana@example.cl", None)]


def test_meta_tag_security_profile_and_source_are_indexed_for_every_type() -> None:
    meta = {"tag": [{"system": "http://example.org/tags", "code": "vaw"}],
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                          "code": "V", "display": "very restricted"}],
            "profile": ["http://example.org/StructureDefinition/Survivor"],
            "source": "http://carabineros.cl/sistema#42"}
    for resource_type in ("Patient", "Bundle", "Binary"):
        index = extract({"resourceType": resource_type, "meta": meta})
        assert _rows(index, "tokens", "_tag") == [("http://example.org/tags", "vaw", None)]
        assert _rows(index, "tokens", "_security") == [
            ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "V", "very restricted")]
        assert _rows(index, "uris", "_profile") == [
            ("http://example.org/StructureDefinition/Survivor",)]
        assert _rows(index, "uris", "_source") == [("http://carabineros.cl/sistema#42",)]


def test_id_and_last_updated_are_left_to_the_store_columns() -> None:
    index = extract({"resourceType": "Patient", "id": "p1",
                     "meta": {"lastUpdated": "2024-03-01T10:00:00Z"}})
    assert _rows(index, "tokens", "_id") == [] and _rows(index, "dates", "_lastUpdated") == []


def test_deceased_is_true_for_a_death_date_and_false_when_absent() -> None:
    def deceased(**fields: object) -> list[tuple]:
        return _rows(extract({"resourceType": "Patient", **fields}), "tokens", "deceased")

    assert deceased() == [(None, "false", None)]
    assert deceased(deceasedBoolean=False) == [(None, "false", None)]
    assert deceased(deceasedBoolean=True) == [(None, "true", None)]
    assert deceased(deceasedDateTime="2024-03-01") == [(None, "true", None)]


# -- strings ------------------------------------------------------------------------------


def test_human_name_parts_each_give_a_string_row() -> None:
    patient = {"resourceType": "Patient", "name": [{
        "family": "Araya Hernández", "given": ["María", "José"], "prefix": ["Sra."],
        "suffix": ["PhD"], "text": "María José Araya"}]}
    index = extract(patient)
    assert _rows(index, "strings", "name") == [
        ("araya hernandez", "Araya Hernández"), ("maria", "María"), ("jose", "José"),
        ("sra.", "Sra."), ("phd", "PhD"), ("maria jose araya", "María José Araya")]
    assert _rows(index, "strings", "family") == [("araya hernandez", "Araya Hernández")]
    assert _rows(index, "strings", "given") == [("maria", "María"), ("jose", "José")]


def test_address_parts_each_give_a_string_row() -> None:
    patient = {"resourceType": "Patient", "address": [{
        "line": ["Av. Alemania 0671"], "city": "Temuco", "district": "Cautín",
        "state": "Región de La Araucanía", "postalCode": "4780000", "country": "CL",
        "text": "Av. Alemania 0671, Temuco"}]}
    index = extract(patient)
    assert [row[0] for row in _rows(index, "strings", "address")] == [
        "av. alemania 0671", "temuco", "cautin", "region de la araucania", "4780000", "cl",
        "av. alemania 0671, temuco"]
    assert _rows(index, "strings", "address-city") == [("temuco", "Temuco")]
    assert _rows(index, "strings", "address-state") == [
        ("region de la araucania", "Región de La Araucanía")]


def test_strings_are_lower_cased_accent_free_and_single_spaced_but_exact_keeps_original() -> None:
    index = extract({"resourceType": "Patient", "name": [{"family": "  Muñoz\t DÍAZ "}]})
    assert _rows(index, "strings", "family") == [("munoz diaz", "  Muñoz\t DÍAZ ")]


# -- references ---------------------------------------------------------------------------


def test_relative_versioned_and_absolute_references_give_type_and_id() -> None:
    patient = {"resourceType": "Patient", "generalPractitioner": [
        {"reference": "Practitioner/p1"},
        {"reference": "Organization/o1/_history/3"},
        {"reference": "https://fhir.minsal.cl/fhir/PractitionerRole/r1"},
        {"reference": "urn:uuid:1a6a5b5e-44c4-4e48-9d2b-a5a1c0a0b0c0"},
        {"reference": "#contained-1"}]}
    assert _rows(extract(patient), "references", "general-practitioner") == [
        ("Practitioner", "p1", None, None),
        ("Organization", "o1", "3", None),
        ("PractitionerRole", "r1", None, "https://fhir.minsal.cl/fhir/PractitionerRole/r1"),
        (None, None, None, "urn:uuid:1a6a5b5e-44c4-4e48-9d2b-a5a1c0a0b0c0"),
    ]


def test_reference_identifier_is_a_token_row_under_the_identifier_modifier() -> None:
    observation = {"resourceType": "Observation", "subject": {
        "type": "Patient", "identifier": {"system": "http://regcivil.cl/Validacion/RUN",
                                          "value": "5020000-0"}}}
    index = extract(observation)
    assert _rows(index, "tokens", "subject:identifier") == [
        ("http://regcivil.cl/Validacion/RUN", "5020000-0", None)]
    assert _rows(index, "tokens", "patient:identifier") == [
        ("http://regcivil.cl/Validacion/RUN", "5020000-0", None)]
    assert _rows(index, "references", "subject") == []


def test_where_resolve_is_patient_keeps_only_patient_references() -> None:
    def patient_rows(subject: dict) -> list[tuple]:
        observation = {"resourceType": "Observation", "subject": subject}
        return _rows(extract(observation), "references", "patient")

    assert patient_rows({"reference": "Patient/p1"}) == [("Patient", "p1", None, None)]
    assert patient_rows({"reference": "Group/g1"}) == []
    assert patient_rows({"reference": "http://x.cl/fhir/Patient/p2"}) == [
        ("Patient", "p2", None, "http://x.cl/fhir/Patient/p2")]


def test_where_resolve_filters_each_participant_by_type() -> None:
    index = extract(_load("Appointment-example.json"))
    assert _rows(index, "references", "patient") == [("Patient", "example", None, None)]
    assert _rows(index, "references", "practitioner") == [
        ("Practitioner", "example", None, None)]
    assert _rows(index, "references", "location") == [("Location", "1", None, None)]


def test_canonical_reference_keeps_url_and_version() -> None:
    request = {"resourceType": "ServiceRequest", "instantiatesCanonical": [
        "http://example.org/PlanDefinition/paquete-minimo|2.0"]}
    assert _rows(extract(request), "references", "instantiates-canonical") == [
        (None, None, "2.0", "http://example.org/PlanDefinition/paquete-minimo")]


def test_where_field_equals_then_step_reaches_the_related_artifact_resource() -> None:
    plan = {"resourceType": "PlanDefinition", "relatedArtifact": [
        {"type": "composed-of", "resource": "http://example.org/ActivityDefinition/a1"},
        {"type": "depends-on", "resource": "http://example.org/Library/l1"}]}
    index = extract(plan)
    assert _rows(index, "references", "composed-of") == [
        (None, None, None, "http://example.org/ActivityDefinition/a1")]
    assert _rows(index, "references", "depends-on") == [
        (None, None, None, "http://example.org/Library/l1")]


# -- dates --------------------------------------------------------------------------------


def _birthdate(value: str) -> list[tuple]:
    return _rows(extract({"resourceType": "Patient", "birthDate": value}), "dates", "birthdate")


def test_partial_date_covers_the_whole_year() -> None:
    assert _birthdate("2024") == [
        (_us("2024-01-01T00:00:00"), _us("2024-12-31T23:59:59.999999"))]


def test_partial_date_covers_the_whole_month() -> None:
    assert _birthdate("2024-03") == [
        (_us("2024-03-01T00:00:00"), _us("2024-03-31T23:59:59.999999"))]
    assert _birthdate("2024-02") == [
        (_us("2024-02-01T00:00:00"), _us("2024-02-29T23:59:59.999999"))]


def test_a_day_covers_the_whole_day_in_utc() -> None:
    assert _birthdate("2024-03-31") == [
        (_us("2024-03-31T00:00:00"), _us("2024-03-31T23:59:59.999999"))]


def _effective(value: str) -> list[tuple]:
    observation = {"resourceType": "Observation", "effectiveDateTime": value}
    return _rows(extract(observation), "dates", "date")


def test_a_time_to_the_minute_covers_that_minute() -> None:
    assert _effective("2024-03-31T23:59") == [
        (_us("2024-03-31T23:59:00"), _us("2024-03-31T23:59:59.999999"))]


def test_seconds_and_fractions_cover_their_last_digit() -> None:
    assert _effective("2024-03-31T23:59:30Z") == [
        (_us("2024-03-31T23:59:30"), _us("2024-03-31T23:59:30.999999"))]
    assert _effective("2024-03-31T23:59:30.5Z") == [
        (_us("2024-03-31T23:59:30.5"), _us("2024-03-31T23:59:30.599999"))]
    assert _effective("2024-03-31T23:59:30.123456789Z") == [
        (_us("2024-03-31T23:59:30.123456"), _us("2024-03-31T23:59:30.123456"))]


def test_timezone_offsets_are_applied_and_no_offset_means_utc() -> None:
    assert _effective("2024-03-31T21:30:00-03:00") == [
        (_us("2024-04-01T00:30:00"), _us("2024-04-01T00:30:00.999999"))]
    assert _effective("2024-03-31T21:30:00") == [
        (_us("2024-03-31T21:30:00"), _us("2024-03-31T21:30:00.999999"))]


def test_a_malformed_date_yields_no_row_and_does_not_raise() -> None:
    for bad in ("2024-13", "2024-02-30", "31/03/2024", "2024-03-31T25:00:00Z", "", "2024-3"):
        assert _effective(bad) == [], bad
    index = extract({"resourceType": "Patient", "birthDate": 2024})
    assert _rows(index, "dates", "birthdate") == []


def test_a_period_spans_start_to_end_and_open_ends_are_infinite() -> None:
    def period(**bounds: str) -> list[tuple]:
        encounter = {"resourceType": "Encounter", "period": bounds}
        return _rows(extract(encounter), "dates", "date")

    assert period(start="2024-03-01", end="2024-03-02T10:00:00Z") == [
        (_us("2024-03-01T00:00:00"), _us("2024-03-02T10:00:00.999999"))]
    assert period(start="2024-03-01") == [(_us("2024-03-01T00:00:00"), DATE_MAX)]
    assert period(end="2024") == [(DATE_MIN, _us("2024-12-31T23:59:59.999999"))]
    assert period() == []


def test_a_timing_spans_its_earliest_to_latest_event() -> None:
    care_plan = {"resourceType": "CarePlan", "activity": [{"detail": {"scheduledTiming": {
        "event": ["2024-05-02T10:00:00Z", "2024-05-01"]}}}]}
    assert _rows(extract(care_plan), "dates", "activity-date") == [
        (_us("2024-05-01T00:00:00"), _us("2024-05-02T10:00:00.999999"))]


def test_choice_types_split_date_age_and_string_onsets_by_parameter() -> None:
    def onset(**value: object) -> ResourceIndex:
        return extract({"resourceType": "Condition", **value})

    assert _rows(onset(onsetDateTime="2023"), "dates", "onset-date") == [
        (_us("2023-01-01T00:00:00"), _us("2023-12-31T23:59:59.999999"))]
    age = onset(onsetAge={"value": 30, "unit": "a", "system": "http://unitsofmeasure.org",
                          "code": "a"})
    assert _rows(age, "dates", "onset-date") == []
    assert _rows(age, "quantities", "onset-age") == [
        ("http://unitsofmeasure.org", "a", "a", 30.0, 29.5, 30.5)]
    assert _rows(onset(onsetString="childhood"), "strings", "onset-info") == [
        ("childhood", "childhood")]


# -- choice types, numbers, quantities, uris ---------------------------------------------


def test_observation_value_fans_out_to_the_parameter_of_each_choice_type() -> None:
    concept = {"resourceType": "Observation", "valueCodeableConcept": {
        "coding": [{"system": "http://example.org/violence", "code": "physical"}],
        "text": "Física"}}
    index = extract(concept)
    assert _rows(index, "tokens", "value-concept") == [
        ("http://example.org/violence", "physical", None), (None, None, "fisica")]
    assert _rows(index, "strings", "value-string") == [("fisica", "Física")]
    assert _rows(index, "quantities", "value-quantity") == []
    text = extract({"resourceType": "Observation", "valueString": "Amenaza"})
    assert _rows(text, "strings", "value-string") == [("amenaza", "Amenaza")]
    assert _rows(text, "tokens", "value-concept") == []
    dated = extract({"resourceType": "Observation", "valueDateTime": "2024-03"})
    assert _rows(dated, "dates", "value-date") == [
        (_us("2024-03-01T00:00:00"), _us("2024-03-31T23:59:59.999999"))]


def test_quantity_keeps_system_code_unit_and_precision_bounds() -> None:
    index = extract(_load("Observation-example.json"))
    assert _rows(index, "quantities", "value-quantity") == [
        ("http://unitsofmeasure.org", "[lb_av]", "lbs", 185.0, 184.5, 185.5)]


def test_quantity_comparator_opens_the_range_on_its_side() -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {
        "value": 5.5, "comparator": "<", "system": "http://unitsofmeasure.org", "code": "mg"}}
    (row,) = _rows(extract(observation), "quantities", "value-quantity")
    assert row[3:] == (5.5, -INF, 5.55)


def test_component_quantities_are_indexed_and_deduplicated() -> None:
    index = extract(_load("Observation-blood-pressure.json"))
    values = sorted(row[3] for row in _rows(index, "quantities", "component-value-quantity"))
    assert values == [60.0, 107.0]
    assert len(index.quantities) == len(set(index.quantities))


def test_an_open_range_is_a_quantity_bounded_on_one_side() -> None:
    condition = {"resourceType": "Condition", "onsetRange": {"high": {
        "value": 5, "unit": "años", "system": "http://unitsofmeasure.org", "code": "a"}}}
    assert _rows(extract(condition), "quantities", "onset-age") == [
        ("http://unitsofmeasure.org", "a", "años", 5.0, -INF, 5.5)]


def test_money_is_a_quantity_in_iso_4217() -> None:
    invoice = {"resourceType": "Invoice", "totalGross": {"value": 15000, "currency": "CLP"}}
    assert _rows(extract(invoice), "quantities", "totalgross") == [
        ("urn:iso:std:iso:4217", "CLP", "CLP", 15000.0, 14999.5, 15000.5)]


def test_number_bounds_come_from_the_written_precision() -> None:
    risk = {"resourceType": "RiskAssessment", "prediction": [
        {"probabilityDecimal": 0.25}, {"probabilityRange": {"low": {"value": 40},
                                                            "high": {"value": 60}}}]}
    assert _rows(extract(risk), "numbers", "probability") == [
        (0.25, 0.245, 0.255), (40.0, 39.5, 60.5)]


def test_uri_parameters_index_the_uri_as_written() -> None:
    questionnaire = {"resourceType": "Questionnaire",
                     "url": "http://example.org/Questionnaire/dash", "status": "active"}
    assert _rows(extract(questionnaire), "uris", "url") == [
        ("http://example.org/Questionnaire/dash",)]


# -- the whole resource -------------------------------------------------------------------


def test_patient_example_has_its_identifier_and_family_names() -> None:
    index = extract(_load("Patient-example.json"))
    assert _rows(index, "tokens", "identifier") == [
        ("urn:oid:1.2.36.146.595.217.0.1", "12345", None)]
    assert _rows(index, "strings", "family") == [
        ("chalmers", "Chalmers"), ("windsor", "Windsor")]
    assert _rows(index, "references", "organization") == [("Organization", "1", None, None)]
    assert _rows(index, "dates", "birthdate") == [
        (_us("1974-12-25T00:00:00"), _us("1974-12-25T23:59:59.999999"))]


def test_rows_are_deduplicated_per_resource() -> None:
    patient = {"resourceType": "Patient", "name": [{"given": ["Ana"]}, {"given": ["Ana"]}]}
    assert _rows(extract(patient), "strings", "given") == [("ana", "Ana")]


def test_an_unknown_resource_type_gives_an_empty_index() -> None:
    assert extract({"resourceType": "Survivor", "name": "x"}) == ResourceIndex()
    assert extract({"name": "x"}) == ResourceIndex()


def _mangled(value: object) -> list[object]:
    """Wrong-typed stand-ins for a value: what a broken client might send."""
    return [None, "x", 7, -1.5, True, [], {}, ["x"], [[{"a": 1}]], {"reference": 5}]


def test_wrong_shapes_anywhere_never_raise() -> None:
    sources = [_load(name) for name in (
        "Patient-example.json", "Observation-example.json", "Appointment-example.json",
        "Observation-blood-pressure.json")]
    for source in sources:
        for key in [k for k in source if k != "resourceType"]:
            for stand_in in _mangled(source[key]):
                broken = copy.deepcopy(source)
                broken[key] = stand_in
                extract(broken)
                if isinstance(source[key], list) and source[key] and isinstance(
                        source[key][0], dict):
                    for inner in list(source[key][0]):
                        nested = copy.deepcopy(source)
                        nested[key][0][inner] = stand_in
                        extract(nested)


def test_every_r4b_example_extracts_without_error(shared_examples: Path) -> None:
    count = 0
    for path in sorted(shared_examples.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        entries = [e["resource"] for e in resource.get("entry", []) if "resource" in e]
        for item in [resource, *entries]:
            index = extract(item)
            assert isinstance(index, ResourceIndex), path.name
            count += 1
    assert count > 300
    patient = extract(json.loads((shared_examples / "Patient-example.json").read_text()))
    assert ("identifier", "urn:oid:1.2.36.146.595.217.0.1", "12345", None) in patient.tokens
    assert ("family", "chalmers", "Chalmers") in patient.strings


# -- expression forms beyond the core definitions -----------------------------------------


def test_document_bundle_first_entry_compiles_natively_and_indexes_nothing() -> None:
    bundle = {"resourceType": "Bundle", "type": "document", "entry": [
        {"resource": {"resourceType": "Composition", "id": "c1"}}]}
    assert _rows(extract(bundle), "references", "composition") == []
    assert fallback_params() == {}


def test_extension_with_url_reaches_the_extension_value() -> None:
    comuna = _custom("comuna", "token",
                     "Patient.address.extension('https://hl7chile.cl/comunas').value", "Patient")
    plan = compile_plan("Patient", [comuna])
    patient = {"resourceType": "Patient", "address": [{"extension": [
        {"url": "https://hl7chile.cl/comunas", "valueCodeableConcept": {"coding": [
            {"system": "https://hl7chile.cl/CSCodComunasCL", "code": "09101"}]}},
        {"url": "https://example.org/other", "valueCode": "x"}]}]}
    assert _rows(extract(patient, plan), "tokens", "comuna") == [
        ("https://hl7chile.cl/CSCodComunasCL", "09101", None)]


def test_content_reference_elements_are_walked_like_the_element_they_reuse() -> None:
    nested = _custom("nested-code", "token", "Questionnaire.item.item.code", "Questionnaire")
    plan = compile_plan("Questionnaire", [nested])
    questionnaire = {"resourceType": "Questionnaire", "item": [{"linkId": "1", "item": [
        {"linkId": "1.1", "code": [{"system": "http://loinc.org", "code": "72133-2"}]}]}]}
    assert _rows(extract(questionnaire, plan), "tokens", "nested-code") == [
        ("http://loinc.org", "72133-2", None)]


def test_expressions_the_compiler_does_not_know_fall_back_to_fhirpathpy() -> None:
    first = _custom("first-family", "string", "Patient.name.first().family", "Patient")
    plan = compile_plan("Patient", [first])
    assert [code for code, _ in plan.fallback_reasons] == ["first-family"]
    patient = {"resourceType": "Patient", "name": [{"family": "Soto"}, {"family": "Rojas"}]}
    assert _rows(extract(patient, plan), "strings", "first-family") == [("soto", "Soto")]
