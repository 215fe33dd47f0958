"""The implementation guide's own SearchParameters (``profiles.ig.search_parameters()``)
in search, over HTTP: indexed on write like R4B's, searched with the modifiers of their
type, chained and included, and listed in the CapabilityStatement with their canonical
URL.

Data: the IG's valid examples (``profiles.ig.examples()``), PUT by id to a live server,
plus one variant of each example a parameter reads, with the searched value changed
(``VARIANTS``), so that every search has to tell two resources of its type apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from profiles.ig import examples, search_parameters
from server.config import Settings
from tests.conftest import LiveServer, assert_outcome, serve
from tests.server.api.search.conftest import matches
from tests.stores import TEST_STORE, drop_store, new_store_url

IG = "https://fhir.amparo.cl"
COMUNAS = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodComunasCL"
FORMAS = f"{IG}/CodeSystem/formas-violencia"

#: (variant id, id of the valid example it copies, (old JSON text, new JSON text)...).
VARIANTS = [
    ("sobreviviente-2", "sobreviviente-ejemplo", ('"13110"', '"08101"'),
     ('"La Florida"', '"Concepción"'), ('"152"', '"862"')),
    ("centro-2", "centro-de-la-mujer-13110", ('"13110"', '"08101"')),
    ("incidente-2", "incidente-ejemplo", ('"fisica"', '"sexual"'),
     ('"psicologica"', '"economica"'), ('"arma-blanca"', '"sin-arma"'),
     ('"13110"', '"08101"'), ('"EpisodeOfCare/caso-ejemplo"', '"EpisodeOfCare/caso-2"')),
    ("agresor-2", "agresor-ejemplo", ('"code": "Y"', '"code": "N"')),
    ("evaluacion-2", "evaluacion-ejemplo",
     ('"Organization/centro-de-la-mujer-13110"', '"Organization/centro-2"')),
    ("medida-2", "medida-proteccion-ejemplo", ('"prohibicion-acercamiento"', '"salida-hogar"'),
     ('"rondas-periodicas"', '"monitoreo-telematico"'),
     ('"Rondas periódicas de Carabineros', '"Monitoreo telemático')),
    ("alerta-2", "alerta-ejemplo", ('"reincidencia"', '"escalamiento"'),
     ('"status": "active"', '"status": "inactive"')),
    ("consentimiento-2", "consentimiento-ejemplo", ('"carabineros"', '"pdi"')),
]

#: (type, search parameters, the ids it must find exactly). Every custom parameter on
#: every type of its base appears here (``test_every_custom_parameter_is_exercised``).
CASES = [
    ("Patient", {"comuna": "13110"}, {"sobreviviente-ejemplo"}),
    ("Patient", {"comuna": f"{COMUNAS}|08101"}, {"sobreviviente-2"}),
    ("Patient", {"comuna": "13110,08101"}, {"sobreviviente-ejemplo", "sobreviviente-2"}),
    ("Patient", {"comuna:not": "13110"}, {"sobreviviente-2"}),
    ("Patient", {"comuna:text": "la florida"}, {"sobreviviente-ejemplo"}),
    ("Patient", {"comuna:missing": "false"}, {"sobreviviente-ejemplo", "sobreviviente-2"}),
    ("Patient", {"comuna": "99999"}, set()),
    ("Organization", {"comuna": "13110"}, {"centro-de-la-mujer-13110"}),
    ("Organization", {"comuna": "08101"}, {"centro-2"}),
    ("Patient", {"nacionalidad": "152"}, {"sobreviviente-ejemplo"}),
    ("Patient", {"nacionalidad:not": "152"}, {"sobreviviente-2"}),
    ("Observation", {"forma-violencia": "fisica"}, {"incidente-ejemplo"}),
    ("Observation", {"forma-violencia": f"{FORMAS}|sexual"}, {"incidente-2"}),
    ("Observation", {"forma-violencia": "psicologica,sexual"},
     {"incidente-ejemplo", "incidente-2"}),
    ("Observation", [("forma-violencia", "fisica"), ("forma-violencia", "psicologica")],
     {"incidente-ejemplo"}),
    ("Observation", {"forma-violencia": "http://other.org/system|fisica"}, set()),
    ("Observation", {"arma": "arma-blanca"}, {"incidente-ejemplo"}),
    ("Observation", {"arma:not": "arma-blanca"}, {"incidente-2"}),
    ("Observation", {"comuna-hechos": "08101"}, {"incidente-2"}),
    ("Observation", {"comuna-hechos": f"{COMUNAS}|13110"}, {"incidente-ejemplo"}),
    ("Observation", {"caso": "EpisodeOfCare/caso-ejemplo"}, {"incidente-ejemplo"}),
    ("Observation", {"caso": "caso-2"}, {"incidente-2"}),
    ("Observation", {"caso:EpisodeOfCare": "caso-ejemplo"}, {"incidente-ejemplo"}),
    ("ServiceRequest", {"caso": "caso-ejemplo"},
     {"derivacion-ejemplo", "medida-proteccion-ejemplo", "medida-2"}),
    ("CarePlan", {"caso": "EpisodeOfCare/caso-ejemplo"}, {"plan-ejemplo"}),
    ("QuestionnaireResponse", {"caso": "caso-ejemplo"}, {"respuestas-ejemplo"}),
    # DocumentReference.context.encounter holds an Encounter too: only the case counts
    ("DocumentReference", {"caso": "EpisodeOfCare/caso-ejemplo"}, {"relato-ejemplo"}),
    ("DocumentReference", {"caso": "contacto-ejemplo"}, set()),
    ("RelatedPerson", {"acceso-armas": "Y"}, {"agresor-ejemplo"}),
    ("RelatedPerson", {"acceso-armas": "http://terminology.hl7.org/CodeSystem/v2-0136|N"},
     {"agresor-2"}),
    ("RiskAssessment", {"institucion-evaluadora": "Organization/centro-de-la-mujer-13110"},
     {"evaluacion-ejemplo", "evaluacion-elevada-ejemplo"}),
    ("RiskAssessment", {"institucion-evaluadora": "centro-2"}, {"evaluacion-2"}),
    ("RiskAssessment", {"institucion-evaluadora:missing": "true"}, set()),
    ("RiskAssessment", {"basis": "QuestionnaireResponse/respuestas-ejemplo"},
     {"evaluacion-ejemplo", "evaluacion-2"}),
    ("RiskAssessment", {"basis": "Observation/incidente-ejemplo"},
     {"evaluacion-ejemplo", "evaluacion-2", "evaluacion-elevada-ejemplo"}),
    ("RiskAssessment", {"basis": "QuestionnaireResponse/otra"}, set()),
    ("ServiceRequest", {"medida": "prohibicion-acercamiento"}, {"medida-proteccion-ejemplo"}),
    ("ServiceRequest", {"medida": "monitoreo-telematico"}, {"medida-2"}),
    ("ServiceRequest", {"medida:missing": "true"}, {"derivacion-ejemplo"}),
    ("ServiceRequest", {"medida:text": "rondas periodicas"}, {"medida-proteccion-ejemplo"}),
    ("ServiceRequest", {"medida:text": "prohibición de acercarse"},
     {"medida-proteccion-ejemplo", "medida-2"}),
    ("ServiceRequest", {"motivo": "Observation/incidente-ejemplo"},
     {"derivacion-ejemplo", "medida-proteccion-ejemplo", "medida-2"}),
    ("ServiceRequest", {"motivo:Observation.focus": "RelatedPerson/agresor-ejemplo",
                        "medida:missing": "false"}, {"medida-proteccion-ejemplo", "medida-2"}),
    ("ServiceRequest", {"motivo": "Observation/otra"}, set()),
    ("Task", {"vencimiento": "2025-03-17"}, {"tarea-derivacion-ejemplo"}),
    ("Task", {"vencimiento": "lt2025-03-17"}, set()),
    ("Flag", {"code": "reincidencia"}, {"alerta-ejemplo"}),
    ("Flag", {"code": f"{IG}/CodeSystem/tipo-alerta|escalamiento"}, {"alerta-2"}),
    ("Flag", {"status": "active"}, {"alerta-ejemplo"}),
    ("Flag", {"status:not": "active"}, {"alerta-2"}),
    ("Consent", {"tipo-institucion": "carabineros"}, {"consentimiento-ejemplo"}),
    ("Consent", {"tipo-institucion": "pdi"}, {"consentimiento-2"}),
]


def variant(resource: dict, id: str, *replacements: tuple[str, str]) -> dict:
    text = json.dumps(resource, ensure_ascii=False)
    for old, new in replacements:
        assert old in text, (id, old)
        text = text.replace(old, new)
    return {**json.loads(text), "id": id}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    url = new_store_url(TEST_STORE, tmp_path_factory.mktemp("custom-parameters"))
    # search data: variants of the examples need not keep every profile rule
    for live in serve(Settings(store=url, profiles="off")):
        # ...nor the write rules: the DASH example is the platform's own output, which a
        # client may not send (server/risk.py); here it is only data to search
        live.app.extensions["amparo"].repo.rules = {}
        valid = {resource["id"]: resource for _, resource, ok in examples() if ok}
        loaded = [*valid.values(),
                  *(variant(valid[source], id, *changes) for id, source, *changes in VARIANTS)]
        for resource in loaded:
            response = live.put(f"{resource['resourceType']}/{resource['id']}", json=resource)
            assert response.status_code == 201, response.text
        yield live
    drop_store(url)


def search(live: LiveServer, type: str, params, **headers) -> dict:
    response = live.get(type, params=params, headers=headers)
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert not [e for e in bundle.get("entry", []) if e["search"]["mode"] == "outcome"], \
        bundle  # nothing ignored: every parameter and modifier was applied
    return bundle


@pytest.mark.parametrize(("type", "params", "expected"), CASES,
                         ids=[f"{t}?{p}" for t, p, _ in CASES])
def test_each_custom_parameter_finds_exactly_the_right_resources(server, type, params,
                                                                   expected):
    assert matches(search(server, type, params)) == expected


#: Custom parameters searched elsewhere: the audit trail is written by the server alone and
#: read by auditors alone, so its searches are tested at the store
#: (tests/server/audit/test_trail.py).
ELSEWHERE = {("AuditEvent", "purpose")}


def test_every_custom_parameter_is_exercised():
    searched = {(type, name.split(":")[0]) for type, params, _ in CASES
                for name, _ in (params.items() if isinstance(params, dict) else params)}
    defined = {(base, sp["code"]) for sp in search_parameters() for base in sp["base"]}
    assert len(defined) == 21
    assert defined - ELSEWHERE <= searched


def test_a_reference_parameter_refuses_a_type_outside_its_targets(server):
    response = server.get("DocumentReference", params={"caso": "Encounter/contacto-ejemplo"})
    assert_outcome(response, 400, "invalid")


def test_strict_handling_applies_custom_parameters(server):
    bundle = search(server, "Observation", {"forma-violencia": "fisica"},
                    Prefer="handling=strict")
    assert matches(bundle) == {"incidente-ejemplo"}


def test_custom_reference_parameters_chain_and_include(server):
    assert matches(search(server, "Observation", {"caso.status": "active"})) == {
        "incidente-ejemplo"}  # caso-2 is not stored: its reference resolves to nothing
    assert matches(search(server, "RiskAssessment", {
        "institucion-evaluadora.comuna": "08101"})) == {"evaluacion-2"}
    bundle = search(server, "Observation", {"_id": "incidente-ejemplo",
                                            "_include": "Observation:caso"})
    assert {(e["resource"]["resourceType"], e["resource"]["id"], e["search"]["mode"])
            for e in bundle["entry"]} == {("Observation", "incidente-ejemplo", "match"),
                                          ("EpisodeOfCare", "caso-ejemplo", "include")}
    bundle = search(server, "EpisodeOfCare", {"_id": "caso-ejemplo",
                                              "_revinclude": "ServiceRequest:caso"})
    assert {e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "include"
            } == {"derivacion-ejemplo", "medida-proteccion-ejemplo", "medida-2"}
    assert matches(search(server, "EpisodeOfCare", {
        "_has:Observation:caso:forma-violencia": "fisica"})) == {"caso-ejemplo"}


def test_custom_parameters_sort(server):
    bundle = search(server, "Patient", {"_sort": "-comuna", "comuna:missing": "false"})
    assert [e["resource"]["id"] for e in bundle["entry"]] == [
        "sobreviviente-ejemplo", "sobreviviente-2"]


def test_values_are_extracted_on_every_write(live):
    incident = next(r for _, r, ok in examples() if ok and r["id"] == "incidente-ejemplo")
    assert live.put(f"Observation/{incident['id']}", json=incident).status_code == 201
    assert matches(search(live, "Observation", {"arma": "arma-blanca"})) == {incident["id"]}
    changed = variant(incident, incident["id"], ('"arma-blanca"', '"arma-fuego"'))
    assert live.put(f"Observation/{incident['id']}", json=changed).status_code == 200
    assert matches(search(live, "Observation", {"arma": "arma-blanca"})) == set()
    assert matches(search(live, "Observation", {"arma": "arma-fuego"})) == {incident["id"]}
    assert live.delete(f"Observation/{incident['id']}").status_code in (200, 204)
    assert matches(search(live, "Observation", {"arma": "arma-fuego"})) == set()


def test_the_capability_statement_lists_them_with_their_own_definition(server):
    statement = server.get("metadata").json()
    by_type = {r["type"]: r for r in statement["rest"][0]["resource"]}
    for sp in search_parameters():
        for base in sp["base"]:
            (entry,) = [p for p in by_type[base]["searchParam"] if p["name"] == sp["code"]]
            assert entry["definition"] == sp["url"]
            assert entry["definition"].startswith(f"{IG}/SearchParameter/")
            assert entry["type"] == sp["type"]
            if base != "AuditEvent":  # the trail's search takes no modifiers
                assert entry["documentation"].startswith("Modifiers: :missing")
    assert "Observation:caso" in by_type["Observation"]["searchInclude"]
    assert "Observation:caso" in by_type["EpisodeOfCare"]["searchRevInclude"]
