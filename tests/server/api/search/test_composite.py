"""Composite search parameters over HTTP on the R4B examples
(https://hl7.org/fhir/R4B/search.html#composite): ``code$value`` pairs match only when
both parts belong to the SAME item (one Observation.component, one relatesTo), each
part read with its own type's rules (prefixes, precision, systems).

Expected answers are computed from the example JSON here, independently of the server.
"""

from __future__ import annotations

import math

import pytest

from server.search.definitions import params_for
from server.search.parse_values import supports
from tests.conftest import assert_outcome
from tests.server.api.search.conftest import matches

LOINC, SCT, UCUM = "http://loinc.org", "http://snomed.info/sct", "http://unitsofmeasure.org"


# -- an independent reading of the examples ---------------------------------------------

def items(observation: dict, base: str) -> list[dict]:
    """The base items: the Observation itself, its components, or both (combo)."""
    found = []
    if base in ("self", "combo"):
        found.append(observation)
    if base in ("component", "combo"):
        found.extend(observation.get("component", []))
    return found


def has_coding(concept: dict | None, system: str | None, code: str) -> bool:
    return any(c.get("code") == code and (system is None or c.get("system") == system)
               for c in (concept or {}).get("coding", []))


def quantity_matches(quantity: dict | None, prefix: str, number: float) -> bool:
    """A stored Quantity against ``[prefix]number`` (search.html#prefix, #quantity): a
    comparator makes the stored value an open range; ``eq`` uses the precision of an
    integer search value (``60`` is [59.5, 60.5))."""
    if not quantity or "value" not in quantity:
        return False
    value, comparator = quantity["value"], quantity.get("comparator")
    low = -math.inf if comparator in ("<", "<=") else value
    high = math.inf if comparator in (">", ">=") else value
    return {"gt": high > number, "lt": low < number, "ge": high >= number,
            "le": low <= number,
            "eq": low == high and number - 0.5 <= value < number + 0.5}[prefix]


def expected(examples, base: str, system: str, code: str, value_test) -> set[str]:
    return examples.where("Observation", lambda o: any(
        has_coding(item.get("code"), system, code) and value_test(item)
        for item in items(o, base)))


def split_prefix(value: str) -> tuple[str, float]:
    return (value[:2], float(value[2:])) if value[:2].isalpha() else ("eq", float(value))


# -- quantity ---------------------------------------------------------------------------

#: (parameter, base, code, value, whether the examples hold a match)
QUANTITY_CASES = [
    ("code-value-quantity", "self", "8867-4", "gt40", True),    # heart-rate 44
    ("code-value-quantity", "self", "8867-4", "lt40", False),
    ("code-value-quantity", "self", "8310-5", "ge37", True),    # f202 39, not 36.5
    ("code-value-quantity", "self", "9269-2", "13", True),      # glasgow, gcs-qa
    ("code-value-quantity", "self", "8480-6", "107", False),    # only a component has it
    ("component-code-value-quantity", "component", "8480-6", "gt100", True),
    ("component-code-value-quantity", "component", "8462-4", "le60", True),
    ("component-code-value-quantity", "component", "48643-1", "gt100", True),  # >60
    ("component-code-value-quantity", "component", "8478-0", "60", False),  # not a component
    ("combo-code-value-quantity", "combo", "8480-6", "107", True),
    ("combo-code-value-quantity", "combo", "8478-0", "60", True),   # the Observation's own
    ("combo-code-value-quantity", "combo", "8462-4", "60", True),   # a component's
    ("combo-code-value-quantity", "combo", "8462-4", "gt61", False),
]


@pytest.mark.parametrize(("param", "base", "code", "value", "found"), QUANTITY_CASES)
def test_code_and_quantity_of_the_same_item(examples, param, base, code, value, found):
    prefix, number = split_prefix(value)
    want = expected(examples, base, LOINC, code,
                    lambda item: quantity_matches(item.get("valueQuantity"), prefix, number))
    assert bool(want) == found, want
    assert examples.ids("Observation", {param: f"{LOINC}|{code}${value}"}) == want
    # the code part without its system matches the code in any system
    assert examples.ids("Observation", {param: f"{code}${value}"}) == want


def test_a_code_with_the_value_of_another_component_does_not_match(examples):
    """The correlation the composite exists for: blood-pressure has systolic 107 and
    diastolic 60; systolic$60 matches nothing, though separate parameters match."""
    bp = examples.where("Observation", lambda o: o["id"] == "blood-pressure")
    assert bp
    crossed = examples.ids("Observation",
                           {"component-code-value-quantity": f"{LOINC}|8480-6$60"})
    assert not crossed & bp
    assert crossed == expected(examples, "component", LOINC, "8480-6", lambda item:
                               quantity_matches(item.get("valueQuantity"), "eq", 60))
    separate = examples.ids("Observation", {"component-code": f"{LOINC}|8480-6",
                                            "component-value-quantity": "60"})
    assert bp <= separate
    assert examples.ids("Observation",
                        {"component-code-value-quantity": f"{LOINC}|8480-6$107"}) >= bp


def test_the_quantity_part_takes_system_and_unit_code(examples):
    want = expected(examples, "component", LOINC, "8480-6",
                    lambda item: quantity_matches(item.get("valueQuantity"), "eq", 107))
    assert want
    param = "component-code-value-quantity"
    assert examples.ids("Observation", {param: f"8480-6$107|{UCUM}|mm[Hg]"}) == want
    assert examples.ids("Observation", {param: "8480-6$107||mm[Hg]"}) == want
    assert examples.ids("Observation", {param: f"8480-6$107|{UCUM}|mg"}) == set()


def test_comma_values_are_ored_and_repeated_parameters_anded(examples):
    param = "component-code-value-quantity"
    systolic = expected(examples, "component", LOINC, "8480-6",
                        lambda item: quantity_matches(item.get("valueQuantity"), "gt", 100))
    diastolic = expected(examples, "component", LOINC, "8462-4",
                         lambda item: quantity_matches(item.get("valueQuantity"), "lt", 70))
    assert systolic and diastolic and systolic != diastolic
    either = examples.ids("Observation", {param: "8480-6$gt100,8462-4$lt70"})
    assert either == systolic | diastolic
    both = examples.ids("Observation", [(param, "8480-6$gt100"), (param, "8462-4$lt70")])
    assert both == systolic & diastolic


# -- token$token, date, string, reference ------------------------------------------------

#: (parameter, base, code system, code, value system, value code, whether found)
CONCEPT_CASES = [
    ("code-value-concept", "self", LOINC, "883-9", SCT, "112144000", True),
    ("code-value-concept", "self", LOINC, "51967-8", SCT, "363358000", False),  # component
    ("combo-code-value-concept", "combo", LOINC, "51967-8", SCT, "363358000", True),
    ("combo-code-value-concept", "combo", LOINC, "55233-1", SCT, "10828004", True),
    ("combo-code-value-concept", "combo", "http://acme-rehab.org", "alcohol-type", SCT,
     "53410008", True),
    ("component-code-value-concept", "component", LOINC, "53037-8", None, "LA6669-1", True),
    ("component-code-value-concept", "component", LOINC, "883-9", SCT, "112144000", False),
]


@pytest.mark.parametrize(("param", "base", "system", "code", "value_system", "value_code",
                          "found"), CONCEPT_CASES)
def test_code_and_concept_of_the_same_item(examples, param, base, system, code,
                                           value_system, value_code, found):
    want = expected(examples, base, system, code, lambda item: has_coding(
        item.get("valueCodeableConcept"), value_system, value_code))
    assert bool(want) == found, want
    value = f"{value_system}|{value_code}" if value_system else value_code
    assert examples.ids("Observation", {param: f"{system}|{code}${value}"}) == want


def test_glasgow_components_do_not_cross(examples):
    """glasgow: 9268-4 (motor) is acme 5, 9270-0 (verbal) is acme 4: motor$4 is no match."""
    glasgow = examples.where("Observation", lambda o: o["id"] == "glasgow")
    assert glasgow
    param = "component-code-value-concept"
    assert examples.ids("Observation", {param: f"{LOINC}|9268-4$http://acme.ec/codes|5"}) \
        >= glasgow
    crossed = examples.ids("Observation", {param: f"{LOINC}|9268-4$http://acme.ec/codes|4"})
    assert not crossed & glasgow
    assert glasgow <= examples.ids("Observation", {
        "component-code": f"{LOINC}|9268-4", "component-value-concept": "http://acme.ec/codes|4"})


def test_code_and_date(examples):
    def on(prefix: str, year_month: str):
        def test(item: dict) -> bool:
            value = item.get("valueDateTime", "")[:7]
            return bool(value) and {"eq": value == year_month, "ge": value >= year_month,
                                    "lt": value < year_month}[prefix]
        return test

    param = "code-value-date"
    for value, (prefix, month) in {"2016-12": ("eq", "2016-12"), "ge2016-11": ("ge", "2016-11"),
                                   "lt2016-12": ("lt", "2016-12")}.items():
        want = expected(examples, "self", LOINC, "8665-2", on(prefix, month))
        assert examples.ids("Observation", {param: f"{LOINC}|8665-2${value}"}) == want, value
    assert examples.ids("Observation", {param: f"{LOINC}|8665-2$2016-12"})
    assert examples.ids("Observation", {param: f"{LOINC}|8665-2$2017"}) == set()


def test_code_and_string_starts_with(examples):
    def starts(text: str):
        return lambda item: item.get("valueString", "").lower().startswith(text.lower())

    param = "code-value-string"
    want = expected(examples, "self", SCT, "363779003", starts("*1"))
    assert want
    assert examples.ids("Observation", {param: f"{SCT}|363779003$*1"}) == want
    assert examples.ids("Observation", {param: f"{SCT}|363779003$*4"}) == \
        expected(examples, "self", SCT, "363779003", starts("*4")) == set()


def test_relationship_reference_then_code(examples):
    def related(target: str, code: str):
        return examples.where("DocumentReference", lambda d: any(
            r.get("code") == code and r.get("target", {}).get("reference") == target
            for r in d.get("relatesTo", [])))

    (relation,) = examples.loaded[("DocumentReference", "example")]["relatesTo"]
    target, code = relation["target"]["reference"], relation["code"]
    want = related(target, code)
    assert want == {"example"}
    assert examples.ids("DocumentReference", {"relationship": f"{target}${code}"}) == want
    # a bare id (the parameter has one target type) reads as that type
    bare = target.split("/")[-1]
    assert examples.ids("DocumentReference", {"relationship": f"{bare}${code}"}) == want
    other = "replaces" if code != "replaces" else "appends"
    assert examples.ids("DocumentReference", {"relationship": f"{target}${other}"}) == set()
    assert related(target, other) == set()


# -- :missing, chains, paging, capability ------------------------------------------------

def test_missing(examples):
    param = "component-code-value-quantity"
    present = examples.where("Observation", lambda o: any(
        c.get("code", {}).get("coding") and "value" in c.get("valueQuantity", {})
        for c in o.get("component", [])))
    assert present
    assert examples.ids("Observation", {f"{param}:missing": "false", "_count": "500"}) == \
        present
    everything = examples.where("Observation", bool)
    assert examples.ids("Observation", {f"{param}:missing": "true", "_count": "500"}) == \
        everything - present


def test_reverse_chain_on_a_composite(examples):
    observations = expected(examples, "component", LOINC, "8480-6",
                            lambda item: quantity_matches(item.get("valueQuantity"), "gt", 100))
    subjects = {examples.loaded[("Observation", id)]["subject"]["reference"]
                for id in observations}
    want = {s.split("/")[1] for s in subjects if s.startswith("Patient/")} & \
        examples.where("Patient", bool)
    assert want
    found = examples.ids("Patient", {
        "_has:Observation:subject:component-code-value-quantity": f"{LOINC}|8480-6$gt100"})
    assert found == want


def test_paging_and_total(examples):
    want = expected(examples, "combo", LOINC, "8480-6",
                    lambda item: quantity_matches(item.get("valueQuantity"), "gt", 0)) | \
        expected(examples, "combo", LOINC, "8462-4",
                 lambda item: quantity_matches(item.get("valueQuantity"), "gt", 0))
    assert len(want) >= 2
    seen, params = set(), {"combo-code-value-quantity": "8480-6$gt0,8462-4$gt0",
                           "_count": "1", "_total": "accurate"}
    bundle = examples.search("Observation", params)
    assert bundle["total"] == len(want)
    while True:
        seen |= matches(bundle)
        next_link = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not next_link:
            break
        response = examples.live.http.get(next_link[0])
        assert response.status_code == 200, response.text
        bundle = response.json()
    assert seen == want


def test_the_capability_statement_lists_the_two_part_composites(examples):
    statement = examples.live.get("metadata").json()
    listed = {(r["type"], p["name"]): p for r in statement["rest"][0]["resource"]
              for p in r.get("searchParam", [])}
    for code in ("code-value-quantity", "code-value-concept", "code-value-date",
                 "code-value-string", "combo-code-value-quantity", "combo-code-value-concept",
                 "component-code-value-quantity", "component-code-value-concept"):
        entry = listed[("Observation", code)]
        assert entry["type"] == "composite"
        assert entry["documentation"] == "Modifiers: :missing"
    assert ("DocumentReference", "relationship") in listed
    assert ("MolecularSequence", "chromosome-window-coordinate") not in listed
    assert not supports(params_for("MolecularSequence")["chromosome-window-coordinate"])


def test_a_three_part_composite_is_ignored_or_refused(examples):
    name = "chromosome-window-coordinate"
    bundle = examples.search("MolecularSequence", {name: "1$gt1$lt2"})
    outcome = [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]
    assert name in outcome[0]["resource"]["issue"][0]["diagnostics"]
    response = examples.live.get("MolecularSequence", params={name: "1$gt1$lt2"},
                                 headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400)


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize(("param", "value"), [
    ("code-value-quantity", "8480-6"),                     # no $
    ("code-value-quantity", "8480-6$1$2"),                 # too many parts
    ("code-value-quantity", "8480-6$"),                    # empty part
    ("code-value-quantity", "$107"),
    ("code-value-quantity", "8480-6$abc"),                 # not a number
    ("code-value-quantity", "8480-6$zz107"),               # unknown prefix
    ("code-value-quantity", "8480-6$gt"),                  # prefix without a value
    ("code-value-quantity", "8480-6$1|a"),                 # quantity of two parts
    ("code-value-quantity", "a|b|c$1"),                    # token of three parts
    ("code-value-quantity", "8480-6$1e999"),
    ("code-value-date", "8665-2$2016-13"),
    ("code-value-date", "8665-2$yesterday"),
    ("code-value-string", "x$ "),                          # blank string
    ("code-value-string", "x$a\x00b"),
    ("relationship", "Patient/example$appends"),           # a target the part forbids
    ("relationship", "../../etc$appends"),
    ("relationship", "' OR 1=1 --$appends"),
    ("code-value-quantity", "x$1" + ",x$1" * 200),          # too many values
    ("code-value-quantity", "x" * 5000 + "$1"),            # too long
    ("code-value-quantity:exact", "x$1"),                   # no such modifier (strict)
    ("code-value-quantity:missing", "maybe"),
])
def test_malformed_composites_are_400(examples, param, value):
    type = "DocumentReference" if param == "relationship" else "Observation"
    response = examples.live.get(type, params={param: value},
                                 headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400)


@pytest.mark.parametrize("value", ["' OR 1=1 --$1", "%$1", "_$gt0", "8480-6$1' OR '1'='1",
                                   "%' UNION SELECT body FROM resource_version --$1"])
def test_hostile_parts_are_literal_or_400(examples, value):
    response = examples.live.get("Observation", params={"combo-code-value-quantity": value})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        assert matches(response.json()) == set()


# -- own data: escapes, updates -----------------------------------------------------------

def observation(**fields) -> dict:
    return {"resourceType": "Observation", "status": "final", **fields}


def coded(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def test_an_escaped_dollar_is_literal(live):
    created = live.post("Observation", json=observation(
        code=coded("urn:amparo:test", "a$b"), valueString="cost $5")).json()
    other = live.post("Observation", json=observation(
        code=coded("urn:amparo:test", "a"), valueString="b$cost")).json()
    param = "code-value-string"

    def ids(value: str) -> set[str]:
        response = live.get("Observation", params={param: value})
        assert response.status_code == 200, response.text
        return matches(response.json())

    assert ids("urn:amparo:test|a\\$b$cost \\$5") == {created["id"]}
    assert ids("urn:amparo:test|a\\$b$cost") == {created["id"]}
    assert ids("urn:amparo:test|a$b\\$cost") == {other["id"]}
    assert_outcome(live.get("Observation", params={param: "urn:amparo:test|a$b$cost"},
                            headers={"Prefer": "handling=strict"}), 400)


def test_an_update_replaces_the_composite_rows_and_a_delete_drops_them(live):
    bp = observation(code=coded(LOINC, "85354-9"), component=[
        {"code": coded(LOINC, "8480-6"), "valueQuantity": {"value": 150, "system": UCUM,
                                                           "code": "mm[Hg]"}},
        {"code": coded(LOINC, "8462-4"), "valueQuantity": {"value": 95, "system": UCUM,
                                                           "code": "mm[Hg]"}}])
    id = live.post("Observation", json=bp).json()["id"]

    def ids(value: str) -> set[str]:
        response = live.get("Observation", params={"component-code-value-quantity": value})
        assert response.status_code == 200, response.text
        return matches(response.json())

    assert ids("8480-6$gt140") == {id}
    assert ids("8480-6$95") == set()
    bp["id"] = id
    bp["component"][0]["valueQuantity"]["value"] = 120
    assert live.put(f"Observation/{id}", json=bp).status_code == 200
    assert ids("8480-6$gt140") == set()
    assert ids("8480-6$120") == {id}
    assert live.delete(f"Observation/{id}").status_code in (200, 204)
    assert ids("8480-6$120") == set()
