"""Chained parameters and reverse chaining (``_has``) over HTTP.

See https://hl7.org/fhir/R4B/search.html#chaining and #has. Expected answers are
computed from the example JSON (``examples.where`` plus ``follow`` below, which resolves
relative references among the loaded examples) independently of the server's index.
"""

from __future__ import annotations

import sqlite3

import pytest

from server.access import PUBLIC_KEY, AccessGate
from server.search.parse import parse_search
from server.store import sqlite_search
from server.store.port import UNRESTRICTED, AccessFilter
from tests.conftest import assert_outcome, patient
from tests.server.api.search.conftest import matches
from tests.stores import sqlite_only

LOINC = "http://loinc.org"
GASTRO = "http://www.acme.org.au/units|Gastro"


def follow(examples, resource: dict, element: str) -> list[dict]:
    """The loaded examples that ``resource.element`` (a Reference or a list of them)
    refers to by a relative ``Type/id`` reference."""
    value = resource.get(element)
    refs = value if isinstance(value, list) else [value] if value else []
    out = []
    for ref in refs:
        parts = ref.get("reference", "").split("/")
        if len(parts) == 2 and tuple(parts) in examples.loaded:
            out.append(examples.loaded[tuple(parts)])
    return out


def has_identifier(resource: dict, system: str | None, value: str) -> bool:
    return any(i.get("value") == value and (system is None or i.get("system") == system)
               for i in resource.get("identifier", []))


def has_code(resource: dict, system: str, code: str) -> bool:
    return any(c.get("system") == system and c.get("code") == code
               for c in resource.get("code", {}).get("coding", []))


def refers(examples, resource: dict, element: str, type: str, predicate) -> bool:
    return any(r["resourceType"] == type and predicate(r)
               for r in follow(examples, resource, element))


# Chains --------------------------------------------------------------------------------

def test_chain_with_a_type_on_a_token(examples):
    found = examples.ids("Observation", {
        "subject:Patient.identifier": "urn:oid:1.2.36.146.595.217.0.1|12345", "_count": "100"})
    expected = examples.where("Observation", lambda o: refers(
        examples, o, "subject", "Patient",
        lambda p: has_identifier(p, "urn:oid:1.2.36.146.595.217.0.1", "12345")))
    assert found == expected
    assert "blood-pressure" in found and "f001" not in found


def test_chain_without_a_type_applies_to_every_target_type(examples):
    # 12345 is an identifier of Patient/example and Patient/xcda (other systems), and of
    # no Group or Device: the chain applies to all subject types with ``identifier``.
    found = examples.ids("Observation", {"subject.identifier": "12345", "_count": "100"})
    expected = examples.where("Observation", lambda o: any(
        has_identifier(t, None, "12345") for t in follow(examples, o, "subject")))
    assert found == expected and found
    herd = examples.ids("Observation", {"subject.identifier": "urn:x|nothing"})
    assert herd == set()


def test_chain_to_a_group(examples):
    # Observation/herd1's subject is Group/herd1 (a Group has _id, not a Patient).
    assert examples.ids("Observation", {"subject:Group._id": "herd1"}) == {"herd1"}
    assert examples.ids("Observation", {"subject._id": "herd1"}) == {"herd1"}
    assert examples.ids("Observation", {"subject:Patient._id": "herd1"}) == set()


def test_chain_on_id_equals_the_plain_reference(examples):
    chained = examples.ids("Observation", {"subject:Patient._id": "f001", "_count": "100"})
    plain = examples.ids("Observation", {"subject": "Patient/f001", "_count": "100"})
    assert chained == plain == examples.where(
        "Observation", lambda o: o.get("subject", {}).get("reference") == "Patient/f001")


def test_chained_value_list_is_ored(examples):
    found = examples.ids("Observation", {"subject:Patient._id": "f001,f201", "_count": "100"})
    expected = examples.where("Observation", lambda o: o.get("subject", {}).get("reference")
                              in ("Patient/f001", "Patient/f201"))
    assert found == expected and len(found) > 5


def test_chain_with_a_modifier_on_the_inner_parameter(examples):
    found = examples.ids("Encounter", {"subject:Patient.gender:not": "male"})
    expected = examples.where("Encounter", lambda e: refers(
        examples, e, "subject", "Patient", lambda p: p.get("gender") != "male"))
    assert found == expected == set()  # every Encounter subject is male
    found = examples.ids("Encounter", {"subject:Patient.gender": "male", "_count": "100"})
    expected = examples.where("Encounter", lambda e: refers(
        examples, e, "subject", "Patient", lambda p: p.get("gender") == "male"))
    assert found == expected and len(found) == 10


def test_chain_on_an_inner_reference_parameter(examples):
    found = examples.ids("Encounter", {"subject:Patient.organization": "Organization/f001"})
    expected = examples.where("Encounter", lambda e: refers(
        examples, e, "subject", "Patient", lambda p: p.get("managingOrganization", {})
        .get("reference") == "Organization/f001"))
    assert found == expected == {"f001", "f002", "f003"}


def test_two_level_chain(examples):
    found = examples.ids("Encounter", {
        "subject:Patient.organization.identifier": "urn:oid:2.16.528.1|91654"})
    expected = examples.where("Encounter", lambda e: any(
        has_identifier(o, "urn:oid:2.16.528.1", "91654")
        for p in follow(examples, e, "subject")
        for o in follow(examples, p, "managingOrganization")))
    assert found == expected == {"f001", "f002", "f003"}


def test_three_level_chain(examples):
    name = "encounter:Encounter.subject:Patient.organization:Organization.identifier"
    found = examples.ids("Observation", {name: GASTRO, "_count": "100"})
    expected = examples.where("Observation", lambda obs: any(
        has_identifier(o, "http://www.acme.org.au/units", "Gastro")
        for e in follow(examples, obs, "encounter")
        for p in follow(examples, e, "subject")
        for o in follow(examples, p, "managingOrganization")))
    assert found == expected == {"abdo-tender", "map-sitting", "clinical-gender", "example"}
    other = examples.ids("Observation", {name: "urn:oid:2.16.528.1|91654"})
    assert other == set()


def test_chain_combined_with_other_parameters(examples):
    found = examples.ids("Observation", {"subject:Patient._id": "example",
                                         "code": f"{LOINC}|85354-9"})
    expected = examples.where("Observation", lambda o: has_code(o, LOINC, "85354-9") and
                              o.get("subject", {}).get("reference") == "Patient/example")
    assert found == expected == {"blood-pressure", "blood-pressure-cancel",
                                 "blood-pressure-dar"}


def test_chain_total_and_pages(examples):
    params = {"subject:Patient.identifier": "12345", "_count": "4", "_total": "accurate"}
    expected = examples.where("Observation", lambda o: refers(
        examples, o, "subject", "Patient", lambda p: has_identifier(p, None, "12345")))
    bundle = examples.search("Observation", params)
    assert bundle["total"] == len(expected) > 8
    seen = []
    while True:
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        nxt = next((x["url"] for x in bundle["link"] if x["relation"] == "next"), None)
        if nxt is None:
            break
        response = examples.live.http.get(nxt)
        assert response.status_code == 200
        bundle = response.json()
    assert len(seen) == len(set(seen)) and set(seen) == expected


def test_chain_through_a_reference_to_a_missing_resource_matches_nothing(examples):
    # Observation/bgpanel refers to Patient/infant, which is not among the examples.
    assert ("Patient", "infant") not in examples.loaded
    assert examples.ids("Observation", {"subject:Patient._id": "infant"}) == set()
    assert "bgpanel" in examples.ids("Observation", {"subject": "Patient/infant"})


def test_chain_on_a_string_parameter(examples):
    found = examples.ids("Observation", {"subject:Patient.name": "chalmers", "_count": "100"})
    expected = examples.where("Observation", lambda o: refers(
        examples, o, "subject", "Patient", lambda p: any(
            n.get("family", "").lower().startswith("chalmers") for n in p.get("name", []))))
    assert found == expected and found
    exact = examples.ids("Observation", {"subject:Patient.name:exact": "chalmers"})
    assert exact == set()  # exact is case-sensitive: the family name is "Chalmers"


def test_chain_on_a_date_parameter(examples):
    found = examples.ids("Encounter", {"subject:Patient.birthdate": "1944-11-17"})
    expected = examples.where("Encounter", lambda e: refers(
        examples, e, "subject", "Patient", lambda p: p.get("birthDate") == "1944-11-17"))
    assert found == expected == {"f001", "f002", "f003"}


# _has ----------------------------------------------------------------------------------

def test_has_finds_the_referenced_resources(examples):
    found = examples.ids("Patient", {"_has:Observation:patient:code": f"{LOINC}|15074-8"})
    expected = examples.where("Patient", lambda p: any(
        has_code(o, LOINC, "15074-8") and o.get("subject", {}).get("reference")
        == f"Patient/{p['id']}" for o in examples.loaded.values()
        if o["resourceType"] == "Observation"))
    assert found == expected == {"f001"}
    assert examples.ids("Patient", {"_has:Observation:patient:code": f"{LOINC}|0000-0"}) \
        == set()


def test_has_with_several_values_and_a_code_only_value(examples):
    found = examples.ids("Patient", {"_has:Observation:subject:code": "15074-8,11557-6,8867-4"})
    codes = {"15074-8", "11557-6", "8867-4"}
    expected = examples.where("Patient", lambda p: any(
        any(c.get("code") in codes for c in o.get("code", {}).get("coding", []))
        and o.get("subject", {}).get("reference") == f"Patient/{p['id']}"
        for o in examples.loaded.values() if o["resourceType"] == "Observation"))
    assert found == expected == {"f001", "example"}


def test_has_on_another_type(examples):
    assert examples.ids("Group", {"_has:Observation:subject:code": "80219-9"}) == {"herd1"}
    assert examples.ids("Patient", {"_has:Observation:subject:code": "80219-9"}) == set()


def test_has_with_a_modifier_on_the_inner_parameter(examples):
    # Patients with some Observation that is not a blood pressure.
    found = examples.ids("Patient", {"_has:Observation:subject:code:not": f"{LOINC}|85354-9"})
    expected = examples.where("Patient", lambda p: any(
        not has_code(o, LOINC, "85354-9")
        and o.get("subject", {}).get("reference") == f"Patient/{p['id']}"
        for o in examples.loaded.values() if o["resourceType"] == "Observation"))
    assert found == expected and {"example", "f001", "f201", "pat2"} <= found


def test_has_combined_with_other_parameters(examples):
    found = examples.ids("Patient", {"_has:Observation:subject:code": "15074-8",
                                     "gender": "female"})
    assert found == set()
    found = examples.ids("Patient", {"_has:Observation:subject:code": "15074-8",
                                     "gender": "male"})
    assert found == {"f001"}


def test_nested_has(examples):
    # Patients who are the subject of an Observation that a vital-signs panel lists as a
    # member (vitals-panel -> respiratory-rate, heart-rate, ... -> Patient/example).
    name = "_has:Observation:subject:_has:Observation:has-member:code"
    found = examples.ids("Patient", {name: f"{LOINC}|85353-1"})
    observations = [o for o in examples.loaded.values() if o["resourceType"] == "Observation"]
    expected = examples.where("Patient", lambda p: any(
        has_code(panel, LOINC, "85353-1") and member.get("subject", {}).get("reference")
        == f"Patient/{p['id']}"
        for panel in observations for member in follow(examples, panel, "hasMember")))
    assert found == expected == {"example"}
    # bgpanel's members are about Patient/infant, which is not loaded.
    assert examples.ids("Patient", {name: f"{LOINC}|34532-2"}) == set()


def test_has_inside_a_chain_and_chain_inside_has(examples):
    # Observations about a Patient who has an Encounter with Organization/f001.
    found = examples.ids("Observation", {
        "subject:Patient._has:Encounter:subject:service-provider": "Organization/f001",
        "_count": "100"})
    expected = examples.where("Observation", lambda o: o.get("subject", {}).get("reference")
                              == "Patient/f001")
    assert found == expected and found
    # Patients with an Observation whose encounter is about Patient/example.
    found = examples.ids("Patient", {"_has:Observation:subject:encounter.subject": "example"})
    assert found == {"example"}


# Bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("type,name,value", [
    ("Observation", "code.identifier", "x"),                 # not a reference
    ("Observation", "subject:Nope.identifier", "x"),         # unknown type
    ("Observation", "subject:Questionnaire.identifier", "x"),  # type not a target
    ("Observation", "subject:identifier.value", "x"),        # not a type modifier
    ("Observation", "subject.nope", "x"),                    # no target type has it
    ("Observation", "subject:Patient.nope", "x"),            # the type does not have it
    ("Observation", "subject:Patient.", "x"),                # nothing after the dot
    ("Observation", "subject:Patient.identifier", ""),       # empty value
    ("Observation", "subject:Patient._id", "not an id!"),    # malformed inner value
    ("Observation", "subject:Patient.identifier", "a|b|c"),  # malformed token
    ("Observation", "subject:Patient.organization", "Patient/x"),  # wrong reference type
    ("Patient", "link:Patient.link:Patient.link:Patient.link:Patient._id", "x"),  # depth
    ("Patient", "_has:Observation:subject:_has:Observation:has-member:_has:Observation:"
                "has-member:_has:Observation:has-member:code", "x"),
    ("Bundle", "composition.identifier", "x"),               # any type: name one
    ("Patient", "_has:Observation", "x"),
    ("Patient", "_has:Observation:patient", "x"),
    ("Patient", "_has:Observation:patient:", "x"),
    ("Patient", "_has::patient:code", "x"),
    ("Patient", "_has:Nope:patient:code", "x"),
    ("Patient", "_has:Observation:nope:code", "x"),
    ("Patient", "_has:Observation:code:code", "x"),          # not a reference
    ("Practitioner", "_has:Observation:patient:code", "x"),  # cannot point here
    ("Patient", "_has:Observation:patient:nope", "x"),
    ("Patient", "_has:Observation:patient:code", ""),
    ("Patient", "_has:Observation:patient:code", "a|b|c"),
])
def test_bad_chains_are_400(examples, type, name, value):
    response = examples.live.get(type, params={name: value})
    assert_outcome(response, 400, "invalid")


def test_overlong_chain_is_400(examples):
    name = "subject:Patient." + "x" * 2000
    assert_outcome(examples.live.get("Observation", params={name: "1"}), 400)
    value = "1" * 5000
    assert_outcome(examples.live.get("Observation", params={
        "subject:Patient.identifier": value}), 400)


def test_sql_in_a_chained_value_is_only_a_value(examples):
    for value in ("x' OR '1'='1", "1); DROP TABLE resource; --", "%", "*"):
        assert examples.ids("Observation", {"subject:Patient.identifier": value}) == set()
        assert examples.ids("Patient", {"_has:Observation:subject:code": value}) == set()
    assert examples.ids("Patient", {"_count": "1000"}) == examples.where("Patient", bool)


def test_unknown_reference_parameter_is_ignored_or_refused(examples):
    bundle = examples.search("Observation", {"nope.identifier": "x", "_count": "1",
                                             "_total": "accurate"})
    assert bundle["total"] == len(examples.where("Observation", bool))
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "nope.identifier" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    response = examples.live.get("Observation", params={"nope.identifier": "x"},
                                 headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400)


@pytest.mark.parametrize("type,name", [
    ("Patient", "_has:MolecularSequence:patient:chromosome-variant-coordinate"),
    ("Encounter",
     "subject:Patient._has:MolecularSequence:patient:chromosome-variant-coordinate"),
])
def test_unsupported_inner_parameter_is_ignored_or_refused(examples, type, name):
    bundle = examples.search(type, {name: "x$1", "_total": "accurate"})
    assert bundle["total"] == len(examples.where(type, bool))
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert name in outcome[0]["resource"]["issue"][0]["diagnostics"]
    response = examples.live.get(type, params={name: "x$1"},
                                 headers={"Prefer": "handling=strict"})
    assert_outcome(response, 400)


def test_chain_is_in_the_self_link(examples):
    bundle = examples.search("Observation", {"subject:Patient._id": "f001"})
    self_link = next(x["url"] for x in bundle["link"] if x["relation"] == "self")
    assert "subject%3APatient._id=f001" in self_link


# Deleted and hidden resources (own data) ----------------------------------------------

def observation(subject: str, code: str, **fields) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "subject": {"reference": subject}, **fields}


def put(live, resource: dict) -> None:
    response = live.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
    assert response.status_code in (200, 201), response.text


def ids(live, path: str, params: dict) -> set[str]:
    response = live.get(path, params=params)
    assert response.status_code == 200, response.text
    return matches(response.json())


def test_deleted_resources_make_no_chain_match(live):
    put(live, patient(id="p1", identifier=[{"system": "urn:run", "value": "1"}]))
    put(live, {**observation("Patient/p1", "1234-5"), "id": "o1"})
    assert ids(live, "Observation", {"subject:Patient.identifier": "urn:run|1"}) == {"o1"}
    assert ids(live, "Patient", {"_has:Observation:patient:code": "1234-5"}) == {"p1"}
    assert live.delete("Observation/o1").status_code in (200, 204)
    assert ids(live, "Patient", {"_has:Observation:patient:code": "1234-5"}) == set()
    put(live, {**observation("Patient/p1", "1234-5"), "id": "o1"})
    assert ids(live, "Observation", {"subject:Patient._id": "p1"}) == {"o1"}
    assert ids(live, "Observation", {"subject:Patient.identifier:not": "urn:run|2"}) == {"o1"}
    assert live.delete("Patient/p1").status_code in (200, 204)
    assert ids(live, "Observation", {"subject:Patient.identifier": "urn:run|1"}) == set()
    # A deleted resource has no index rows, but it must not match what is *not* indexed
    # (``:not``) or what is answered from the resource table (``_id``) either.
    assert ids(live, "Observation", {"subject:Patient._id": "p1"}) == set()
    assert ids(live, "Observation", {"subject:Patient.identifier:not": "urn:run|2"}) == set()
    assert ids(live, "Observation", {"subject": "Patient/p1"}) == {"o1"}


def test_chain_follows_the_reference_type(live):
    # Same id, two types: only the referenced type's resource counts.
    put(live, patient(id="same", identifier=[{"value": "P"}]))
    put(live, {"resourceType": "Group", "id": "same", "type": "person", "actual": True,
               "identifier": [{"value": "G"}]})
    put(live, {**observation("Group/same", "1"), "id": "og"})
    put(live, {**observation("Patient/same", "1"), "id": "op"})
    assert ids(live, "Observation", {"subject.identifier": "G"}) == {"og"}
    assert ids(live, "Observation", {"subject.identifier": "P"}) == {"op"}
    assert ids(live, "Observation", {"subject:Patient.identifier": "G"}) == set()
    assert ids(live, "Observation", {"subject.identifier": "G,P"}) == {"og", "op"}
    assert ids(live, "Group", {"_has:Observation:subject:_id": "og"}) == {"same"}
    assert ids(live, "Patient", {"_has:Observation:subject:_id": "og"}) == set()


def provenance(id: str, target: str, **fields) -> dict:
    return {"resourceType": "Provenance", "id": id, "recorded": "2024-01-01T00:00:00Z",
            "agent": [{"who": {"reference": "Practitioner/doc"}}],
            "target": [{"reference": target}], **fields}


def test_nested_has_through_provenance(live):
    put(live, patient(id="p1"))
    put(live, patient(id="p2"))
    put(live, {**observation("Patient/p1", "1"), "id": "o1"})
    put(live, {**observation("Patient/p2", "1"), "id": "o2"})
    put(live, provenance("a1", "Observation/o1"))
    name = "_has:Observation:patient:_has:Provenance:target:agent"
    assert ids(live, "Patient", {name: "Practitioner/doc"}) == {"p1"}
    assert ids(live, "Patient", {name: "Practitioner/other"}) == set()
    assert ids(live, "Patient", {f"{name}:Practitioner": "doc"}) == {"p1"}


class HiddenTagGate(AccessGate):
    """Callers hold only the public key; resources tagged ``hidden`` get another key."""

    def access_keys(self, resource: dict, reader=None, survivors=None) -> dict[str, str]:
        tags = {t.get("code") for t in resource.get("meta", {}).get("tag", [])}
        return {"hidden" if "hidden" in tags else PUBLIC_KEY: "test"}

    def query_filter(self, principal, type):
        return AccessFilter(frozenset({PUBLIC_KEY}))

    def check(self, principal, action, stored, reader) -> bool:
        return True


class OpenGate(HiddenTagGate):
    """The same keys, and a caller who holds them all."""

    def query_filter(self, principal, type):
        return UNRESTRICTED


def test_hidden_resources_make_no_chain_or_has_match(live):
    gate = HiddenTagGate()
    repo = live.app.extensions["amparo"].repo
    repo.gate = gate
    hidden = {"tag": [{"system": "urn:test", "code": "hidden"}]}
    put(live, patient(id="secret", meta=hidden, identifier=[{"value": "S"}]))
    put(live, patient(id="open", identifier=[{"value": "O"}]))
    put(live, {**observation("Patient/secret", "1"), "id": "about-secret"})
    put(live, {**observation("Patient/open", "2"), "id": "hidden-obs", "meta": hidden})
    put(live, {**observation("Patient/open", "3"), "id": "open-obs"})
    put(live, provenance("a-hidden", "Observation/open-obs", meta=hidden))
    nested = "_has:Observation:patient:_has:Provenance:target:agent"
    cases = [
        ("Observation", {"subject:Patient.identifier": "S"}, {"about-secret"}),
        ("Observation", {"subject.identifier": "S"}, {"about-secret"}),
        ("Patient", {"_has:Observation:patient:code": "2"}, {"open"}),
        ("Patient", {nested: "Practitioner/doc"}, {"open"}),
    ]
    for path, params, _ in cases:
        assert ids(live, path, params) == set(), (path, params)
    # The control: the same searches without the filter do match.
    repo.gate = OpenGate()
    for path, params, unrestricted in cases:
        assert ids(live, path, params) == unrestricted, (path, params)
    repo.gate = gate
    # What the caller may see still matches through a visible chain.
    assert ids(live, "Observation", {"subject:Patient.identifier": "O"}) == {"open-obs"}
    assert ids(live, "Patient", {"_has:Observation:patient:code": "3"}) == {"open"}


# Query plans ---------------------------------------------------------------------------

class Recording:
    """A connection that records the statements ``sqlite_search.search`` runs."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.statements: list[tuple[str, list]] = []

    def execute(self, sql: str, args=()):
        self.statements.append((sql, list(args)))
        return self.conn.execute(sql, args)


@sqlite_only
@pytest.mark.parametrize("type,params", [
    ("Observation", {"subject:Patient.identifier": "12345"}),
    ("Observation", {"subject.identifier": "12345"}),
    ("Observation", {"subject:Patient._id": "f001"}),
    ("Group", {"_has:Observation:subject:_id": "herd1"}),
    ("Encounter", {"subject:Patient.organization.identifier": "urn:oid:2.16.528.1|91654"}),
    ("Observation", {"encounter.subject:Patient.organization.identifier": GASTRO}),
    ("Patient", {"_has:Observation:patient:code": f"{LOINC}|15074-8"}),
    ("Patient", {"_has:Observation:subject:_has:Observation:has-member:code": "85353-1"}),
    ("Observation", {"subject:Patient._has:Encounter:subject:service-provider":
                     "Organization/f001"}),
])
# the keys of the test client, which wrote the examples (its institution authors them)
@pytest.mark.parametrize("access", [UNRESTRICTED,
                                    AccessFilter(frozenset({PUBLIC_KEY, "inst:amparo-tests"}))])
def test_chains_run_on_indexes(examples, type, params, access):
    query = parse_search(type, [*params.items(), ("_total", "accurate")], strict=True).query
    conn = sqlite3.connect(examples.live.db)
    try:
        recording = Recording(conn)
        page = sqlite_search.search(recording, query, access)
        assert {m.id for m in page.matches} == examples.ids(type, params)
        assert len(recording.statements) >= 2  # the page and the total
        for sql, args in recording.statements:
            plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)]
            # No full scan, and no walk over every reference of a parameter or every
            # resource of a type: each step is a lookup by value, rid or (type, id).
            slow = [line for line in plan if line.startswith("SCAN")
                    or "idx_reference_param" in line or line.endswith("(type=?)")]
            assert not slow, "\n".join([sql, *plan])
    finally:
        conn.close()
