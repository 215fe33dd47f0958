"""What a Subscription write is checked for (422 or 403 with an OperationOutcome, nothing
stored), where rest-hook notifications may go, and the topics as served: read-only
conformance resources every institution reads."""

from __future__ import annotations

import copy

import pytest

from profiles import ig
from server.loading import load_resources
from server.subscriptions.endpoints import ENV, refusal
from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution
from tests.server.subscriptions.conftest import BACKPORT, SUBSCRIPTION_TOPIC, subscription


@pytest.fixture
def centre(live) -> Institution:
    return Institution(live, WOMENS_CENTRE, "COC")


def refused(institution: Institution, body: dict, status: int = 422) -> str:
    before = institution.total("Subscription")
    answer = institution.post("Subscription", body)
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert institution.total("Subscription") == before
    return outcome["issue"][0]["diagnostics"]


def test_the_topic_must_be_one_of_the_platforms(live, receiver, centre):
    body = subscription("riesgo-alto", receiver.url + "/x")
    for criteria in ("https://example.org/SubscriptionTopic/x", "Flag?status=active"):
        assert "criteria" in refused(centre, {**body, "criteria": criteria})
    refused(centre, {**body, "criteria": ""})


@pytest.mark.parametrize("change", [
    lambda b: b["channel"].update(type="email"),
    lambda b: b["channel"].pop("endpoint"),
    lambda b: b["channel"].update(payload="text/plain"),
    lambda b: b["channel"].update(payload="application/fhir+json; fhirVersion=5.0"),
    lambda b: b["channel"]["_payload"]["extension"][0].update(valueCode="everything"),
    lambda b: b["channel"].update(header=["sin dos puntos"]),
    lambda b: b["channel"].update(header=["X-A: b\r\nX-Inyectado: c"]),
    lambda b: b["channel"].update(extension=[{"url": BACKPORT + "backport-timeout",
                                              "valueUnsignedInt": 0}]),
    lambda b: b["channel"].update(extension=[{"url": BACKPORT + "backport-max-count",
                                              "valuePositiveInt": 1000}]),
    lambda b: b.update(_criteria={"extension": [{"url": BACKPORT + "backport-filter-criteria",
                                                 "valueString": "code=x"}]}),
    lambda b: b.update(_criteria={"extension": [{"url": BACKPORT + "backport-filter-criteria",
                                                 "valueString": "patient=Patient/no-existe"}]}),
    lambda b: b.update(_criteria={"extension": [{"url": BACKPORT + "backport-filter-criteria",
                                                 "valueString": "patient=' OR 1=1 --"}]}),
], ids=["channel", "endpoint", "payload", "version", "content", "header", "header-crlf",
        "timeout", "max-count", "filter-unknown", "filter-missing", "filter-injection"])
def test_a_bad_subscription_is_refused_and_nothing_is_stored(live, receiver, centre, change):
    body = copy.deepcopy(subscription("riesgo-alto", receiver.url + "/x"))
    change(body)
    refused(centre, body)


def test_malformed_json_and_wrong_types_are_4xx(live, receiver, centre):
    answer = centre.request("POST", "Subscription", b'{"resourceType": "Subscription",')
    assert answer.status_code == 400
    body = subscription("riesgo-alto", receiver.url + "/x")
    body["channel"] = "rest-hook"
    assert centre.post("Subscription", body).status_code in (400, 422)


def test_a_filter_on_a_survivor_hidden_from_the_subscriber_is_refused(live, receiver, centre):
    her = centre.create({"resourceType": "Patient", "name": [{"family": "Reservada"}]})
    police = Institution(live, POLICE, "THREAT")
    hidden = refused(police, subscription("riesgo-alto", receiver.url + "/x",
                                          f"patient=Patient/{her['id']}"))
    missing = refused(police, subscription("riesgo-alto", receiver.url + "/x",
                                           "patient=Patient/no-existe-1"))
    assert hidden == missing  # the same words: hidden is missing


def test_the_status_is_the_servers(live, receiver, centre):
    body = subscription("riesgo-alto", receiver.url + "/x")
    body["status"] = "active"
    created = centre.post("Subscription", body).json()
    assert created["status"] == "requested"  # until the endpoint answers the handshake
    websocket = subscription("riesgo-alto", None, channel="websocket")
    websocket = centre.post("Subscription", websocket).json()
    assert websocket["status"] == "active"
    # the subscriber may stop or ask again; a status of the server's it sends is ignored
    kept = centre.put(f"Subscription/{websocket['id']}", {**websocket, "status": "error"})
    assert kept.json()["status"] == "active"
    assert centre.put(f"Subscription/{websocket['id']}",
                      {**websocket, "status": "entered-in-error"}).status_code in (400, 422)


def test_endpoints_outside_the_allowlist_are_refused(live, receiver, centre):
    assert "permitidos" in refused(centre, subscription("riesgo-alto",
                                                        "http://10.0.0.1/hook"))
    assert "credenciales" in refused(centre, subscription(
        "riesgo-alto", receiver.url.replace("http://", "http://u:p@") + "/x"))


def test_without_an_allowlist_only_public_https_is_taken(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert refusal("http://example.org/hook") == "el endpoint debe usar https"
    for url in ("https://127.0.0.1/hook", "https://10.1.2.3/x", "https://192.168.0.1/x",
                "https://169.254.169.254/latest/meta-data", "https://[::1]/x",
                "https://localhost/x"):
        assert refusal(url) is not None, url
    assert refusal("https://93.184.216.34/hook") is None  # a public address
    assert refusal("ftp://93.184.216.34/x") is not None
    assert refusal("no es una url") is not None
    monkeypatch.setenv(ENV, "https://hooks.example.cl/amparo/, http://127.0.0.1:9/")
    assert refusal("https://hooks.example.cl/amparo/1") is None
    assert refusal("https://hooks.example.cl/otro") is not None


def test_only_the_subscribing_institution_sees_and_changes_its_subscription(
        live, receiver, centre):
    sub = centre.create(subscription("riesgo-alto", receiver.url + "/x"))
    police = Institution(live, POLICE, "THREAT")
    assert police.get(f"Subscription/{sub['id']}").status_code == 404
    assert sub["id"] not in police.ids("Subscription")
    assert centre.get(f"Subscription/{sub['id']}").status_code == 200


def test_topics_are_served_read_only_to_every_institution(live, centre):
    load_resources(live.app.extensions["amparo"].store, ig.subscription_topics())  # as init
    police = Institution(live, POLICE, "THREAT")
    found = police.get("SubscriptionTopic", url=SUBSCRIPTION_TOPIC + "riesgo-alto").json()
    [topic] = [e["resource"] for e in found["entry"]]
    assert topic["resourceTrigger"][0]["resource"] == "Flag"
    assert len(police.ids("SubscriptionTopic")) == 9
    assert police.post("SubscriptionTopic", topic).status_code == 405
    assert police.put(f"SubscriptionTopic/{topic['id']}", topic).status_code == 405
