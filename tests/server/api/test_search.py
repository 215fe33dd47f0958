"""search-type over HTTP, for what the server supports: ``_id`` and token parameters,
``_count``, ``_total``, paging links. See: https://hl7.org/fhir/R4B/search.html
"""

from __future__ import annotations

import pytest

from tests.conftest import assert_outcome, patient

RUN = "https://amparo.example/run"
PASSPORT = "https://amparo.example/passport"
FORM = "application/x-www-form-urlencoded"



def create(live, *identifiers: tuple[str | None, str], **fields) -> str:
    if identifiers:
        fields["identifier"] = [{"value": v} if s is None else {"system": s, "value": v}
                                for s, v in identifiers]
    response = live.post("Patient", json=patient(**fields))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def search(live, params: dict | list | None = None, **headers) -> dict:
    response = live.get("Patient", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["resourceType"] == "Bundle" and body["type"] == "searchset"
    return body


def matches(bundle: dict) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"]


def link(bundle: dict, relation: str) -> str | None:
    return next((x["url"] for x in bundle.get("link", []) if x["relation"] == relation), None)


@pytest.fixture
def people(live) -> dict[str, str]:
    """Five Patients with different identifiers, by name."""
    return {
        "ana": create(live, (RUN, "111"), active=True),
        "bea": create(live, (RUN, "222"), (PASSPORT, "P-9"), active=False),
        "cata": create(live, (PASSPORT, "111")),
        "dora": create(live, (None, "111")),
        "eva": create(live),
    }


# _id ------------------------------------------------------------------------------------

def test_id_finds_that_resource_only(live, people):
    bundle = search(live, {"_id": people["bea"]})
    assert matches(bundle) == [people["bea"]]
    assert bundle["total"] == 1
    assert bundle["entry"][0]["fullUrl"] == f"{live.base}/Patient/{people['bea']}"


def test_id_with_several_values_finds_any_of_them(live, people):
    bundle = search(live, {"_id": f"{people['ana']},{people['eva']},unknown"})
    assert sorted(matches(bundle)) == sorted([people["ana"], people["eva"]])


def test_id_of_a_deleted_resource_finds_nothing(live, people):
    live.delete(f"Patient/{people['ana']}")
    assert matches(search(live, {"_id": people["ana"]})) == []


# token: identifier ----------------------------------------------------------------------

def test_token_system_and_value_matches_both(live, people):
    assert matches(search(live, {"identifier": f"{RUN}|111"})) == [people["ana"]]


def test_token_value_alone_matches_any_system(live, people):
    found = matches(search(live, {"identifier": "111"}))
    assert sorted(found) == sorted([people["ana"], people["cata"], people["dora"]])


def test_token_with_an_empty_system_matches_only_values_without_a_system(live, people):
    assert matches(search(live, {"identifier": "|111"})) == [people["dora"]]


def test_token_system_with_an_empty_value_matches_any_value_of_that_system(live, people):
    assert sorted(matches(search(live, {"identifier": f"{PASSPORT}|"}))) == sorted(
        [people["bea"], people["cata"]])


def test_token_values_separated_by_commas_are_ored(live, people):
    found = matches(search(live, {"identifier": f"{RUN}|222,{PASSPORT}|111"}))
    assert sorted(found) == sorted([people["bea"], people["cata"]])


def test_token_not_modifier_excludes_matches_and_keeps_resources_without_the_element(
        live, people):
    found = matches(search(live, {"identifier:not": f"{RUN}|111"}))
    assert sorted(found) == sorted(v for k, v in people.items() if k != "ana")


def test_a_token_value_is_matched_exactly(live, people):
    assert matches(search(live, {"identifier": f"{RUN}|11"})) == []
    assert matches(search(live, {"identifier": f"{RUN.upper()}|111"})) == []


def test_a_boolean_token_parameter_matches(live, people):
    assert matches(search(live, {"active": "true"})) == [people["ana"]]
    assert matches(search(live, {"active": "false"})) == [people["bea"]]


def test_two_parameters_are_anded(live, people):
    assert matches(search(live, {"identifier": "111", "active": "true"})) == [people["ana"]]
    assert matches(search(live, {"identifier": "222", "active": "true"})) == []
    assert matches(search(live, {"_id": people["bea"], "identifier": f"{PASSPORT}|P-9"})) == [
        people["bea"]]


def test_the_same_parameter_twice_is_anded(live, people):
    both = [("identifier", f"{RUN}|222"), ("identifier", f"{PASSPORT}|P-9")]
    assert matches(search(live, both)) == [people["bea"]]
    neither = [("identifier", f"{RUN}|111"), ("identifier", f"{PASSPORT}|P-9")]
    assert matches(search(live, neither)) == []


# total and paging -----------------------------------------------------------------------

def test_total_counts_every_match_not_only_the_page(live, people):
    bundle = search(live, {"_count": "2", "_total": "accurate"})
    assert bundle["total"] == 5
    assert len(matches(bundle)) == 2


def test_by_default_a_total_is_given_only_when_the_first_page_holds_every_match(
        live, people):
    assert "total" not in search(live, {"_count": "2"})
    assert search(live, {"_count": "5"})["total"] == 5


def test_total_none_leaves_the_total_out(live, people):
    bundle = search(live, {"_total": "none"})
    assert "total" not in bundle
    assert len(matches(bundle)) == 5


def test_count_zero_gives_the_total_and_no_entries(live, people):
    bundle = search(live, {"_count": "0"})
    assert bundle["total"] == 5
    assert matches(bundle) == []


def follow(live, url: str) -> dict:
    response = live.http.get(url)
    assert response.status_code == 200, response.text
    return response.json()


def test_next_links_page_through_every_match_once(live, people):
    bundle = search(live, {"_count": "2"})
    assert link(bundle, "previous") is None
    found = matches(bundle)
    while (url := link(bundle, "next")) is not None:
        bundle = follow(live, url)
        found += matches(bundle)
    assert sorted(found) == sorted(people.values())
    assert len(found) == len(set(found))


def test_links_carry_the_criteria_and_count_once(live, people):
    bundle = search(live, {"identifier": "111", "_count": "1"})
    for relation in ("self", "next"):
        url = link(bundle, relation)
        assert url.startswith(f"{live.base}/Patient?")
        assert url.count("_count=1") == 1
        assert "identifier=111" in url
    second = follow(live, link(bundle, "next"))
    assert link(second, "self").count("_count=") == 1
    assert link(second, "next").count("_count=") == 1


def test_paging_is_stable_when_a_resource_is_created_between_pages(live, people):
    first = search(live, {"_count": "2"})
    second = follow(live, link(first, "next"))
    create(live, (RUN, "999"))
    again = follow(live, link(first, "next"))
    assert matches(again) == matches(second)
    back = follow(live, link(again, "previous"))
    assert matches(back) == matches(first)
    third = follow(live, link(again, "next"))
    seen = matches(first) + matches(second) + matches(third)
    assert len(seen) == len(set(seen))
    assert set(people.values()) <= set(seen)


def test_paging_is_stable_when_a_resource_of_an_earlier_page_is_deleted(live, people):
    first = search(live, {"_count": "2"})
    second = follow(live, link(first, "next"))
    live.delete(f"Patient/{matches(first)[0]}")
    assert matches(follow(live, link(first, "next"))) == matches(second)


@pytest.mark.parametrize("count", ["1001", "-1", "ten", "2.5"])
def test_an_invalid_count_is_400(live, count):
    assert_outcome(live.get("Patient", params={"_count": count}), 400, "invalid")


def test_count_at_the_maximum_is_accepted(live, people):
    assert len(matches(search(live, {"_count": "1000"}))) == 5


@pytest.mark.parametrize("token", ["garbage", "YTp4", "Yzo1"])
def test_a_page_token_the_server_did_not_issue_is_400(live, token):
    assert_outcome(live.get("Patient", params={"_page": token}), 400, "invalid")


# unsupported parameters -----------------------------------------------------------------

def test_an_unknown_parameter_is_ignored_and_reported_in_an_outcome_entry(live, people):
    bundle = search(live, {"bogus": "1", "identifier": f"{RUN}|111"})
    assert matches(bundle) == [people["ana"]]
    assert bundle["total"] == 1
    (outcome,) = outcomes(bundle)
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "warning"
    assert "bogus" in issue["diagnostics"]
    assert "bogus" not in link(bundle, "self")


def test_an_unsupported_modifier_is_ignored_and_reported(live, people):
    bundle = search(live, {"identifier:exact": "111"})
    assert bundle["total"] == 5
    assert "identifier:exact" in outcomes(bundle)[0]["issue"][0]["diagnostics"]


def test_an_unknown_parameter_under_handling_strict_is_400(live, people):
    response = live.get("Patient", params={"bogus": "1"}, headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400, "invalid")


def test_handling_lenient_ignores_an_unknown_parameter(live, people):
    bundle = search(live, {"bogus": "1"}, Prefer="handling=lenient")
    assert len(outcomes(bundle)) == 1


def test_a_search_without_unknown_parameters_has_no_outcome_entry(live, people):
    assert outcomes(search(live, {"identifier": "111"})) == []


# hostile values -------------------------------------------------------------------------

HOSTILE = ["' OR 1=1 --", "' OR '1'='1", "%", "_", "%%", "1; DROP TABLE resource; --",
           '"', "\\", "*", "' UNION SELECT body FROM resource_version --", "\x00"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["identifier", "identifier:not", "_id", "bogus"])
def test_an_sql_like_value_is_a_literal_or_a_400_never_a_500(live, people, name, value):
    response = live.get("Patient", params={name: value})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_outcome(response, 400, "invalid")
    elif name == "identifier":
        assert matches(response.json()) == []
    elif name in ("identifier:not", "bogus"):
        assert response.json()["total"] == 5
    assert live.get("Patient", params={"_count": "0"}).json()["total"] == 5


@pytest.mark.parametrize("value", ["%", "_", "' OR 1=1 --", "a\\,b"])
def test_a_stored_value_with_sql_wildcards_is_found_only_by_itself(live, people, value):
    weird = create(live, (RUN, value.replace("\\,", ",")))
    assert matches(search(live, {"identifier": f"{RUN}|{value}"})) == [weird]


@pytest.mark.parametrize("length", [1025, 5000, 50_000])
def test_a_very_long_value_is_400(live, length):
    response = live.get("Patient", params={"identifier": "x" * length})
    assert_outcome(response, 400, "invalid")


def test_too_many_or_values_is_400(live):
    response = live.get("Patient", params={"identifier": ",".join(["x"] * 101)})
    assert_outcome(response, 400, "invalid")


@pytest.mark.parametrize("name", ["identifier' OR 1=1 --", "_id;", "%", "identifier:not:not"])
def test_an_sql_like_parameter_name_is_ignored(live, people, name):
    bundle = search(live, {name: "1"})
    assert bundle["total"] == 5
    assert len(outcomes(bundle)) == 1


@pytest.mark.parametrize("value", ["a|b|c", ",", "a,,b"])
def test_a_malformed_token_is_400(live, value):
    assert_outcome(live.get("Patient", params={"identifier": value}), 400, "invalid")


# POST _search ---------------------------------------------------------------------------

def test_post_search_with_a_form_body_searches_like_get(live, people):
    response = live.post("Patient/_search", data=f"identifier={RUN}|222&_count=5",
                         headers={"Content-Type": FORM})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "searchset"
    assert matches(body) == [people["bea"]]
    assert body == search(live, {"identifier": f"{RUN}|222", "_count": "5"})


def test_post_search_combines_url_and_form_parameters(live, people):
    response = live.http.post(live.url("Patient/_search"), params={"active": "true"},
                              data={"identifier": "111"}, headers={"Content-Type": FORM})
    assert matches(response.json()) == [people["ana"]]


def test_post_search_without_a_body_searches_everything(live, people):
    response = live.http.post(live.url("Patient/_search"), headers={"Content-Type": FORM})
    assert response.json()["total"] == 5


def test_post_search_reports_unknown_form_parameters(live, people):
    response = live.post("Patient/_search", data="bogus=1", headers={"Content-Type": FORM})
    assert len(outcomes(response.json())) == 1


def test_post_search_with_a_json_body_is_415(live, people):
    response = live.post("Patient/_search", json={"identifier": "111"})
    assert_outcome(response, 415)


def test_get_on_the_search_endpoint_is_405(live):
    assert_outcome(live.get("Patient/_search"), 405)
