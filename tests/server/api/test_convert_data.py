"""``POST [base]/$convert-data`` over real HTTP: an export through a mapping, answered
with the bundles it would store and each record's outcome, storing nothing."""

from __future__ import annotations

import base64

from tests.mappings.test_engine import HEADER, row
from tests.server.access.conftest import live  # noqa: F401 (the fixture)
from tests.server.access.institutions import HOTLINE, Institution


def call(institution: Institution, **inputs) -> object:
    parameters = [{"name": name, **value} for name, value in inputs.items()]
    return institution.post("$convert-data", {"resourceType": "Parameters",
                                              "parameter": parameters})


def test_a_file_becomes_bundles_and_outcomes_and_nothing_is_stored(live):  # noqa: F811
    hotline = Institution(live, HOTLINE, "COC")
    data = "\n".join([HEADER, row("1", run="40611189-K"), row("2", given="Ana"),
                      row("3", day="15-03-2062")])
    before = hotline.total("Encounter")
    answer = call(hotline, inputData={"valueString": data}, mapping={"valueString": "fono-1455"},
                  extractionDate={"valueDate": "2026-09-30"})
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    assert bundle["type"] == "collection"
    transactions = [e["resource"] for e in bundle["entry"][:-1]]
    assert [t["type"] for t in transactions] == ["transaction", "transaction"]
    assert transactions[0]["entry"][0]["resource"]["resourceType"] == "Patient"
    outcome = bundle["entry"][-1]["resource"]
    assert [i["location"] for i in outcome["issue"]] == [["record 1"], ["record 2"],
                                                         ["record 3"]]
    assert outcome["issue"][2]["severity"] == "error"
    assert "posterior a la extracción" in outcome["issue"][2]["diagnostics"]
    assert hotline.total("Encounter") == before
    as_bytes = call(hotline, inputData={"valueBase64Binary": base64.b64encode(
        data.encode()).decode()}, mapping={"valueString": "fono-1455"},
        extractionDate={"valueDate": "2026-09-30"})
    def ids(answer: dict) -> list[list[str]]:
        return [[e["fullUrl"] for e in t["resource"].get("entry", [])]
                for t in answer["entry"]]
    assert ids(as_bytes.json()) == ids(bundle)


def test_bad_requests_are_4xx_with_an_outcome(live):  # noqa: F811
    hotline = Institution(live, HOTLINE, "COC")
    cases = [
        ({"inputData": {"valueString": "x"}}, 400),
        ({"inputData": {"valueString": "x"}, "mapping": {"valueString": "no-existe"}}, 422),
        ({"inputData": {"valueBase64Binary": "%%%"}, "mapping": {"valueString": "fono-1455"}},
         400),
        ({"inputData": {"valueString": "x"}, "mapping": {"valueString": "fono-1455"},
          "extractionDate": {"valueDate": "ayer"}}, 400),
        ({"inputData": {"valueBase64Binary": base64.b64encode(b"\xff\xfe").decode()},
          "mapping": {"valueString": "fono-1455"}}, 422),
    ]
    for inputs, status in cases:
        answer = call(hotline, **inputs)
        assert answer.status_code == status, (inputs, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    wrong = hotline.post("$convert-data", {"resourceType": "Patient"})
    assert wrong.status_code == 400
