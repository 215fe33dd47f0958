"""An independent FHIR client, fhirpy (beda-software/fhir-py), drives the server through
its own API: the proof that a third-party client interoperates with Amparo."""

from __future__ import annotations

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import MultipleResourcesFound, ResourceNotFound

RUN = "https://amparo.example/run"


@pytest.fixture
def client(live) -> SyncFHIRClient:
    return SyncFHIRClient(live.base, authorization=f"Bearer {live.auth.token}")


def test_fhirpy_creates_and_reads_a_patient(client):
    created = client.resource("Patient", identifier=[{"system": RUN, "value": "1"}],
                              name=[{"family": "Rojas", "given": ["Ana"]}], gender="female")
    created.save()
    assert created.id
    assert created["meta"]["versionId"] == "1"
    read = client.reference("Patient", created.id).to_resource()
    assert read["name"][0]["family"] == "Rojas"
    assert read.serialize() == created.serialize()


def test_fhirpy_updates_a_patient_and_the_version_moves_on(client):
    patient = client.resource("Patient", active=True)
    patient.save()
    patient["active"] = False
    patient.save()
    assert patient["meta"]["versionId"] == "2"
    assert client.resources("Patient").search(_id=patient.id).get()["active"] is False


def test_fhirpy_searches_by_identifier(client):
    for value in ("1", "2", "3"):
        client.resource("Patient", identifier=[{"system": RUN, "value": value}]).save()
    found = client.resources("Patient").search(identifier=f"{RUN}|2").fetch()
    assert [p["identifier"][0]["value"] for p in found] == ["2"]
    assert client.resources("Patient").search(identifier=f"{RUN}|").count() == 3
    assert client.resources("Patient").search(identifier=f"{RUN}|9").fetch() == []
    with pytest.raises(MultipleResourcesFound):
        client.resources("Patient").search(identifier=f"{RUN}|").get()


def test_fhirpy_follows_the_servers_next_links(client):
    ids = set()
    for _ in range(5):
        patient = client.resource("Patient")
        patient.save()
        ids.add(patient.id)
    fetched = client.resources("Patient").limit(2).fetch_all()
    assert {p.id for p in fetched} == ids
    assert len(fetched) == 5


def test_fhirpy_conditional_update_by_identifier(client):
    search = client.resources("Patient").search(identifier=f"{RUN}|7")
    created, was_created = search.update(
        client.resource("Patient", identifier=[{"system": RUN, "value": "7"}]))
    assert was_created
    updated, was_created = search.update(
        client.resource("Patient", identifier=[{"system": RUN, "value": "7"}], active=True))
    assert not was_created
    assert updated.id == created.id and updated["active"] is True


def test_fhirpy_deletes_a_patient_and_then_cannot_read_it(client):
    patient = client.resource("Patient", identifier=[{"system": RUN, "value": "del"}])
    patient.save()
    patient.delete()
    with pytest.raises(ResourceNotFound):
        client.reference("Patient", patient.id).to_resource()
    assert client.resources("Patient").search(identifier=f"{RUN}|del").fetch() == []
