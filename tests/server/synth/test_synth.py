"""The synthetic journeys: deterministic, valid R4B, loadable in order, and realistic."""

from __future__ import annotations

import base64
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import BaseModel

import server.synth
import terminology
from mappings.run import check_digit, format_run, is_valid, normalize
from server.referrals.config import load_transitions
from server.synth import (
    institutions_bundle,
    journeys,
    named_bundles,
    people,
    statements,
    summarize,
    write,
)
from server.synth import pathways as tables
from server.synth.clock import offset
from server.synth.ids import urn

RUN = "http://regcivil.cl/Validacion/RUN"
OURS = "https://fhir.amparo.cl/CodeSystem/"
COMUNAS = terminology.COMUNAS_SYSTEM
DATETIME = re.compile(r"^(2025|2026)-\d\d-\d\dT\d\d:\d\d:\d\d-0[34]:00$")


@pytest.fixture(scope="module")
def three_seeds() -> list[list[dict[str, Any]]]:
    return [[institutions_bundle(), *journeys(30, seed)] for seed in (1, 2, 3)]


@pytest.fixture(scope="module")
def fifty() -> list[list[dict[str, Any]]]:
    return [list(journeys(50, seed)) for seed in (4, 5, 6)]


def _all(runs: list[list[dict[str, Any]]]) -> Iterator[tuple[dict, dict]]:
    for bundles in runs:
        for bundle in bundles:
            for entry in bundle["entry"]:
                yield bundle, entry


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


# -- the RUN ---------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "digit"), [
    (12345678, "5"), (40611189, "K"), (40917736, "0"), (41637290, "K"), (5126663, "3"),
    (11111111, "1"), (41382204, "1"), (43295810, "8")])
def test_check_digit_matches_known_runs_including_k_and_zero(body: int, digit: str) -> None:
    assert check_digit(body) == digit
    assert format_run(body) == f"{body}-{digit}"


def test_runs_are_normalised_from_the_ways_institutions_write_them() -> None:
    assert normalize("12.345.678-5") == normalize(" 12345678-5 ") == "12345678-5"
    assert normalize("40.611.189-k") == "40611189-K"
    assert is_valid("40611189k") and is_valid("15.236.327-K") is False


def test_wrong_check_digits_and_garbage_are_not_valid_runs() -> None:
    assert not is_valid("41127350-7")  # the fixtures' mistyped RUN
    assert not is_valid("12.345.678")
    assert not is_valid("abc-5")
    with pytest.raises(ValueError):
        normalize("not a run")


def test_the_offset_follows_chilean_summer_time_except_in_magallanes_and_aysen() -> None:
    assert offset(datetime(2025, 4, 5, 23), "13") == "-03:00"
    assert offset(datetime(2025, 4, 6, 1), "13") == "-04:00"
    assert offset(datetime(2025, 9, 7, 1), "13") == "-03:00"
    assert offset(datetime(2025, 7, 1), "12") == offset(datetime(2025, 7, 1), "11") == "-03:00"


# -- determinism and files -------------------------------------------------------------
def test_the_same_seed_writes_byte_identical_files(tmp_path: Path) -> None:
    write(12, 9, tmp_path / "a")
    write(12, 9, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert len(files) > 12
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_different_seeds_give_different_survivors(three_seeds: list) -> None:
    patients = [{e["request"]["ifNoneExist"] for _, e in _all([run])
                 if e["resource"]["resourceType"] == "Patient"} for run in three_seeds]
    assert not patients[0] & patients[1] and not patients[1] & patients[2]
    assert orjson.dumps(three_seeds[0][1:]) != orjson.dumps(three_seeds[1][1:])


def test_a_larger_run_begins_with_the_bundles_of_a_smaller_one() -> None:
    small = [orjson.dumps(b) for b in journeys(8, 3)]
    large = [orjson.dumps(b) for b in journeys(20, 3)]
    assert large[: len(small)] == small


def test_files_sort_in_load_order_and_the_ndjson_holds_the_same_bundles(tmp_path: Path) -> None:
    summary = write(15, 2, tmp_path)
    files = sorted((tmp_path / "bundles").glob("*.json"))
    assert files[0].name == "00-institutions.json"
    lines = (tmp_path / "transactions.ndjson").read_bytes().splitlines()
    assert [orjson.loads(f.read_bytes()) for f in files] == [orjson.loads(x) for x in lines]
    assert [f.stem for f in files] == sorted(name for name, _ in named_bundles(15, 2))
    assert orjson.loads((tmp_path / "summary.json").read_bytes()) == summary.to_dict()
    write(3, 2, tmp_path)  # a smaller run leaves no stale bundle behind
    left = sorted(f.stem for f in (tmp_path / "bundles").glob("*.json"))
    assert left == sorted(name for name, _ in named_bundles(3, 2))


def test_sorted_files_put_every_earlier_contact_before_any_later_one(tmp_path: Path) -> None:
    write(6, 4, tmp_path)
    stems = [f.stem for f in sorted((tmp_path / "bundles").glob("*.json"))][1:]
    numbers = [int(stem.split("-")[0]) for stem in stems]
    assert numbers == sorted(numbers)  # all first contacts, then all second contacts...
    assert numbers.count(1) == 6


# -- FHIR validity ---------------------------------------------------------------------
def test_every_bundle_and_resource_validates_as_r4b(three_seeds: list) -> None:
    for run in three_seeds:
        for bundle in run:
            get_fhir_model_class("Bundle").model_validate(bundle)
            for entry in bundle["entry"]:
                resource = entry["resource"]
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _references(model: BaseModel) -> Iterator[tuple[list[str], str]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name, None)
        allowed = (field.json_schema_extra or {}).get("enum_reference_types")
        for item in value if isinstance(value, list) else [value]:
            if allowed and getattr(item, "reference", None):
                yield allowed, item.reference
            if isinstance(item, BaseModel):
                yield from _references(item)


def test_references_point_at_resource_types_r4b_allows_there(three_seeds: list) -> None:
    for bundle in three_seeds[0]:
        types = {e["fullUrl"]: e["resource"]["resourceType"] for e in bundle["entry"]}
        for entry in bundle["entry"]:
            model = get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(
                entry["resource"])
            for allowed, ref in _references(model):
                target = types.get(ref) or re.split(r"[/?]", ref)[0]
                assert "Resource" in allowed or target in allowed, (ref, allowed)


def test_every_bundle_is_a_transaction_whose_references_resolve_in_load_order(
        three_seeds: list) -> None:
    for run in three_seeds:
        created: set[tuple[str, str]] = set()
        organizations = {e["request"]["url"] for e in run[0]["entry"]}
        for bundle in run:
            assert bundle["type"] == "transaction"
            full_urls = {e["fullUrl"] for e in bundle["entry"]}
            for entry in bundle["entry"]:
                request = entry["request"]
                if request["method"] == "PUT" and "?" in request["url"]:
                    assert tuple(request["url"].split("?")) in created  # updates what exists
                for node in _walk(entry["resource"]):
                    ref = node.get("reference")
                    if not isinstance(ref, str):
                        continue
                    if ref.startswith("urn:uuid:"):
                        assert ref in full_urls
                    elif "?" in ref:
                        assert tuple(ref.split("?")) in created, ref
                    else:
                        assert ref in organizations, ref
            for entry in bundle["entry"]:
                if entry["request"]["method"] == "POST":
                    kind = entry["resource"]["resourceType"]
                    created.add((kind, entry["request"]["ifNoneExist"]))


def test_every_create_is_conditional_on_the_resources_own_identifier(three_seeds: list) -> None:
    for _, entry in _all(three_seeds):
        resource, request = entry["resource"], entry["request"]
        identifier = resource["identifier"]  # a list, one Identifier on QuestionnaireResponse
        first = identifier[0] if isinstance(identifier, list) else identifier
        assert urn(resource["resourceType"], first["system"], first["value"]) == entry["fullUrl"]
        if request["method"] == "POST":
            assert request["ifNoneExist"] == f"identifier={first['system']}|{first['value']}"


# -- content ---------------------------------------------------------------------------
def test_every_run_in_the_output_has_a_valid_check_digit(three_seeds: list) -> None:
    runs = [n["value"] for _, e in _all(three_seeds) for n in _walk(e["resource"])
            if n.get("system") == RUN and "value" in n]
    assert len(runs) > 50 and all(is_valid(r) and normalize(r) == r for r in runs)


def test_every_comuna_code_in_the_output_is_a_real_cut_code(three_seeds: list) -> None:
    real = {c.code for c in terminology.comunas()}
    codes = [n["code"] for _, e in _all(three_seeds) for n in _walk(e["resource"])
             if n.get("system") == COMUNAS]
    assert len(codes) > 100 and set(codes) <= real


def test_every_code_of_ours_exists_in_its_codesystem_with_its_display(three_seeds: list) -> None:
    seen = Counter()
    for _, entry in _all(three_seeds):
        for node in _walk(entry["resource"]):
            if str(node.get("system", "")).startswith(OURS) and "code" in node:
                name = node["system"][len(OURS):]
                assert node["display"] == terminology.concepts(name)[node["code"]]["display"]
                seen[name] += 1
    assert {"formas-violencia", "relacion-agresor", "nivel-riesgo", "tipo-institucion",
            "tipo-contacto", "servicio-paquete-minimo", "estado-derivacion",
            "instrumento-riesgo"} <= set(seen)


def test_the_journey_tables_name_only_codes_of_our_codesystems() -> None:
    def check(name: str, codes: Any) -> None:
        assert set(codes) <= set(terminology.concepts(name)), name

    check("tipo-contacto", [k for p in tables.PATHWAYS for k, _, _ in p[4]])
    check("tipo-contacto", [*tables.ASSESS, *tables.DOCUMENTS, *tables.DURATION_MIN,
                            *tables.OFFICE, *tables.ARRIVAL, *tables.REFERRERS])
    check("formas-violencia", [f for forms in tables.FORMS.values() for f in forms])
    check("lugar-hechos", [p for places in tables.PLACES.values() for p in places])
    check("tipo-arma", [w for weapons in tables.WEAPONS for w in weapons])
    check("instrumento-riesgo", tables.INSTRUMENTS)
    check("estado-derivacion", tables.ARRIVAL.values())
    check("estado-derivacion", [*tables.STEPS, *tables.REASONS])
    check("estado-derivacion", [c for codes in tables.STEPS.values() for c in codes])
    rules = [tables.TO_FISCALIA, tables.TO_CDM, tables.TO_SHELTER, tables.TO_WORK,
             tables.TO_CHILDREN]
    check("servicio-paquete-minimo", [r[0] for r in rules])
    check("estado-derivacion", [o for r in rules for o in r[2]])
    check("tipo-institucion", [r[1] for r in rules])
    check("relacion-agresor", people.RELATIONS)
    check("formas-violencia", statements._ACTS)
    check("lugar-hechos", statements._PLACES)
    check("tipo-arma", statements._WEAPONS)


def test_dates_are_in_2025_and_2026_with_chilean_offsets(three_seeds: list) -> None:
    """Everything that happened is dated 2025-2026; a consent may run into later years."""
    for _, entry in _all(three_seeds[1:]):
        resource = entry["resource"]
        keys = ["effectiveDateTime", "issued", "occurrenceDateTime", "authoredOn",
                "lastModified", "dateTime", "start", "date", "creation"]
        keys += [] if resource["resourceType"] == "Consent" else ["end"]
        for node in _walk(resource):
            for key in keys:
                if key in node:
                    assert DATETIME.match(node[key]), node[key]


def test_survivors_have_faker_names_with_a_cl_core_second_surname(three_seeds: list) -> None:
    patients = [e["resource"] for _, e in _all(three_seeds)
                if e["resource"]["resourceType"] == "Patient"]
    second = [p for p in patients if "_family" in p["name"][0]]
    assert len(second) / len(patients) > 0.8
    assert all(p["gender"] == "female" and p["address"][0]["_city"] for p in patients)


def test_fifty_cases_have_shared_aggressors_recurrences_and_high_risk(fifty: list) -> None:
    for run in fifty:
        summary = summarize(run, 50, 0)
        assert summary.shared_aggressors >= 1
        assert summary.survivors_with_shared_aggressor >= 2 * summary.shared_aggressors
        assert summary.recurrences >= 3
        assert summary.high_risk >= 5


def test_between_a_tenth_and_a_fifth_of_survivors_have_no_run() -> None:
    summary = summarize(journeys(300, 8), 300, 8)
    assert 0.08 <= summary.survivors_without_run / summary.survivors <= 0.2


def test_later_contacts_carry_the_same_survivor_case_and_aggressor(fifty: list) -> None:
    per_case: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for bundle, entry in _all(fifty[:1]):
        case = bundle["identifier"]["value"].rsplit("-", 1)[0]
        if entry["resource"]["resourceType"] in ("Patient", "EpisodeOfCare", "RelatedPerson"):
            per_case[case].add((entry["resource"]["resourceType"], entry["fullUrl"]))
    assert len(per_case) == 50 and all(len(found) == 3 for found in per_case.values())


def test_journeys_visit_several_institutions_in_time_order(fifty: list) -> None:
    visits: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for bundle, entry in _all(fifty[:1]):
        resource = entry["resource"]
        if resource["resourceType"] == "Encounter":
            case = bundle["identifier"]["value"].rsplit("-", 1)[0]
            start = datetime.fromisoformat(resource["period"]["start"])
            visits[case].append((start, resource["serviceProvider"]["reference"]))
    assert all(times == sorted(times) for times in visits.values())
    several = [v for v in visits.values() if len({org for _, org in v}) >= 2]
    assert len(several) >= 0.8 * len(visits)


def test_referrals_are_tasks_owned_by_the_receiving_institution(three_seeds: list) -> None:
    for bundle, entry in _all(three_seeds):
        task = entry["resource"]
        if task["resourceType"] != "Task" or entry["request"]["method"] != "POST":
            continue
        request = next(e["resource"] for e in bundle["entry"] if e["fullUrl"] ==
                       task["focus"]["reference"])
        assert request["resourceType"] == "ServiceRequest"
        assert task["owner"] == request["performer"][0]
        assert task["requester"] == request["requester"]
        assert task["businessStatus"]["coding"][0]["code"] == "enviada"


def test_each_answer_is_reached_by_legal_steps_of_the_receiving_institution() -> None:
    """Every outcome synth plans has its path of Task changes (pathways.STEPS), each a
    transition the workflow allows the owner, ending in the outcome, with a reason where
    the workflow needs one."""
    machine, concepts = load_transitions(), terminology.concepts("estado-derivacion")

    def status(code: str) -> str:
        return next(p["valueCoding"]["code"] for p in concepts[code]["property"]
                    if p["code"] == "estadoTarea")

    rules = [tables.TO_FISCALIA, tables.TO_CDM, tables.TO_SHELTER, tables.TO_WORK,
             tables.TO_CHILDREN]
    outcomes = {*tables.ARRIVAL.values(), *(o for r in rules for o in r[2])} - {"enviada"}
    assert outcomes <= set(tables.STEPS)
    for outcome, codes in tables.STEPS.items():
        assert codes[-1] == outcome
        previous = machine.created
        for code in codes:
            new = machine.statuses[status(code)]
            assert new.code in machine.statuses[previous].next, (outcome, previous, code)
            assert "owner" in new.set_by and code in new.business, (outcome, code)
            assert not new.needs_reason or code in tables.REASONS, code
            previous = new.code


def _sender(bundle: dict[str, Any]) -> str:
    """The institution that sends a journey bundle (as ``bench/journeys.py`` replays it):
    its contact's provider, else the owner of the one Task it updates."""
    resources = [e["resource"] for e in bundle["entry"]]
    contact = next((r for r in resources if r["resourceType"] == "Encounter"), None)
    if contact:
        return contact["serviceProvider"]["reference"]
    assert [r["resourceType"] for r in resources] == ["Task"]
    return resources[0]["owner"]["reference"]


def test_every_task_change_is_a_legal_step_made_by_its_side(tmp_path: Path) -> None:
    """Loaded in file order, each institution with its own token, the server's referral
    workflow accepts every Task version: created requested by the requester, then one
    legal transition per bundle by the side that sets it, with a fitting business status
    and a reason where one is needed (server/referrals/transitions.json)."""
    machine = load_transitions()
    write(80, 1, tmp_path)
    status: dict[str, str] = {}
    paths: Counter[tuple[str, ...]] = Counter()
    history: dict[str, list[str]] = {}
    for file in sorted((tmp_path / "bundles").glob("[0-9]*-*.json"))[1:]:
        bundle = orjson.loads(file.read_bytes())
        sender = _sender(bundle)
        tasks = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Task"]
        changed = [e["request"]["url"] for e in tasks if e["request"]["method"] == "PUT"]
        assert len(changed) == len(set(changed)), file.name  # one change of a Task per bundle
        for entry in tasks:
            task, request = entry["resource"], entry["request"]
            key = task["identifier"][0]["value"]
            code = task["businessStatus"]["coding"][0]["code"]
            new = machine.statuses[task["status"]]
            assert code in new.business, (file.name, task["status"], code)
            if request["method"] == "POST":
                assert key not in status and task["status"] == machine.created
                assert sender == task["requester"]["reference"], file.name
                history[key] = [code]
            else:
                old = status[key]
                assert task["status"] in machine.statuses[old].next, (file.name, old, task)
                side = "owner" if sender == task["owner"]["reference"] else "requester"
                assert sender == task[side]["reference"] and side in new.set_by, file.name
                assert not new.needs_reason or task["statusReason"]["text"], file.name
                history[key].append(code)
            status[key] = task["status"]
    paths.update(tuple(codes) for codes in history.values())
    assert paths[("enviada", "aceptada", "en-atencion", "completada")] > 0
    assert paths[("enviada", "aceptada", "no-se-presenta")] > 0
    assert paths[("enviada", "sin-cupo")] + paths[("enviada", "desiste")] > 0
    assert paths[("enviada",)] > 0  # lost referrals stay lost


def test_statements_carry_a_spanish_account_as_base64_text(three_seeds: list) -> None:
    documents = [e["resource"] for _, e in _all(three_seeds)
                 if e["resource"]["resourceType"] == "DocumentReference"]
    assert documents
    for document in documents:
        attachment = document["content"][0]["attachment"]
        assert attachment["contentType"].startswith("text/plain")
        text = base64.b64decode(attachment["data"]).decode("utf-8")
        assert text.split()[0] in ("Relata", "Víctima", "Paciente")


def test_institutions_are_put_with_identifier_kind_and_comuna() -> None:
    bundle = institutions_bundle()
    names = {e["resource"]["name"] for e in bundle["entry"]}
    assert {"Fono 1455 SernamEG (SernamEG te Orienta)", "Hospital Carlos Van Buren",
            "Centro de la Mujer La Florida", "Fiscalía Local de Temuco"} <= names
    for entry in bundle["entry"]:
        org = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"Organization/{org['id']}"}
        assert org["identifier"][0]["value"] == org["id"]
        assert org["type"][0]["coding"][0]["system"] == OURS + "tipo-institucion"
        assert org["address"][0]["_city"]["extension"][0]["valueCodeableConcept"]


def test_the_public_api_is_pinned() -> None:
    assert set(server.synth.__all__) == {"SynthSummary", "institutions_bundle", "journeys",
                                         "named_bundles", "summarize", "write"}
