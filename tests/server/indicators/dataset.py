"""A small, explicit data set for the indicator tests, written through the repository as
the platform (profiles off: the records are minimal but R4B-valid), so every expected
figure can be checked by hand against the list below.

Period 2025, evaluated at ``NOW`` (2026-06-01). Survivors and what each contributes:

======  ====================  =========================================================
woman   case (start, entry)   other records
======  ====================  =========================================================
p1      2025-03-15 carab.     La Florida, born 1990 (30-44); case moved to the CDM later
                              (entry stays Carabineros); incidents 03-14 (física,
                              psicológica, linked) and 06-01 (psicológica): recurrent;
                              PUIR medio 03-15 then CDM alto 06-02 (high); measure
                              06-01..2026-06-01 (protected); contacts 1455 03-10 and
                              Carabineros at the case start: two institutions before;
                              referral t1 accepted 24 h, started 48 h, completed;
                              alert riesgo-alto 06-02 12:00, first action (the measure
                              authored) 24 h later
p2      2025-04-02 1455       Santiago, stated 25 in 2024 (18-29); incidents 04-01 22:00
                              and 04-02 10:00 (sexual, linked; one episode: not
                              recurrent); 1455 vital (high); measure ended 2025-10-05;
                              referral t2 rejected; alert riesgo-alto 04-02 15:00, first
                              action t2 sent 6 h later
p3      2025-05-05 CDM        Valparaíso, born 2008 (menor-18); no incident (sin
                              incidente), no assessment; case finished 2025-09-01
p4      2025-05-20 urgencia   no comuna, no age; incidents 2024-11-01 and 2025-05-19
                              (económica, linked): recurrent; assessment 05-10, before
                              the case: sin-evaluacion
p5      2025-07-01 carab.     La Florida, born 1960 (60-mas); incident 07-01 (física);
                              PUIR vital-alto (high); revoked measure (unprotected);
                              contacts Carabineros twice (one institution); referral t3
                              accepted 12 h; alert reincidencia 07-05, no action since
p6      2024-12-20 carab.     not a new case; incidents 2024-02-01 and 2025-03-01 (394
                              days apart: not recurrent); CDM alto 2025-03-02; completed
                              measure in force at the end of 2025; referral t5 sent 2024
p7      2025-01-10 1455       Santiago, born 1985 (30-44); a second case 02-01 cancelled
                              (folded); 1455 bajo; contacts urgencia 2024-12-30 and 1455:
                              two institutions; referral t4 accepted 48 h, started 72 h
p8      2025-03-01 carab.     declined statistical use (Consent deny PUBHLTH): left out
                              of everything (case, incidents, referral t6, alert)
======  ====================  =========================================================
"""

from __future__ import annotations

from datetime import UTC, datetime

from server import clock
from server.access import ANONYMOUS, AccessGate
from server.repository import Repository
from server.store import Store
from server.validation import validate

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CS = "https://fhir.amparo.cl/CodeSystem/"
COMUNA = "https://hl7chile.cl/fhir/ig/clcore/StructureDefinition/ComunasCl"
COMUNAS = "https://hl7chile.cl/fhir/ig/clcore/CodeSystem/CSCodComunasCL"
ORGS = {"carab": "carabineros", "fono": "linea-1455", "cdm": "centro-de-la-mujer",
        "urgencia": "salud-urgencia", "tribunal": "tribunal-familia"}


def put(store: Store, *resources: dict, at: datetime | None = None) -> None:
    """Write ``resources`` (create or update by id) in one unit of work as the platform;
    ``at``: the instant stamped on them (their ``meta.lastUpdated``)."""
    repo = Repository(store, AccessGate(store))
    stamp = None if at is None else (at.isoformat(timespec="microseconds"), clock.to_us(at))
    with repo.write(ANONYMOUS, stamp) as w:
        for resource in resources:
            repo.update(w, resource["resourceType"], resource["id"],
                        validate(resource, resource["resourceType"]))
        w.uow.commit()


def organization(id: str) -> dict:
    return {"resourceType": "Organization", "id": id, "name": id, "type": [
        {"coding": [{"system": CS + "tipo-institucion", "code": ORGS[id]}]}]}


def patient(id: str, comuna: str | None = None, birth: str | None = None,
            stated: tuple[int, str] | None = None) -> dict:
    out = {"resourceType": "Patient", "id": id, "gender": "female"}
    if comuna:
        out["address"] = [{"use": "home", "city": comuna, "_city": {"extension": [
            {"url": COMUNA, "valueCodeableConcept": {"coding": [
                {"system": COMUNAS, "code": comuna}]}}]}}]
    if birth:
        out["birthDate"] = birth
    if stated:
        out["extension"] = [{"url": "https://fhir.amparo.cl/StructureDefinition/"
                                    "ext-edad-declarada", "extension": [
            {"url": "edad", "valueAge": {"value": stated[0], "unit": "años",
                                         "system": "http://unitsofmeasure.org", "code": "a"}},
            {"url": "fecha", "valueDate": stated[1]}]}]
    return out


def case(id: str, who: str, start: str, lead: str, status: str = "active",
         end: str | None = None) -> dict:
    period = {"start": start, **({"end": end} if end else {})}
    return {"resourceType": "EpisodeOfCare", "id": id, "status": status,
            "meta": {"profile": ["https://fhir.amparo.cl/StructureDefinition/VAWCase"]},
            "patient": {"reference": f"Patient/{who}"},
            "managingOrganization": {"reference": f"Organization/{lead}"}, "period": period}


def incident(id: str, who: str, at: str, forms: tuple[str, ...] = (),
             case: str | None = None) -> dict:
    out = {"resourceType": "Observation", "id": id, "status": "final",
           "code": {"coding": [{"system": CS + "observacion-vcm",
                                "code": "incidente-violencia"}]},
           "subject": {"reference": f"Patient/{who}"}, "effectiveDateTime": at}
    if forms:
        out["component"] = [{"code": {"coding": [{"system": CS + "formas-violencia",
                                                  "code": f}]}, "valueBoolean": True}
                            for f in forms]
    if case:
        out["extension"] = [{"url": "http://hl7.org/fhir/StructureDefinition/"
                                    "workflow-episodeOfCare",
                             "valueReference": {"reference": f"EpisodeOfCare/{case}"}}]
    return out


def assessment(id: str, who: str, at: str, instrument: str, level: str,
               given: str | None = None) -> dict:
    return {"resourceType": "RiskAssessment", "id": id, "status": "final",
            "extension": [{"url": "https://fhir.amparo.cl/StructureDefinition/"
                                  "ext-nivel-instrumento",
                           "valueCoding": {"system": CS + "nivel-riesgo",
                                           "code": given or level}}],
            "method": {"coding": [{"system": CS + "instrumento-riesgo", "code": instrument}]},
            "subject": {"reference": f"Patient/{who}"}, "occurrenceDateTime": at,
            "prediction": [{"qualitativeRisk": {"coding": [
                {"system": CS + "nivel-riesgo", "code": level}]}}]}


def protection(id: str, who: str, start: str, end: str, status: str = "active",
               authored: str | None = None) -> dict:
    return {"resourceType": "ServiceRequest", "id": id, "status": status, "intent": "order",
            "category": [{"coding": [{"system": CS + "tipo-solicitud",
                                      "code": "medida-proteccion"}]}],
            "subject": {"reference": f"Patient/{who}"},
            "occurrencePeriod": {"start": start, "end": end},
            **({"authoredOn": authored} if authored else {}),
            "requester": {"reference": "Organization/tribunal"}}


def contact(id: str, who: str, at: str, by: str) -> dict:
    return {"resourceType": "Encounter", "id": id, "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"}, "subject": {"reference": f"Patient/{who}"},
            "period": {"start": at}, "serviceProvider": {"reference": f"Organization/{by}"}}


def alert(id: str, who: str, at: str, kind: str) -> dict:
    return {"resourceType": "Flag", "id": id, "status": "active",
            "code": {"coding": [{"system": CS + "tipo-alerta", "code": kind}]},
            "subject": {"reference": f"Patient/{who}"}, "period": {"start": at}}


def task(id: str, who: str, status: str, business: str) -> dict:
    return {"resourceType": "Task", "id": id, "status": status, "intent": "order",
            "businessStatus": {"coding": [{"system": CS + "estado-derivacion",
                                           "code": business}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code",
                                 "code": "fulfill"}]},
            "focus": {"reference": f"ServiceRequest/s-{id}"},
            "for": {"reference": f"Patient/{who}"},
            "requester": {"reference": "Organization/fono"},
            "owner": {"reference": "Organization/cdm"}}


def declined(id: str, who: str) -> dict:
    return {"resourceType": "Consent", "id": id, "status": "active",
            "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                            "consentscope", "code": "patient-privacy"}]},
            "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
            "patient": {"reference": f"Patient/{who}"},
            "provision": {"type": "deny", "period": {"start": "2025-01-01",
                                                     "end": "2030-12-31"},
                          "purpose": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                 "v3-ActReason", "code": "PUBHLTH"}]}}


#: Each referral task's versions: (instant, status, estado-derivacion).
REFERRALS = {
    "t1": ("p1", [("2025-03-16T10:00:00+00:00", "requested", "enviada"),
                  ("2025-03-17T10:00:00+00:00", "accepted", "aceptada"),
                  ("2025-03-18T10:00:00+00:00", "in-progress", "en-atencion"),
                  ("2025-04-01T10:00:00+00:00", "completed", "completada")]),
    "t2": ("p2", [("2025-04-03T00:00:00+00:00", "requested", "enviada"),
                  ("2025-04-04T00:00:00+00:00", "rejected", "rechazada")]),
    "t3": ("p5", [("2025-07-02T00:00:00+00:00", "requested", "enviada"),
                  ("2025-07-02T12:00:00+00:00", "accepted", "aceptada")]),
    "t4": ("p7", [("2025-01-11T00:00:00+00:00", "requested", "enviada"),
                  ("2025-01-13T00:00:00+00:00", "accepted", "aceptada"),
                  ("2025-01-14T00:00:00+00:00", "in-progress", "en-atencion")]),
    "t5": ("p6", [("2024-12-21T00:00:00+00:00", "requested", "enviada"),
                  ("2025-01-02T00:00:00+00:00", "accepted", "aceptada")]),
    "t6": ("p8", [("2025-03-02T00:00:00+00:00", "requested", "enviada"),
                  ("2025-03-03T00:00:00+00:00", "accepted", "aceptada")]),
}


def load(store: Store, consent: bool = True) -> None:
    """The data set of the module docstring (``consent`` False: p8 did not decline)."""
    put(store, *(organization(id) for id in ORGS))
    put(store, patient("p1", "13110", "1990-05-10"),
        patient("p2", "13101", stated=(25, "2024-06-01")), patient("p3", "05101", "2008-01-20"),
        patient("p4"), patient("p5", "13110", "1960-01-01"),
        patient("p6", "13110", "1980-01-01"), patient("p7", "13101", "1985-02-01"),
        patient("p8", "13110", "1991-01-01"))
    put(store, case("c1", "p1", "2025-03-15T10:00:00-03:00", "carab"),
        case("c2", "p2", "2025-04-02T09:00:00-03:00", "fono"),
        case("c3", "p3", "2025-05-05T11:00:00-04:00", "cdm", "finished",
             "2025-09-01T10:00:00-04:00"),
        case("c4", "p4", "2025-05-20T10:00:00-04:00", "urgencia"),
        case("c5", "p5", "2025-07-01T09:00:00-04:00", "carab"),
        case("c6", "p6", "2024-12-20T10:00:00-03:00", "carab"),
        case("c7", "p7", "2025-01-10T10:00:00-03:00", "fono"),
        case("c7b", "p7", "2025-02-01T10:00:00-03:00", "fono", "cancelled",
             "2025-02-02T10:00:00-03:00"),
        case("c8", "p8", "2025-03-01T10:00:00-03:00", "carab"))
    put(store, case("c1", "p1", "2025-03-15T10:00:00-03:00", "cdm"))  # transferred
    put(store, incident("i1", "p1", "2025-03-14T21:00:00-03:00", ("fisica", "psicologica"), "c1"),
        incident("i2", "p1", "2025-06-01T21:00:00-04:00", ("psicologica",)),
        incident("i3", "p2", "2025-04-01T22:00:00-03:00", ("sexual",), "c2"),
        incident("i3b", "p2", "2025-04-02T10:00:00-03:00", ("sexual",), "c2"),
        incident("i4a", "p4", "2024-11-01T20:00:00-03:00", ("fisica",)),
        incident("i4b", "p4", "2025-05-19T20:00:00-04:00", ("economica",), "c4"),
        incident("i5", "p5", "2025-07-01T08:00:00-04:00", ("fisica",), "c5"),
        incident("i6a", "p6", "2024-02-01T20:00:00-03:00", ("fisica",)),
        incident("i6b", "p6", "2025-03-01T20:00:00-03:00", ("fisica",)),
        incident("i8a", "p8", "2025-02-01T20:00:00-03:00", ("fisica",), "c8"),
        incident("i8b", "p8", "2025-02-10T20:00:00-03:00", ("fisica",), "c8"))
    put(store, assessment("a1", "p1", "2025-03-15T12:00:00-03:00", "puir", "medio"),
        assessment("a1b", "p1", "2025-06-02T11:00:00-04:00", "pauta-cdm", "alto"),
        assessment("a2", "p2", "2025-04-02T09:30:00-03:00", "pauta-1455", "vital"),
        assessment("a4", "p4", "2025-05-10T10:00:00-04:00", "pauta-cdm", "bajo"),
        assessment("a5", "p5", "2025-07-01T10:00:00-04:00", "puir", "vital-alto"),
        assessment("a6", "p6", "2025-03-02T10:00:00-03:00", "pauta-cdm", "alto"),
        assessment("a7", "p7", "2025-01-11T10:00:00-03:00", "pauta-1455", "bajo"),
        assessment("a8", "p8", "2025-03-01T12:00:00-03:00", "puir", "vital-alto"))
    put(store, protection("m1", "p1", "2025-06-01", "2026-06-01",
                          authored="2025-06-03T12:00:00-04:00"),
        protection("m2", "p2", "2025-04-05", "2025-10-05", authored="2025-04-05T12:00:00-03:00"),
        protection("m5", "p5", "2025-07-03", "2026-07-03", "revoked",
                   authored="2025-07-03T12:00:00-04:00"),
        protection("m6", "p6", "2025-01-01", "2026-01-31", "completed",
                   authored="2025-01-01T12:00:00-03:00"))
    put(store, contact("e1a", "p1", "2025-03-10T10:00:00-03:00", "fono"),
        contact("e1b", "p1", "2025-03-15T10:00:00-03:00", "carab"),
        contact("e2a", "p2", "2025-04-02T09:00:00-03:00", "fono"),
        contact("e2b", "p2", "2025-04-20T10:00:00-04:00", "cdm"),
        contact("e3", "p3", "2025-05-05T11:00:00-04:00", "cdm"),
        contact("e4", "p4", "2025-05-20T10:00:00-04:00", "urgencia"),
        contact("e5a", "p5", "2025-06-20T10:00:00-04:00", "carab"),
        contact("e5b", "p5", "2025-07-01T09:00:00-04:00", "carab"),
        contact("e7a", "p7", "2024-12-30T10:00:00-03:00", "urgencia"),
        contact("e7b", "p7", "2025-01-10T10:00:00-03:00", "fono"),
        contact("e8", "p8", "2025-03-01T10:00:00-03:00", "carab"))
    put(store, alert("f1", "p1", "2025-06-02T12:00:00-04:00", "riesgo-alto"),
        alert("f2", "p2", "2025-04-02T15:00:00-03:00", "riesgo-alto"),
        alert("f3", "p5", "2025-07-05T12:00:00-04:00", "reincidencia"),
        alert("f5", "p6", "2024-12-31T12:00:00-03:00", "escalamiento"),
        alert("f8", "p8", "2025-03-02T12:00:00-03:00", "riesgo-alto"))
    for id, (who, versions) in REFERRALS.items():
        for at, status, business in versions:
            put(store, task(id, who, status, business), at=datetime.fromisoformat(at))
    if consent:
        put(store, declined("k8", "p8"))


#: ``load_many``'s survivors: each one's comuna (None: not known), her case's entry
#: institution and the level of her assessment (None: none), cycling
MANY_COMUNAS = (["13110"] * 9 + ["13101"] * 6 + ["13123"] * 2 + ["05101"] * 7 + ["05109"]
                + [None] * 3)
MANY_ENTRIES = ["carab", "fono", "carab", "fono", "cdm", "carab", "fono"]
MANY_LEVELS = ["alto", "medio", None, "alto", "bajo", "alto", None, "medio", "vital", None]


def load_many(store: Store) -> None:
    """28 new cases in 2025 across five comunas and three unknown ones, five months,
    four entry institutions and four levels: counts large and small."""
    put(store, *(organization(id) for id in ORGS))
    patients, cases, assessments, contacts, incidents = [], [], [], [], []
    for i, comuna in enumerate(MANY_COMUNAS):
        who, month = f"q{i}", 1 + (i * 7) % 5  # months 1-5, unevenly
        patients.append(patient(who, comuna, f"{1960 + (i * 13) % 45}-06-15"))
        start = f"2025-{month:02d}-{10 + i % 15:02d}T10:00:00-03:00"
        cases.append(case(f"k{i}", who, start, MANY_ENTRIES[i % len(MANY_ENTRIES)]))
        if (level := MANY_LEVELS[i % len(MANY_LEVELS)]) is not None:
            assessments.append(assessment(f"r{i}", who, start, "pauta-cdm", level))
        contacts.append(contact(f"x{i}", who, start, MANY_ENTRIES[i % len(MANY_ENTRIES)]))
        if i % 9 == 0:  # three women had met another institution before
            contacts.append(contact(f"y{i}", who, "2024-12-01T10:00:00-03:00", "urgencia"))
        forms = ("fisica", "psicologica", "sexual")[: 1 + i % 3]
        incidents.append(incident(f"h{i}", who, start, forms, f"k{i}"))
    for batch in (patients, cases, assessments, contacts, incidents):
        put(store, *batch)
