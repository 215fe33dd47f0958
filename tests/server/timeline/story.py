"""A survivor's case, written over HTTP by the institutions' own clients (and, for the
referral tasks whose deadlines have long passed, by the platform's load): the small story
the timeline and summary tests read.

The women's centre meets her on 1 March 2025 (which opens her case), records the incident
of 28 February, assesses her risk twice (medio on 1 March, alto on 10 March; the second
labelled V, very restricted), refers her with two tasks (one still waiting, due on
5 March, one completed), records two protection measures (one in force, one expired on
1 April) and meets her again on 18 March; Carabineros meets her on 12 March (and so
joins her team); an alert is raised on 15 March, written last."""

from __future__ import annotations

from dataclasses import dataclass

from server.loading import load_bundles
from tests.conftest import LiveServer
from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution
from tests.server.cases.test_case_opening import refer_to

SHELTER = "casa-de-acogida-13101"
EPISODE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
LEVEL = "https://fhir.amparo.cl/CodeSystem/nivel-riesgo"
INSTRUMENT = "https://fhir.amparo.cl/CodeSystem/instrumento-riesgo"
ESTADO = "https://fhir.amparo.cl/CodeSystem/estado-derivacion"
KIND = "https://fhir.amparo.cl/CodeSystem/tipo-solicitud"
VERY_RESTRICTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                   "code": "V"}


@dataclass
class Story:
    """Every record of the story by name (as written), and the case."""

    her: dict
    case: str  # its id
    records: dict[str, dict]

    def ref(self, name: str) -> str:
        record = self.records[name]
        return f"{record['resourceType']}/{record['id']}"


def contact(her: dict, institution: str, start: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "subject": {"reference": f"Patient/{her['id']}"},
            "serviceProvider": {"reference": f"Organization/{institution}"},
            "period": {"start": start}}


def assessment(her: dict, met: dict, level: str, when: str, **extra) -> dict:
    return {"resourceType": "RiskAssessment", "status": "final",
            "method": {"coding": [{"system": INSTRUMENT, "code": "pauta-cdm"}]},
            "subject": {"reference": f"Patient/{her['id']}"},
            "encounter": {"reference": f"Encounter/{met['id']}"},
            "occurrenceDateTime": when,
            "prediction": [{"qualitativeRisk": {"coding": [{"system": LEVEL, "code": level}]}}],
            **extra}


def in_case(case: str) -> list[dict]:
    return [{"url": EPISODE, "valueReference": {"reference": f"EpisodeOfCare/{case}"}}]


def measure(her: dict, case: str, start: str, end: str) -> dict:
    return {"resourceType": "ServiceRequest", "extension": in_case(case), "status": "active",
            "intent": "order",
            "category": [{"coding": [{"system": KIND, "code": "medida-proteccion"}]}],
            "code": {"text": "Medidas de protección"},
            "orderDetail": [{"text": "Prohibición de acercarse a la víctima"}],
            "subject": {"reference": f"Patient/{her['id']}"}, "authoredOn": start,
            "occurrencePeriod": {"start": start, "end": end}}


def task(her: dict, request: dict, status: str, code: str, due: str) -> dict:
    return {"resourceType": "Task", "status": status,
            "businessStatus": {"coding": [{"system": ESTADO, "code": code}]},
            "intent": "order", "focus": {"reference": f"ServiceRequest/{request['id']}"},
            "for": {"reference": f"Patient/{her['id']}"},
            "authoredOn": "2025-03-02T10:00:00-03:00",
            "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
            "owner": {"reference": f"Organization/{SHELTER}"},
            "restriction": {"period": {"start": "2025-03-02T10:00:00-03:00", "end": due}}}


def story_ref(record: dict) -> str:
    return f"{record['resourceType']}/{record['id']}"


def write_story(live: LiveServer) -> Story:
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Contreras"}]})
    subject = {"reference": f"Patient/{her['id']}"}
    records: dict[str, dict] = {}
    records["first contact"] = centre.create(
        contact(her, WOMENS_CENTRE, "2025-03-01T10:00:00-03:00"))
    case = records["first contact"]["episodeOfCare"][0]["reference"].split("/")[1]
    records["incident"] = centre.create({
        "resourceType": "Observation", "extension": in_case(case), "status": "final",
        "code": {"text": "incidente"}, "subject": subject,
        "effectiveDateTime": "2025-02-28T22:00:00-03:00"})
    records["medio"] = centre.create(assessment(her, records["first contact"], "medio",
                                                "2025-03-01T11:00:00-03:00"))
    records["alto"] = centre.create(assessment(
        her, records["first contact"], "alto", "2025-03-10T09:00:00-03:00",
        meta={"security": [VERY_RESTRICTED]}))
    records["referral"] = centre.create({
        "resourceType": "ServiceRequest", "extension": in_case(case), "status": "active",
        "intent": "order", "code": {"text": "acogida"}, "subject": subject,
        "authoredOn": "2025-03-02T10:00:00-03:00",
        "requester": {"reference": f"Organization/{WOMENS_CENTRE}"},
        "performer": [{"reference": f"Organization/{SHELTER}"}]})
    records["in force"] = centre.create(measure(her, case, "2025-03-20", "2099-12-31"))
    records["expired"] = centre.create(measure(her, case, "2025-01-02", "2025-04-01"))
    police = Institution(live, POLICE, "THREAT")
    # the centre refers her to Carabineros (what lets them take part in her case), and
    # withdraws the referral once they have met her, so that it is not part of the story
    sent = refer_to(centre, WOMENS_CENTRE, her, POLICE)
    records["police contact"] = police.create(contact(her, POLICE, "2025-03-12T20:00:00-03:00"))
    for ref in (f"Task/{sent['id']}", sent["focus"]["reference"]):
        assert centre.delete(ref).status_code == 204
    records["second contact"] = centre.create(
        contact(her, WOMENS_CENTRE, "2025-03-18T16:00:00-03:00"))
    waiting = task(her, records["referral"], "requested", "enviada", "2025-03-05T10:00:00-03:00")
    done = task(her, records["referral"], "completed", "completada",
                "2025-03-09T10:00:00-03:00")
    services = live.app.extensions["amparo"]
    load_bundles(services.store, services.settings, [{
        "resourceType": "Bundle", "type": "transaction", "entry": [
            {"fullUrl": "urn:uuid:6f1f7a4e-0d0a-4f54-9b6e-000000000001", "resource": waiting,
             "request": {"method": "POST", "url": "Task"}},
            {"fullUrl": "urn:uuid:6f1f7a4e-0d0a-4f54-9b6e-000000000002", "resource": done,
             "request": {"method": "POST", "url": "Task"}}]}])
    coordinator = Institution(live, WOMENS_CENTRE, "COC")
    for name, status in (("waiting task", "requested"), ("completed task", "completed")):
        [records[name]] = [e["resource"] for e in coordinator.get(
            "Task", patient=f"Patient/{her['id']}", status=status).json()["entry"]]
    records["alert"] = centre.create({
        "resourceType": "Flag", "status": "active",
        "code": {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/tipo-alerta",
                             "code": "reincidencia"}]},
        "subject": subject, "encounter": {"reference": story_ref(records["police contact"])},
        "period": {"start": "2025-03-15T08:00:00-03:00"}})
    return Story(her, case, records)


def names(story: Story, bundle: dict) -> list[str]:
    """The story's names of a Bundle's matches, in order (``case``, ``her``, ``team`` for
    the records the platform wrote; ``Type/id`` for anything else)."""
    known = {story.ref(name): name for name in story.records}
    known[f"EpisodeOfCare/{story.case}"] = "case"
    known[f"Patient/{story.her['id']}"] = "her"
    found = []
    for item in bundle.get("entry", []):
        if item["search"]["mode"] != "match":
            continue
        ref = f"{item['resource']['resourceType']}/{item['resource']['id']}"
        found.append(known.get(ref, "team" if ref.startswith("CareTeam/") else ref))
    return found


def parts(summary: dict) -> dict[str, list[dict]]:
    """A summary's parameters by name, each as ``{part name: value}`` (a part given more
    than once, as a list; a parameter with a value, as ``{"value": value}``)."""
    found: dict[str, list[dict]] = {}
    for parameter in summary["parameter"]:
        if "part" in parameter:
            values: dict = {}
            for part in parameter["part"]:
                value = next(v for k, v in part.items() if k.startswith("value"))
                if part["name"] in values:
                    previous = values[part["name"]]
                    values[part["name"]] = [*(previous if isinstance(previous, list)
                                              else [previous]), value]
                else:
                    values[part["name"]] = value
        else:
            values = {"value": next(v for k, v in parameter.items() if k.startswith("value"))}
        found.setdefault(parameter["name"], []).append(values)
    return found
