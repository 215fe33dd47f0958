"""profiles.fhirpath against fhirpathpy: every invariant of the IG on every IG example
of its resource type gives the same result, and each construct of the subset agrees on
crafted resources (three-valued logic, empty propagation, choice types, strings,
arithmetic), including what the fast path hands back to fhirpathpy."""

from __future__ import annotations

import copy
import itertools

import pytest

from profiles import fhirpath, ig

CONTEXT_KEY = "resource"


def _outcome(fn, resource):
    try:
        return ("ok", fn(resource, {CONTEXT_KEY: resource}))
    except Exception as error:  # noqa: BLE001 - an error must be an error on both sides
        return ("error", type(error).__name__)


def _agree(expression: str, resource: dict, *, fast: bool = True) -> list | tuple:
    compiled = fhirpath.compile(expression)
    want = _outcome(compiled.slow, resource)
    got = _outcome(compiled, resource)
    assert got == want, (expression, resource)
    if fast:
        assert compiled.fast_for(resource, {CONTEXT_KEY: resource}) is not None, expression
        if want[0] == "ok":  # the fast path itself, not a run-time fallback
            assert compiled.fast(resource, {CONTEXT_KEY: resource}) == want[1], expression
    return want[1]


def _invariants():
    seen = {}
    for definition in ig.structure_definitions() + ig.external_definitions():
        for element in definition.get("snapshot", {}).get("element", []):
            for constraint in element.get("constraint", []):
                if "expression" in constraint:
                    seen.setdefault((definition["type"], element["path"],
                                     constraint["expression"]), constraint["key"])
    return [(key, rtype, path, expression)
            for (rtype, path, expression), key in sorted(seen.items())]


INVARIANTS = _invariants()
EXAMPLES = ig.examples()


def _elements(resource: dict, path: str) -> list:
    """Values at an element path (``Patient.contact.name``), for non-root invariants."""
    values = [resource]
    for name in path.split(".")[1:]:
        name = name.removesuffix("[x]")
        found = []
        for value in values:
            if isinstance(value, dict):
                keys = [k for k in value if k == name or (
                    path.endswith("[x]") and k.startswith(name) and k[len(name):][:1].isupper())]
                for k in keys:
                    found += value[k] if isinstance(value[k], list) else [value[k]]
        values = found
    return [v for v in values if isinstance(v, dict)]


@pytest.mark.parametrize(("key", "rtype", "path", "expression"), INVARIANTS,
                         ids=[f"{i[0]}@{i[2]}" for i in INVARIANTS])
def test_ig_invariant_agrees_on_every_example(key, rtype, path, expression):
    compiled = fhirpathpy_compiled = fhirpath.compile(expression)
    for name, resource, _ in EXAMPLES:
        if resource["resourceType"] != rtype:
            continue
        targets = [resource] if "." not in path else _elements(resource, path)
        for target in targets:
            context = {CONTEXT_KEY: resource}
            want = _safe(fhirpathpy_compiled.slow, target, context)
            assert _safe(compiled, target, context) == want, (key, name)


def _safe(fn, target, context):
    try:
        return ("ok", fn(target, context))
    except Exception as error:  # noqa: BLE001
        return ("error", type(error).__name__)


AMP = [i for i in INVARIANTS if i[0].startswith("amp-")]


@pytest.mark.parametrize(("key", "rtype", "path", "expression"), AMP,
                         ids=[i[0] for i in AMP])
def test_ig_invariants_use_the_fast_path(key, rtype, path, expression):
    compiled = fhirpath.compile(expression)
    examples = [r for _, r, _ in EXAMPLES if r["resourceType"] == rtype]
    assert examples
    for resource in examples:
        context = {CONTEXT_KEY: resource}
        assert compiled.fast_for(resource, context) is not None
        assert compiled.fast(resource, context) == compiled.slow(resource, context)


# -- constructs ----------------------------------------------------------------------

PATIENT = {
    "resourceType": "Patient", "id": "p", "active": True, "gender": "female",
    "birthDate": "1990-05-01", "_birthDate": {"extension": [{"url": "x", "valueCode": "y"}]},
    "name": [{"family": "Soto", "given": ["Ana", "María"]}, {"family": "Rojas"}],
    "identifier": [{"system": "http://regcivil.cl/Validacion/RUN", "value": "12345678-5"},
                   {"system": "s", "value": "7"}],
    "multipleBirthInteger": 2,
    "extension": [{"url": "u1", "valueDecimal": 2.5}, {"url": "u2", "valueString": "x"},
                  {"url": "u3", "valueQuantity": {"value": 3, "unit": "a"}}],
    "telecom": [{"system": "phone", "value": "1", "period": {"start": "2020-01-01"}}],
}

LOGIC = ["true", "false", "{}"]


@pytest.mark.parametrize(("a", "op", "b"), [
    (a, op, b) for a, b in itertools.product(LOGIC, repeat=2)
    for op in ("and", "or", "xor", "implies")])
def test_three_valued_logic(a, op, b):
    _agree(f"({a}) {op} ({b})", PATIENT)


@pytest.mark.parametrize("expression", [
    "name.exists() and 'x'",  # not a boolean: fhirpathpy raises
    "name.family and true",  # several values: raises
    "active and gender.exists()",
    "active.not()", "name.not()", "{}.not()", "gender.not()",
])
def test_logic_operands(expression):
    _agree(expression, PATIENT)


@pytest.mark.parametrize("expression", [
    "gender = 'female'", "gender != 'female'", "gender = {}", "{} != {}",
    "name.family = 'Soto'", "name.family = name.family", "active = true", "active = 1",
    "multipleBirth = 2", "multipleBirth = 2.0", "extension[0].valueDecimal = 2.5",
    "birthDate = '1990-05-01'", "birthDate <= today()", "birthDate > '1989'",
    "multipleBirth < 3", "multipleBirth >= 2.5", "extension[0].value > 2",
    "gender < 'male'", "active > false", "gender < 3", "name < name",
    "identifier.value in ('7' | '8')", "'7' in identifier.value",
    "identifier.value contains '7'", "{} in identifier.value",
])
def test_comparisons(expression):
    _agree(expression, PATIENT)


@pytest.mark.parametrize("expression", [
    "7 div 2", "-7 div 2", "7 mod 3", "-7 mod 3", "7 mod -3", "7.5 mod 2", "7 / 2",
    "1 div 0", "1 mod 0", "2 * 3 + 4 - 1", "2.5 * 2", "multipleBirth * 2",
    "extension[0].value * 2", "'a' + 'b'", "'a' + {}", "'a' & {}", "{} & 'b'",
    "'a' + 1", "gender + '!'", "name.family + 'x'", "true * 2",
])
def test_arithmetic(expression):
    _agree(expression, PATIENT)


@pytest.mark.parametrize("expression", [
    "identifier.value.matches('^[0-9]+-[0-9K]$')", "gender.matches('fem')",
    "gender.length()", "name.family.length()", "gender.substring(1)",
    "gender.substring(1, 3)", "gender.substring(10)", "gender.substring(-1)",
    "gender.substring(1, 0)", "{}.substring(1)", "gender.startsWith('fe')",
    "gender.endsWith('le')", "gender.contains('mal')", "gender.indexOf('m')",
    "gender.upper()", "'  a '.trim()", "'12'.toInteger()", "'1x'.toInteger()",
    "2.0.toInteger()", "multipleBirth.toString()", "active.toString()", "2.5.toString()",
    "('00000000' + identifier.first().value).select(substring(length() - 11))",
    "identifier.value.substring(0, 1).toInteger() * 4",
])
def test_strings(expression):
    _agree(expression, PATIENT)


@pytest.mark.parametrize("expression", [
    "name.given", "name.given.count()", "name.where(family = 'Rojas').exists()",
    "name.select(given)", "name.all(family.exists())", "name.all(given.exists())",
    "name.exists(given.count() = 2)", "name.empty()", "photo.empty()", "name.first().family",
    "name.last().family", "name.tail().family", "name.family.isDistinct()",
    "(name.family | name.family).count()", "name.family.distinct()",
    "name[1].family", "name[5].family", "Patient.name.family", "Observation.status",
    "%resource.gender", "%context.name.family", "$this.gender",
    "iif(active, 'y', 'n')", "iif(gender = 'male', 'y')", "name.where(given).family",
    "extension('u1').value", "extension('u3').value", "extension('nope').exists()",
"telecom.period.start", "birthDate.count()",
    "birthDate.extension.url", "name.family.intersect('Soto' | 'Rojas')",
    "name.family.union(name.given)", "name.family.combine('Soto')",
    "multipleBirth.ofType(integer)", "multipleBirth.ofType(string)",
    "identifier.where(system = 'http://regcivil.cl/Validacion/RUN').all("
    "value.matches('^[1-9][0-9]{0,8}-[0-9K]$') and value.substring(value.length() - 1) = '5')",
    "name.select(iif($this.given.exists(), $this.given.first(), 'none'))",
])
def test_navigation_and_functions(expression):
    _agree(expression, PATIENT)


OBSERVATION = {
    "resourceType": "Observation", "status": "final", "code": {"text": "x"},
    "component": [
        {"code": {"coding": [{"system": "s", "code": "arma"}]},
         "valueCodeableConcept": {"coding": [{"system": "t", "code": "sin-arma"}]}},
        {"code": {"coding": [{"system": "s", "code": "n"}]}, "valueInteger": 3},
        {"code": {"coding": [{"system": "s", "code": "q"}]},
         "valueQuantity": {"value": 1.5, "code": "mg", "system": "http://unitsofmeasure.org"}},
    ],
    "effectivePeriod": {"start": "2020-01-01"},
}


@pytest.mark.parametrize("expression", [
    "component.value", "component.value.coding.code", "component.value.ofType(integer)",
    "component.value.ofType(CodeableConcept).coding.code", "effective.ofType(Period).start",
    "effective.ofType(dateTime)", "component.value.count()",
    "component.where(code.coding.where(system = 's' and code = 'arma').exists())"
    ".value.coding.where(code = 'sin-arma').exists() implies component.count() = 3",
    "component.value.where($this > 2)",
])
def test_choice_types(expression):
    _agree(expression, OBSERVATION)


@pytest.mark.parametrize("expression", [
    "component.value = 1.5", "extension.value = 2.5",  # Quantity comparison
    "name.family.trace('x')", "descendants().count()", "name.family.is(string)",
    "birthDate < @2000-01-01", "extension.value.ofType(Quantity)",  # Age is a Quantity
    "name.family.union('Soto')",  # nodes and plain values: fhirpathpy's uniq differs
    "children().count()", "name.family.aggregate($this)",
])
def test_unsupported_falls_back_and_agrees(expression):
    resource = OBSERVATION if "component" in expression else PATIENT
    compiled = fhirpath.compile(expression)
    assert compiled.fast_for(resource, {CONTEXT_KEY: resource}) is None
    with pytest.raises(fhirpath.Unsupported):
        compiled.fast(resource, {CONTEXT_KEY: resource})
    _agree(expression, resource, fast=False)


def test_runtime_fallback_agrees():
    """A value of a shape the fast path does not handle goes to fhirpathpy."""
    odd = copy.deepcopy(PATIENT)
    odd["gender"] = ["female", "male"]  # a list where one value is expected
    for expression in ("gender < 'x'", "gender + 'x'", "gender.length()", "gender = 'female'"):
        _agree(expression, odd, fast=False)


def test_non_resource_roots_and_missing_context():
    compiled = fhirpath.compile("family.exists()")
    assert compiled({"family": "x"}, None) == compiled.slow({"family": "x"}, None)
    assert compiled.fast_for({"family": "x"}) is None
    compiled = fhirpath.compile("%resource.gender")
    assert _outcome(lambda r, c: compiled(r), PATIENT) == \
        _outcome(lambda r, c: compiled.slow(r), PATIENT)


@pytest.mark.parametrize("expression", ["name.where(", "name..x", "'a"])
def test_bad_expression_behaves_like_fhirpathpy(expression):
    import fhirpathpy
    from fhirpathpy.models import models

    def outcome(compile_):
        try:
            compiled = compile_(expression)
        except Exception as error:  # noqa: BLE001
            return ("compile error", type(error).__name__)
        return _outcome(compiled, PATIENT)
    assert outcome(fhirpath.compile) == outcome(lambda e: fhirpathpy.compile(e, models["r4"]))


def test_validator_uses_the_compiler():
    from profiles.validator import _compiled
    assert isinstance(_compiled("name.exists()"), fhirpath.FastPath)


def test_ig_invariants_agree_on_mutated_examples():
    """Deterministic fuzz: IG examples with keys dropped, values swapped for odd ones
    and list items repeated; every amp-* invariant agrees (results and errors)."""
    import random
    rng = random.Random(7)
    odd = ["", "x", 0, 1, -3, 2.5, True, False, None, [], {}, ["a", "b"],
           {"extension": []}, "completed", "active", "12345678-5", "1-9", "K", "dash"]

    def mutate(value):
        if isinstance(value, dict):
            for k in list(value):
                r = rng.random()
                if r < 0.08:
                    del value[k]
                elif r < 0.16:
                    value[k] = copy.deepcopy(rng.choice(odd))
                else:
                    mutate(value[k])
        elif isinstance(value, list):
            if value and rng.random() < 0.15:
                value.append(copy.deepcopy(rng.choice(value)))
            for item in value:
                mutate(item)

    compiled = [(rtype, fhirpath.compile(expression)) for _, rtype, _, expression in AMP]
    for _ in range(12):
        for _, resource, _ in EXAMPLES:
            mutated = copy.deepcopy(resource)
            mutate(mutated)
            mutated["resourceType"] = resource["resourceType"]
            for rtype, fn in compiled:
                if rtype == resource["resourceType"]:
                    assert _outcome(fn, mutated) == _outcome(fn.slow, mutated), fn.expression
