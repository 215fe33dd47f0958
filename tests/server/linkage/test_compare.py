"""The linkage rules on the cases the institutions' fixtures were built around
(``fixtures/institutions/README.md`` sections 5.2 and 6.2)."""

from __future__ import annotations

import pytest

from server.linkage.compare import compare
from server.linkage.identity import (
    COMUNA_EXTENSION,
    COMUNA_SYSTEM,
    RUN_SYSTEM,
    SECOND_SURNAME,
    STATED_AGE,
    UNVERIFIED_RUN_SYSTEM,
    identity,
)

LA_FLORIDA, IQUIQUE, VALPARAISO = "13110", "01101", "05101"


def patient(given: str | None = None, family: str | None = None, second: str | None = None,
            *, run: str | None = None, unverified: str | None = None,
            passport: tuple[str, str] | None = None, born: str | None = None,
            comuna: str | None = None, phone: str | None = None,
            age: tuple[int, str] | None = None) -> dict:
    out: dict = {"resourceType": "Patient", "identifier": []}
    if age:
        out["extension"] = [stated_age(*age)]
    if run:
        out["identifier"].append({"system": RUN_SYSTEM, "value": run})
    if unverified:
        out["identifier"].append({"system": UNVERIFIED_RUN_SYSTEM, "value": unverified})
    if passport:
        out["identifier"].append({"system": f"https://fhir.amparo.cl/sid/pasaporte/{passport[0]}",
                                  "value": passport[1]})
    if given or family:
        name: dict = {"use": "official"}
        if given:
            name["given"] = given.split(" ")
        if family:
            name["family"] = family
        if second:
            name["_family"] = {"extension": [{"url": SECOND_SURNAME, "valueString": second}]}
        out["name"] = [name]
    if born:
        out["birthDate"] = born
    if comuna:
        out["address"] = [{"_city": {"extension": [{"url": COMUNA_EXTENSION,
                                                    "valueCodeableConcept": {"coding": [
                                                        {"system": COMUNA_SYSTEM,
                                                         "code": comuna}]}}]}}]
    if phone:
        out["telecom"] = [{"system": "phone", "value": phone}]
    if not out["identifier"]:
        del out["identifier"]  # FHIR has no empty arrays
    return out


def stated_age(years: object, day: object, code: str = "a") -> dict:
    return {"url": STATED_AGE, "extension": [
        {"url": "edad", "valueAge": {"value": years, "system": "http://unitsofmeasure.org",
                                      "code": code}},
        {"url": "fecha", "valueDate": day}]}


def grade(a: dict, b: dict) -> str:
    verdict = compare(identity(a), identity(b))
    assert compare(identity(b), identity(a)).grade == verdict.grade  # symmetric
    return verdict.grade


CAMILA = patient("Camila Andrea", "Rojas", "Fuentes", run="41382204-1", born="1992-02-11",
                 comuna=LA_FLORIDA, phone="+56 9 8765 4321")


def test_the_same_valid_run_is_the_same_woman_however_it_is_written():
    assert grade(CAMILA, patient("Camila", "Rojas", run="41.382.204-1")) == "certain"
    assert grade(patient("Yasna", "Tapia", run="40611189-K"),
                 patient("yasna", "TAPIA ", run="40611189-k")) == "certain"


def test_a_passport_links_by_country_and_number():
    a = patient("Yelitza", "Mendoza", passport=("VEN", "134598762"))
    assert grade(a, patient(passport=("VEN", "134598762"))) == "certain"
    assert grade(a, patient("Yelitza", "Mendoza", passport=("COL", "134598762"))) != "certain"


def test_her_mother_calling_links_by_name_and_two_agreeing_facts():
    # S01: no RUN, "  camila ANDREA" / "rojas fuentes  ", same comuna and phone
    call = patient("  camila ANDREA", "rojas fuentes  ", comuna=LA_FLORIDA,
                   phone="987654321")
    assert grade(CAMILA, call) == "probable"


def test_a_namesake_elsewhere_is_not_her():
    # calls.csv row 24: "Camila" "Rojas", another comuna, no other fact in common
    assert grade(CAMILA, patient("Camila", "Rojas", comuna=IQUIQUE)) == "possible"
    assert grade(CAMILA, patient("Camila", "Rojas", born="2006-05-01")) == "certainly-not"


def test_a_wrong_check_digit_never_links_by_itself_but_names_and_facts_do():
    # S09: health sends RUN 41127350-7 (wrong digit) for 41127350-4
    paola = patient("Paola", "Muñoz", "Riquelme", run="41127350-4", born="1985-03-02",
                    comuna="08101")
    sent = patient("PAOLA", "MUNOZ", unverified="41127350-7", born="1985-03-02",
                   comuna="08101")
    assert grade(paola, sent) == "probable"
    assert grade(paola, patient("Ana", "Pérez", unverified="41127350-4")) == "certainly-not"


def test_surnames_match_in_either_order_with_a_letter_of_difference_or_one_missing():
    base = patient("Daniela", "Soto", "Vidal", born="1979-01-01", comuna=VALPARAISO)
    assert grade(base, patient("Daniela", "Vidal Soto", born="1979-01-01",
                               comuna=VALPARAISO)) == "probable"
    assert grade(base, patient("Daniela", "Sotto", born="1979-01-01",
                               comuna=VALPARAISO)) == "probable"
    assert grade(base, patient("Daniela", "Soto", born="1979-01-01",
                               comuna=VALPARAISO)) == "probable"
    assert grade(base, patient("Daniela", "Sosa Vidal", born="1979-01-01",
                               comuna=VALPARAISO)) == "certainly-not"  # first surname differs
    assert grade(base, patient("Daniela", "Castro", born="1979-01-01",
                               comuna=VALPARAISO)) == "certainly-not"


def test_a_hyphenated_given_name_is_two_words():
    # S15: "Marie Claude" at the hotline, "Marie-Claude" at the women's centre
    a = patient("Marie-Claude", "Joseph", comuna="13106", phone="+56 9 1111 2222")
    assert grade(a, patient("Marie Claude", "Joseph", comuna="13106",
                            phone="911112222")) == "probable"


@pytest.mark.parametrize("other", [
    patient("Camila", "Rojas", run="40917736-0", comuna=LA_FLORIDA, phone="987654321"),
    patient("Camila", "Rojas", born="1992-02-12", comuna=LA_FLORIDA, phone="987654321"),
])
def test_a_contradiction_rules_out_whatever_else_agrees(other):
    assert grade(CAMILA, other) == "certainly-not"


def test_facts_that_agree_without_the_name_do_not_link():
    assert grade(CAMILA, patient("Javiera", "González", born="1992-02-11",
                                 comuna=LA_FLORIDA, phone="987654321")) == "certainly-not"


def test_a_probable_match_scores_above_a_possible_one():
    probable = compare(identity(CAMILA), identity(patient(
        "Camila", "Rojas", born="1992-02-11", comuna=LA_FLORIDA)))
    possible = compare(identity(CAMILA), identity(patient("Camila", "Rojas",
                                                          comuna=LA_FLORIDA)))
    assert probable.grade == "probable" and possible.grade == "possible"
    assert 1 > probable.score > possible.score > 0


# -- rule 5.2(b) and (c) on a stated age (the guide's ext-edad-declarada) ---------------------

def test_an_age_that_agrees_with_her_birth_date_counts_as_one_of_two_facts():
    call = patient("Rosa", "Pérez", comuna=LA_FLORIDA, age=(39, "2025-06-02"))
    complaint = patient("Rosa", "Pérez", "Soto", born="1985-09-30", comuna=LA_FLORIDA)
    assert grade(call, complaint) == "probable"
    # within a year either way (she may have had her birthday since)
    assert grade(patient("Rosa", "Pérez", comuna=LA_FLORIDA, age=(40, "2025-06-02")),
                 complaint) == "probable"
    # without the comuna the age alone is one fact: shown, not linked
    assert grade(patient("Rosa", "Pérez", age=(39, "2025-06-02")), complaint) == "possible"


def test_two_stated_ages_agree_allowing_for_the_time_between():
    first = patient("Rosa", "Pérez", comuna=LA_FLORIDA, age=(39, "2024-01-10"))
    assert grade(first, patient("Rosa", "Pérez", comuna=LA_FLORIDA,
                                age=(41, "2026-03-01"))) == "probable"
    assert grade(first, patient("Rosa", "Pérez", comuna=LA_FLORIDA,
                                age=(39, "2026-03-01"))) == "certainly-not"


def test_an_age_that_contradicts_her_birth_date_rules_her_out():
    call = patient("Rosa", "Pérez", comuna=LA_FLORIDA, phone="+56 9 4123 7788",
                   age=(25, "2025-06-02"))
    complaint = patient("Rosa", "Pérez", born="1985-09-30", comuna=LA_FLORIDA,
                        phone="941237788")
    verdict = compare(identity(call), identity(complaint))
    assert (verdict.grade, verdict.reasons) == ("certainly-not", ("edad incompatible",))


def test_a_stated_age_without_its_day_or_in_other_units_says_nothing():
    complaint = patient("Rosa", "Pérez", born="1985-09-30", comuna=LA_FLORIDA)
    for broken in (stated_age(25, "2025-06-02", code="mo"), stated_age("25", "2025-06-02"),
                   stated_age(25, "2025-13-40"), {"url": STATED_AGE, "extension": [
                       {"url": "edad", "valueAge": {"value": 25, "code": "a"}}]}):
        call = patient("Rosa", "Pérez", comuna=LA_FLORIDA)
        call["extension"] = [broken]
        assert identity(call).ages == frozenset()
        assert grade(call, complaint) == "possible"
