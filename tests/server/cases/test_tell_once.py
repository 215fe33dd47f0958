"""Tell once: the institution that meets her second finds the account she gave the first
one, reads it because her consent allows it, and adds to it instead of taking it again."""

from __future__ import annotations

import base64

from tests.server.access.institutions import (
    HOTLINE,
    POLICE,
    WOMENS_CENTRE,
    Institution,
    consent_permit,
)
from tests.server.cases.test_case_opening import contact, refer_to

TYPE = {"coding": [{"system": "https://fhir.amparo.cl/CodeSystem/tipo-documento",
                    "code": "relato-sobreviviente"}]}


def statement(her: dict, institution: str, text: str, **more) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "type": TYPE,
            "subject": {"reference": f"Patient/{her['id']}"},
            "author": [{"reference": f"Organization/{institution}"}],
            "content": [{"attachment": {"contentType": "text/plain; charset=utf-8",
                                        "data": base64.b64encode(text.encode()).decode()}}],
            **more}


def test_the_second_institution_reads_her_account_and_adds_to_it(live):
    hotline = Institution(live, HOTLINE, "TREAT")
    her = hotline.create({"resourceType": "Patient", "name": [{"family": "Rojas"}]})
    hotline.create(contact(her, HOTLINE))
    first = hotline.create(statement(her, HOTLINE, "Relata golpes y amenazas."))
    labels = {c["code"] for c in first["meta"].get("security", [])}
    assert "R" in labels  # a survivor's account is restricted by default
    centre = Institution(live, WOMENS_CENTRE, "TREAT")
    refer_to(hotline, HOTLINE, her, WOMENS_CENTRE)
    centre.create(contact(her, WOMENS_CENTRE))  # she comes to the centre: same case
    subject = f"Patient/{her['id']}"
    # restricted: on her team, the centre still does not see her account without consent
    assert centre.ids("DocumentReference", subject=subject) == set()
    assert centre.get(f"DocumentReference/{first['id']}").status_code == 404
    hotline.create(consent_permit(subject, WOMENS_CENTRE, "DocumentReference"))
    # with her consent the centre finds the account, reads it, and adds to it
    assert centre.ids("DocumentReference", subject=subject) == {first["id"]}
    read = centre.get(f"DocumentReference/{first['id']}").json()
    assert base64.b64decode(read["content"][0]["attachment"]["data"]).decode() == \
        "Relata golpes y amenazas."
    added = centre.create(statement(
        her, WOMENS_CENTRE, "Agrega que él tiene un arma.",
        relatesTo=[{"code": "appends", "target": {"reference":
                                                  f"DocumentReference/{first['id']}"}}]))
    assert centre.ids("DocumentReference", subject=subject) == {first["id"], added["id"]}
    # the hotline's own account is not changed by the centre (seeing is not changing)
    assert centre.put(f"DocumentReference/{first['id']}", {
        **read, "status": "superseded"}).status_code == 403
    # an institution outside her consent sees neither
    assert Institution(live, POLICE, "THREAT").ids("DocumentReference", subject=subject) \
        == set()
    # both accounts are on her case
    [case] = [e["resource"] for e in Institution(live, HOTLINE, "COC").get(
        "EpisodeOfCare", patient=subject).json()["entry"]]
    assert {e["resource"]["id"] for e in hotline.get(
        "DocumentReference", caso=f"EpisodeOfCare/{case['id']}").json()["entry"]} == {
        first["id"]}  # the hotline sees its own; the centre's is the centre's to share
