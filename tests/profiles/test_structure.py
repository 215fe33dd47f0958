"""R4B structure validation (``profiles.validate_structure``) against the spec's own rules.

Three references: the rules of https://hl7.org/fhir/R4B/json.html and the R4B
StructureDefinitions, case by case; fhir.resources' R4B pydantic models as an oracle (both
must accept every R4B example and reject each invalid mutation; the cases where the
oracle is laxer, or stricter against the spec, are listed as such). The reference (HL7
Java) validator's verdicts on the FHIR validator test cases are compared in
``test_fhir_test_cases.py``. Example resources come from ``tests/data/fhir-r4b``
(vendored); the sweep over every R4B example reads the shared reference folder and skips
when it is absent.
"""

from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from profiles import ValidationIssue, is_resource_type, validate_structure
from profiles.r4b import elements
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "fhir-r4b"
SHARED_REFERENCE = SHARED / "reference"
EXAMPLES = SHARED_REFERENCE / "fhir-r4b" / "examples"
VENDORED = sorted(p.name for p in DATA.glob("*.json"))
EXT = {"url": "http://example.org/ext", "valueString": "x"}


def _load(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _patient(**fields) -> dict:
    return {"resourceType": "Patient", **fields}


def _where(issues: list[ValidationIssue]) -> list[str]:
    return [issue.expression for issue in issues]


def _oracle_rejects(resource: dict) -> bool:
    """True when fhir.resources' R4B models reject ``resource``."""
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, KeyError, ValueError):  # KeyError/ValueError: unknown type
        return True
    return False


def _mutated(name: str, change) -> dict:
    resource = copy.deepcopy(_load(name))
    change(resource)
    return resource


# -- the rules, one by one ----------------------------------------------------------------


@pytest.mark.parametrize("name", VENDORED)
def test_every_vendored_r4b_example_has_no_issue(name: str) -> None:
    assert validate_structure(_load(name)) == []


def test_an_unknown_or_abstract_resource_type_is_the_only_issue() -> None:
    for rtype in ("Patientx", "DomainResource", "Resource", "HumanName", 3, None):
        issues = validate_structure({"resourceType": rtype, "foo": 1})
        assert _where(issues) == ["resourceType"], rtype
    assert is_resource_type("Patient") and is_resource_type("Bundle")
    assert not is_resource_type("DomainResource") and not is_resource_type("Extension")


def test_unknown_elements_are_reported_with_their_fhirpath() -> None:
    issues = validate_structure(_patient(foo=1, name=[{"given": ["a"]}, {"gven": ["b"]}],
                                         contact=[{"nme": {"text": "c"}}]))
    assert _where(issues) == ["Patient.foo", "Patient.name[1].gven", "Patient.contact[0].nme"]
    assert all(issue.code == "structure" for issue in issues)


def test_a_primitive_sibling_must_belong_to_a_primitive_and_hold_only_id_and_extension() -> None:
    issues = validate_structure(_patient(
        _name={"extension": [EXT]}, _id={"extension": [EXT]},
        gender="male", _gender={"extension": [EXT], "value": "x"},
        extension=[{**EXT, "_url": {"extension": [EXT]}}]))
    assert _where(issues) == ["Patient._name", "Patient._id", "Patient.gender.value",
                              "Patient.extension[0]._url"]


def test_resource_type_inside_an_element_is_an_unknown_element() -> None:
    issues = validate_structure(_patient(name=[{"resourceType": "HumanName", "text": "a"}]))
    assert _where(issues) == ["Patient.name[0].resourceType"]


def test_arrays_where_max_is_one_and_single_values_where_max_is_many_are_reported() -> None:
    issues = validate_structure(_patient(gender=["male"], name={"text": "a"},
                                         _birthDate=[{"extension": [EXT]}]))
    assert _where(issues) == ["Patient.gender", "Patient.name", "Patient._birthDate"]
    assert "single value" in issues[0].diagnostics and "array" in issues[1].diagnostics


def test_missing_required_elements_are_reported_in_every_object_present() -> None:
    observation = {"resourceType": "Observation", "code": {"text": "x"},
                   "component": [{"valueString": "a"}],
                   "referenceRange": [{"text": "r"}]}
    issues = validate_structure(observation)
    assert _where(issues) == ["Observation.component[0].code", "Observation.status"]
    assert {issue.code for issue in issues} == {"required"}
    link = validate_structure(_patient(link=[{"type": "seealso"}]))
    assert _where(link) == ["Patient.link[0].other"]


def test_a_required_primitive_may_be_present_through_its_extensions_only() -> None:
    observation = {"resourceType": "Observation", "code": {"text": "x"},
                   "_status": {"extension": [EXT]}}
    assert validate_structure(observation) == []


def test_a_required_choice_is_satisfied_by_any_of_its_types() -> None:
    request = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "subject": {"reference": "Patient/1"}}
    assert _where(validate_structure(request)) == ["MedicationRequest.medication[x]"]
    request["medicationReference"] = {"reference": "Medication/1"}
    assert validate_structure(request) == []


def test_two_types_of_one_choice_element_are_reported() -> None:
    issues = validate_structure(_patient(deceasedBoolean=True, deceasedDateTime="2020-01-01",
                                         multipleBirthBoolean=True,
                                         _multipleBirthInteger={"extension": [EXT]}))
    assert _where(issues) == ["Patient.deceasedDateTime", "Patient.multipleBirthInteger"]


@pytest.mark.parametrize(("field", "value"), [
    ("active", "yes"), ("active", "true"), ("active", 1),
    ("multipleBirthInteger", "2"), ("multipleBirthInteger", 1.0),
    ("multipleBirthInteger", True), ("birthDate", 19740101), ("gender", 1),
])
def test_a_primitive_of_the_wrong_json_type_is_reported(field: str, value: object) -> None:
    issues = validate_structure(_patient(**{field: value}))
    assert _where(issues) == [f"Patient.{field}"]
    assert "wrong JSON type" in issues[0].diagnostics


def test_a_decimal_is_a_finite_json_number_and_not_a_boolean() -> None:
    def quantity(value: object) -> dict:
        return {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                "valueQuantity": {"value": value}}
    for good in (0, -3, 6.3, 1e-22, 10**30):
        assert validate_structure(quantity(good)) == [], good
    for bad in ("6.3", True, float("nan"), float("inf"), [1]):
        assert _where(validate_structure(quantity(bad))) == [
            "Observation.valueQuantity.value"], bad


@pytest.mark.parametrize(("resource", "where"), [
    (_patient(birthDate="1974-13-01"), "Patient.birthDate"),
    (_patient(birthDate="74-12-25"), "Patient.birthDate"),
    (_patient(birthDate="1974-12-25T10:00:00Z"), "Patient.birthDate"),
    (_patient(deceasedDateTime="2020-01-01T10:00:00"), "Patient.deceasedDateTime"),
    (_patient(meta={"lastUpdated": "2020-01-01"}), "Patient.meta.lastUpdated"),
    (_patient(id="bad id!"), "Patient.id"),
    (_patient(id="a" * 65), "Patient.id"),
    (_patient(language="en  US"), "Patient.language"),
    (_patient(implicitRules="http://a b"), "Patient.implicitRules"),
    (_patient(identifier=[{"system": "urn:oid:1.2.x", "value": "1"}]), None),
    (_patient(photo=[{"data": "%%%"}]), "Patient.photo[0].data"),
    (_patient(photo=[{"size": -1}]), "Patient.photo[0].size"),
    (_patient(multipleBirthInteger=2**31), "Patient.multipleBirthInteger"),
    (_patient(contact=[{"name": {"given": ["a\x0bb"]}}]), "Patient.contact[0].name.given[0]"),
    ({"resourceType": "Appointment", "status": "booked", "participant": [{"status": "x"}],
      "minutesDuration": 0}, "Appointment.minutesDuration"),
    ({"resourceType": "Device", "udiCarrier": [{"deviceIdentifier": "1",
                                                "issuer": "urn:uuid:NOT-A-UUID"}]}, None),
])
def test_values_must_match_their_primitive_regex_as_a_whole(resource: dict,
                                                            where: str | None) -> None:
    issues = [i for i in validate_structure(resource) if i.code == "value"]
    assert _where(issues) == ([where] if where else [])


def test_values_within_bounds_and_regexes_pass() -> None:
    patient = _patient(id="a" * 64, birthDate="2000-02-29", multipleBirthInteger=-(2**31),
                       deceasedDateTime="2015-02-07T13:28:17.239+02:00",
                       identifier=[{"system": "urn:oid:1.2.36.146", "value": "1"}],
                       photo=[{"size": 0, "data": "aGVsbG8="}])
    assert validate_structure(patient) == []


def test_the_base64_check_accepts_what_the_spec_regex_accepts() -> None:
    spec = re.compile(elements()["primitives"]["base64Binary"]["regex"], re.ASCII).fullmatch
    rng = random.Random(5)
    for _ in range(5000):
        value = "".join(rng.choice("AB9+/= \n!") for _ in range(rng.randint(1, 14)))
        issues = validate_structure(_patient(photo=[{"data": value}]))
        assert bool(issues) == (spec(value) is None), repr(value)


def test_a_hostile_base64_value_is_checked_without_catastrophic_backtracking() -> None:
    """The spec's regex needs 2**n steps on this value (n lines); the check must not."""
    issues = validate_structure(_patient(photo=[{"data": "AAAA\n" * 200 + "!"}]))
    assert _where(issues) == ["Patient.photo[0].data"]


def test_dates_must_exist_on_the_calendar() -> None:
    for value in ("2023-02-29", "2024-04-31", "2024-02-30T10:00:00Z"):
        issues = validate_structure(_patient(deceasedDateTime=value))
        assert [i.diagnostics for i in issues] == ["not a valid dateTime: no such day"]
    assert validate_structure(_patient(deceasedDateTime="2024-02-29T10:00:00Z")) == []


def test_null_is_allowed_only_in_a_primitive_array_paired_with_its_extensions() -> None:
    paired = _patient(name=[{"given": ["a", None], "_given": [None, {"extension": [EXT]}]}])
    assert validate_structure(paired) == []
    issues = validate_structure(_patient(
        gender=None, name=[{"given": ["a", None]}, None],
        address=[{"line": [None], "_line": [None]}]))
    assert _where(issues) == ["Patient.gender", "Patient.name[0].given[1]", "Patient.name[1]",
                              "Patient.address[0].line[0]", "Patient.address[0]._line[0]"]


def test_parallel_primitive_arrays_must_have_the_same_length() -> None:
    issues = validate_structure(_patient(name=[{"given": ["a", "b"],
                                                "_given": [{"extension": [EXT]}]}]))
    assert _where(issues) == ["Patient.name[0]._given"]


@pytest.mark.parametrize(("resource", "where"), [
    (_patient(telecom=[]), "Patient.telecom"),
    (_patient(maritalStatus={}), "Patient.maritalStatus"),
    (_patient(name=[{"family": ""}]), "Patient.name[0].family"),
    (_patient(name=[{"family": " \t\n"}]), "Patient.name[0].family"),
    (_patient(_gender={}), "Patient.gender"),
])
def test_empty_objects_arrays_and_strings_are_reported(resource: dict, where: str) -> None:
    assert _where(validate_structure(resource)) == [where]


def test_an_element_with_nothing_but_an_id_breaks_ele_1() -> None:
    issues = validate_structure(_patient(maritalStatus={"id": "m"}, _gender={"id": "g"}))
    assert [(i.code, i.expression) for i in issues] == [
        ("invariant", "Patient.maritalStatus"), ("invariant", "Patient.gender")]
    assert validate_structure(_patient(gender="male", _gender={"id": "g"})) == []


def test_element_ids_are_strings_unique_within_their_resource() -> None:
    assert validate_structure(_patient(name=[{"id": "Patient.name:a b", "text": "a"}])) == []
    issues = validate_structure(_patient(name=[{"id": "n", "text": "a"}],
                                         identifier=[{"id": "n", "value": "1"}],
                                         contained=[_patient(name=[{"id": "n", "text": "b"}])]))
    assert [(i.code, i.expression) for i in issues] == [("duplicate", "Patient.identifier[0].id")]


def test_codes_outside_a_required_binding_are_reported() -> None:
    observation = _mutated("Observation-example.json",
                           lambda r: r["valueQuantity"].update(comparator="about"))
    issues = validate_structure(observation) + validate_structure(_patient(gender="abc"))
    assert [(i.code, i.expression) for i in issues] == [
        ("code-invalid", "Observation.valueQuantity.comparator"),
        ("code-invalid", "Patient.gender")]


def test_contained_resources_are_validated_and_cannot_contain_resources() -> None:
    inner = _patient(gender="abc")
    issues = validate_structure(_patient(contained=[
        {"resourceType": "Foo"}, {"id": "x"}, "Patient/1",
        _patient(id="p2", contained=[inner])]))
    assert _where(issues) == [
        "Patient.contained[0].resourceType", "Patient.contained[1].resourceType",
        "Patient.contained[2]", "Patient.contained[3].contained[0].gender",
        "Patient.contained[3].contained"]
    assert issues[-1].code == "invariant" and "dom-2" in issues[-1].diagnostics


def test_bundle_entries_are_validated_as_resources_that_may_contain_resources() -> None:
    bundle = _mutated("Bundle-bundle-transaction.json", lambda r: r["entry"][0].update(
        resource=_patient(contained=[_patient(id="c")], active="yes")))
    assert _where(validate_structure(bundle)) == ["Bundle.entry[0].resource.active"]


def test_nested_items_reuse_their_content_reference() -> None:
    response = _mutated("QuestionnaireResponse-3141.json",
                        lambda r: r["item"][0]["item"][0].update(foo=1))
    issues = validate_structure(response)
    assert _where(issues) == ["QuestionnaireResponse.item[0].item[0].foo"]


def test_the_narrative_must_be_an_xhtml_div() -> None:
    def text(div: object) -> dict:
        return _patient(text={"status": "generated", "div": div})
    assert validate_structure(text('<div xmlns="http://www.w3.org/1999/xhtml">a</div>')) == []
    assert validate_structure(text('<x:div xmlns:x="http://www.w3.org/1999/xhtml"/>')) == []
    for bad in ("<p>a</p>", "<divx>", "", 3):
        assert _where(validate_structure(text(bad))) == ["Patient.text.div"], bad
    sibling = _patient(text={"status": "generated", "div": "<div/>", "_div": {"id": "d"}})
    assert _where(validate_structure(sibling)) == ["Patient.text._div"]


def test_an_extension_needs_a_url_and_either_a_value_or_extensions() -> None:
    issues = validate_structure(_patient(extension=[
        {"valueString": "a"},
        {"url": "http://x"},
        {"url": "http://x", "valueString": "a", "extension": [EXT]},
        {"url": "http://x", "extension": [EXT]},
        {"url": "http://x", "_valueString": {"extension": [EXT]}},
        {"url": "http://x", "valueCode": "a", "_valueCode": {"extension": [EXT]}}]))
    assert [(i.code, i.expression) for i in issues] == [
        ("required", "Patient.extension[0].url"),
        ("invariant", "Patient.extension[1]"), ("invariant", "Patient.extension[2]")]


def test_every_problem_is_reported_not_only_the_first() -> None:
    issues = validate_structure(_patient(active="yes", foo=1, gender="abc", telecom=[],
                                         birthDate="1974-13-01", link=[{}]))
    assert len(issues) == 6


def test_messages_never_echo_the_offending_value() -> None:
    secret = "Violeta-Rojas-1980-02-31"
    issues = validate_structure(_patient(
        birthDate=secret, gender=secret, active=secret, id=secret, language=f"{secret}  x",
        name=[{"family": 3, "given": [secret, None]}]))
    assert issues and all(secret not in i.diagnostics for i in issues)


def test_validation_never_raises_on_random_mutations_of_the_examples() -> None:
    rng = random.Random(20240611)
    junk = [None, [], {}, "", " ", 0, -1, 1.5, True, "x", "2020-02-30", [None], {"foo": 1},
            2**70, float("nan"), {"extension": []}, [[1]], {"resourceType": "Patient"},
            {"id": "a"}, {1: 2}, ("a",), {"": ""}]
    examples = [_load(name) for name in VENDORED]
    for _ in range(3000):
        resource = copy.deepcopy(rng.choice(examples))
        for _ in range(rng.randint(1, 3)):
            _mutate(rng, resource, junk)
        issues = validate_structure(resource)
        assert all(isinstance(issue, ValidationIssue) for issue in issues)


def _mutate(rng: random.Random, resource: dict, junk: list) -> None:
    spots = list(_spots(resource))
    parent, key = rng.choice(spots)
    operation = rng.randrange(6)
    if operation == 0:
        parent[key] = copy.deepcopy(rng.choice(junk))
    elif operation == 1:
        del parent[key]
    elif operation == 2 and isinstance(parent, dict):
        parent[f"_{key}"] = copy.deepcopy(rng.choice(junk + [{"extension": [EXT]}]))
    elif operation == 3 and isinstance(parent, dict):
        parent[f"{key}x"] = parent[key]
    elif operation == 4:
        parent[key] = [parent[key]]
    elif isinstance(parent[key], list) and parent[key]:
        parent[key] = parent[key][0]


def _spots(node: object):
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in list(items):
        yield node, key
        if isinstance(value, dict | list):
            yield from _spots(value)


def test_non_objects_and_deep_nesting_do_not_raise() -> None:
    for value in (None, [], "Patient", 3):
        assert _where(validate_structure(value)) == ["resourceType"]  # type: ignore[arg-type]
    deep: dict = {"url": "http://x", "valueString": "a"}
    for _ in range(3000):
        deep = {"url": "http://x", "extension": [deep]}
    assert validate_structure(_patient(extension=[deep]))


# -- the data -----------------------------------------------------------------------------


def test_the_elements_data_holds_types_cardinality_and_primitive_regexes() -> None:
    data = elements()
    patient = data["structures"]["Patient"]["elements"]
    assert patient["Patient.name"] == {"type": "HumanName", "max": "*"}
    assert patient["Patient.link.other"] == {"type": "Reference", "min": 1}
    assert patient["Patient.deceased[x]"]["choice"] == {
        "deceasedBoolean": "boolean", "deceasedDateTime": "dateTime"}
    items = data["structures"]["Questionnaire"]["elements"]["Questionnaire.item.item"]
    assert items == {"contentReference": "#Questionnaire.item", "max": "*"}
    assert data["primitives"]["positiveInt"]["regex"] == "[1-9][0-9]*"
    assert data["primitives"]["decimal"]["json"] == "number"
    assert data["structures"]["HumanName"]["elements"]["HumanName.id"]["type"] == "string"


def test_the_vendored_elements_data_is_what_the_build_script_derives(tmp_path: Path) -> None:
    reference = SHARED_REFERENCE / "fhir-r4b"
    if not (reference / "profiles-resources.json").is_file():
        pytest.skip(f"{reference} is absent: the R4B definitions are not on this machine")
    from scripts.build_r4b_elements import main

    main(["--reference", str(reference), "--out", str(tmp_path / "elements.json")])
    vendored = ROOT / "profiles" / "r4b" / "elements.json"
    assert (tmp_path / "elements.json").read_bytes() == vendored.read_bytes()


# -- fhir.resources as the oracle ---------------------------------------------------------


def test_both_validators_accept_every_r4b_example() -> None:
    if not EXAMPLES.is_dir():
        pytest.skip(f"{EXAMPLES} is absent: the R4B examples are not on this machine")
    for path in sorted(EXAMPLES.glob("*.json")):
        resource = json.loads(path.read_text(encoding="utf-8"))
        assert validate_structure(resource) == [], path.name
        assert not _oracle_rejects(resource), path.name


INVALID = {
    "unknown element": ("Patient-example.json", lambda r: r.update(foo=1)),
    "unknown nested element": ("Patient-example.json", lambda r: r["name"][0].update(x=1)),
    "unknown sibling of a complex element": (
        "Patient-example.json", lambda r: r.update(_name={"extension": [EXT]})),
    "unknown key in a primitive sibling": (
        "Patient-example.json", lambda r: r.update(_birthDate={"foo": 1})),
    "missing required element": ("Observation-example.json", lambda r: r.pop("status")),
    "missing required backbone element": (
        "Appointment-example.json", lambda r: r["participant"][0].pop("status")),
    "missing extension url": (
        "Patient-example.json", lambda r: r.update(extension=[{"valueString": "a"}])),
    "array where max is 1": ("Patient-example.json", lambda r: r.update(gender=["male"])),
    "single value where max is *": (
        "Patient-example.json", lambda r: r.update(name=r["name"][0])),
    "bad date": ("Patient-example.json", lambda r: r.update(birthDate="1974-13-45")),
    "no such day": ("Patient-example.json", lambda r: r.update(birthDate="1974-02-30")),
    "dateTime without timezone": (
        "Observation-example.json", lambda r: r.update(effectiveDateTime="2013-04-02T09:30")),
    "instant without time": ("Observation-example.json", lambda r: r.update(issued="2013")),
    "two choice types": (
        "Patient-example.json", lambda r: r.update(deceasedDateTime="2015-01-01")),
    "bad resource id": ("Patient-example.json", lambda r: r.update(id="bad id!")),
    "empty string": ("Patient-example.json", lambda r: r["name"][0].update(family="")),
    "integer out of range": (
        "Patient-example.json", lambda r: r.update(multipleBirthInteger=2**31)),
    "negative unsignedInt": ("Patient-example.json", lambda r: r.update(photo=[{"size": -1}])),
    "decimal as boolean": (
        "Observation-example.json", lambda r: r["valueQuantity"].update(value=True)),
    "string as number": ("Patient-example.json", lambda r: r["name"][0].update(family=5)),
    "code with two spaces": (
        "Observation-example.json", lambda r: r["valueQuantity"].update(code="kg  m")),
    "xhtml as number": ("Patient-example.json", lambda r: r["text"].update(div=3)),
    "reference as string": (
        "Patient-example.json", lambda r: r.update(managingOrganization="Organization/1")),
    "contained resource of unknown type": (
        "CarePlan-preg.json", lambda r: r["contained"][0].update(resourceType="Foo")),
    "invalid contained resource": (
        "CarePlan-preg.json", lambda r: r["contained"][0].update(foo=1)),
    "invalid bundle entry": (
        "Bundle-bundle-transaction.json", lambda r: r["entry"][0]["resource"].update(foo=1)),
    "invalid nested item": ("QuestionnaireResponse-3141.json",
                            lambda r: r["item"][0]["item"][0].update(linkId=["1"])),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_both_validators_reject_each_invalid_mutation(case: str) -> None:
    resource = _mutated(*INVALID[case])
    assert validate_structure(resource)
    assert _oracle_rejects(resource)


# fhir.resources lets these through (pydantic's lax coercion, no bindings, no invariants,
# empty values accepted); FHIR JSON and the R4B definitions forbid each of them.
LAXER = {
    "boolean as string": _patient(active="true"),
    "boolean as number": _patient(active=1),
    "integer as string": _patient(multipleBirthInteger="2"),
    "integer as float": _patient(multipleBirthInteger=1.0),
    "decimal as string": {"resourceType": "Observation", "status": "final",
                          "code": {"text": "x"}, "valueQuantity": {"value": "6.3"}},
    "dateTime as number": _patient(deceasedDateTime=0),
    "null": _patient(gender=None),
    "unpaired null in a primitive array": _patient(name=[{"given": ["a", None]}]),
    "empty array": _patient(telecom=[]),
    "empty object": _patient(maritalStatus={}),
    "whitespace-only string": _patient(name=[{"family": "  "}]),
    "code outside its required binding": _patient(gender="abc"),
    "resource id longer than 64": _patient(id="a" * 65),
    "extension with value and extensions (ext-1)": _patient(extension=[
        {"url": "http://x", "valueString": "a", "extension": [EXT]}]),
    "extension with neither (ext-1)": _patient(extension=[{"url": "http://x"}]),
    "contained resource with resources (dom-2)": _patient(contained=[
        _patient(id="a", contained=[_patient(id="b")])]),
    "contained resource without resourceType": _patient(contained=[{"id": "a"}]),
    "resourceType inside an element": _patient(name=[{"resourceType": "HumanName"}]),
    "narrative that is no div": _patient(text={"status": "generated", "div": "<p>a</p>"}),
    "extensions on the narrative": _patient(text={"status": "generated", "div": "<div/>",
                                                  "_div": {"extension": [EXT]}}),
    "uri with a space": _patient(implicitRules="http://a b"),
    "invalid base64": _patient(photo=[{"data": "%%%"}]),
    "element with only an id (ele-1)": _patient(maritalStatus={"id": "a"}),
    "duplicate element ids": _patient(name=[{"id": "a", "text": "x"}],
                                      telecom=[{"id": "a", "value": "1"}]),
}


@pytest.mark.parametrize("case", sorted(LAXER))
def test_only_the_new_validator_rejects_what_fhir_resources_lets_through(case: str) -> None:
    assert validate_structure(LAXER[case])
    assert not _oracle_rejects(LAXER[case])


def test_fhir_resources_rejects_extensions_on_an_extension_value_that_fhir_json_allows() -> None:
    """The one case where the oracle is stricter: FHIR JSON (and the spec's
    fhir.schema.json, which lists ``Extension._valueCode``) allows the id and extensions of
    an extension's primitive value; fhir.resources' Extension model has no such field."""
    resource = _patient(extension=[{"url": "http://x", "valueCode": "a",
                                    "_valueCode": {"extension": [EXT]}}])
    assert validate_structure(resource) == []
    assert _oracle_rejects(resource)


def test_a_structure_definition_repeats_element_ids_between_snapshot_and_differential():
    """Each list's ids are unique on their own; the two lists describe the same elements."""
    element = {"id": "Patient.name", "path": "Patient.name", "min": 1}
    definition = {"resourceType": "StructureDefinition", "url": "urn:x", "name": "X",
                  "status": "draft", "kind": "resource", "abstract": False, "type": "Patient",
                  "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
                  "derivation": "constraint",
                  "snapshot": {"element": [{"id": "Patient", "path": "Patient"}, element]},
                  "differential": {"element": [element]}}
    assert validate_structure(definition) == []
    definition["differential"]["element"].append(dict(element))
    assert [p.code for p in validate_structure(definition)] == ["duplicate"]
