"""Protection measures (ServiceRequest, ProtectionMeasure) found with plain FHIR search:
the ones in force for a survivor, and the ones in force against an aggressor, through the
incident that grounds them (``motivo``, the guide's search parameter on reasonReference)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution

MEASURE = "https://fhir.amparo.cl/CodeSystem/tipo-solicitud|medida-proteccion"
RUN = "http://regcivil.cl/Validacion/RUN"


def measure(her: dict, incident: dict, start: date, end: date, status: str = "active") -> dict:
    return {"resourceType": "ServiceRequest", "status": status, "intent": "order",
            "category": [{"coding": [{"system": MEASURE.split("|")[0],
                                       "code": "medida-proteccion"}]}],
            "subject": {"reference": f"Patient/{her['id']}"},
            "occurrencePeriod": {"start": start.isoformat(), "end": end.isoformat()},
            "reasonReference": [{"reference": f"Observation/{incident['id']}"}]}


def test_measures_in_force_for_her_and_against_him(live):
    police = Institution(live, POLICE, "THREAT")
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    today = datetime.now(UTC).date()
    found = {}
    for name in ("ana", "berta"):
        her = centre.create({"resourceType": "Patient", "name": [{"family": name}]})
        him = centre.create({"resourceType": "RelatedPerson", "patient": {
            "reference": f"Patient/{her['id']}"}, "identifier": [{"system": RUN,
                                                                  "value": "9876543-3"}]})
        incident = centre.create({"resourceType": "Observation", "status": "final",
                                  "code": {"text": "incidente"},
                                  "subject": {"reference": f"Patient/{her['id']}"},
                                  "focus": [{"reference": f"RelatedPerson/{him['id']}"}]})
        year = timedelta(days=365)
        found[name] = (her, him, [centre.create(m) for m in (
            measure(her, incident, today - timedelta(days=10), today + year),
            measure(her, incident, today - 2 * year, today - year),  # expired
            measure(her, incident, today - timedelta(days=5), today + year, "revoked"))])
    in_force = {"category": MEASURE, "status": "active",
                "occurrence": [f"le{today.isoformat()}", f"ge{today.isoformat()}"]}
    her, him, (active, _, _) = found["ana"]
    assert centre.ids("ServiceRequest", subject=f"Patient/{her['id']}", **in_force) == {
        active["id"]}
    assert centre.ids("ServiceRequest", **{"motivo:Observation.focus":
                                           f"RelatedPerson/{him['id']}"}, **in_force) == {
        active["id"]}
    # the same man (by RUN) against both women
    against = centre.ids("ServiceRequest", **{
        "motivo:Observation.focus:RelatedPerson.identifier": f"{RUN}|9876543-3"}, **in_force)
    assert against == {found["ana"][2][0]["id"], found["berta"][2][0]["id"]}
    # and the police, not on her case, see none of them
    assert police.ids("ServiceRequest", subject=f"Patient/{her['id']}", **in_force) == set()
