"""The websocket channel end to end: institutions ask for a binding token over HTTP, a real
websocket client binds with it to the channel (on 127.0.0.1, over the live server's
store) and the real workers (early warning, topic matching) turn a high-risk assessment
into the notifications it receives; every wait has a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.subscriptions import websocket
from server.subscriptions.notification import STATUS_R4
from server.subscriptions.websocket import WebsocketChannel
from tests.server.access.institutions import POLICE, WOMENS_CENTRE, Institution, missing_id, seen
from tests.server.subscriptions.conftest import Received, subscription
from tests.server.timeline.story import contact
from tests.server.warnings.test_engine import assessment

TOPIC = "riesgo-alto"
R4_PAYLOAD = "application/fhir+json; fhirVersion=4.0"


@pytest.fixture
def channel(live, monkeypatch) -> Iterator[WebsocketChannel]:
    """The channel as ``server/wsgi.py`` runs it, on a free port of 127.0.0.1."""
    amparo = live.app.extensions["amparo"]
    running = WebsocketChannel(amparo.repo, amparo.auth.ring, "127.0.0.1", 0,
                               poll_seconds=0.02, check_seconds=0.2)
    running.start()
    monkeypatch.setenv(websocket.PORT_ENV, str(running.port))
    monkeypatch.delenv(websocket.URL_ENV, raising=False)
    yield running
    running.stop(10)


# -- helpers -------------------------------------------------------------------------------

def case_at_high_risk(institution: Institution, org: str = WOMENS_CENTRE,
                      day: str = "2026-11-01") -> str:
    """A survivor met by ``org`` (so that it is on her case), then assessed at high risk
    (early warning raises a riesgo-alto Flag); her ``Patient/<id>``."""
    her = institution.create({"resourceType": "Patient"})
    institution.create(contact(her, org, f"{day}T09:00:00-03:00"))
    institution.create(assessment(f"Patient/{her['id']}", "alto", day))
    return f"Patient/{her['id']}"


def subscribe(institution: Institution, *filters: str, **options) -> str:
    answer = institution.post("Subscription", subscription(TOPIC, None, *filters,
                                                            channel="websocket", **options))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "active"
    return answer.json()["id"]


def binding_token(institution: Institution, *ids: str) -> dict:
    """The operation's output by name (``subscription``: a list); one id: instance level,
    several: type level (a POST Parameters body)."""
    if len(ids) == 1:
        answer = institution.get(f"Subscription/{ids[0]}/$get-ws-binding-token")
    else:
        answer = institution.post("Subscription/$get-ws-binding-token", {
            "resourceType": "Parameters",
            "parameter": [{"name": "id", "valueId": i} for i in ids]})
    assert answer.status_code == 200, answer.text
    out: dict = {"subscription": []}
    for parameter in answer.json()["parameter"]:
        value = next(v for k, v in parameter.items() if k.startswith("value"))
        if parameter["name"] == "subscription":
            out["subscription"].append(value)
        else:
            out[parameter["name"]] = value
    return out


@contextmanager
def bind(institution: Institution, *ids: str) -> Iterator[ClientConnection]:
    """A connection bound to ``ids`` with a token ``institution`` asked for."""
    token = binding_token(institution, *ids)
    with connect(token["websocket-url"], open_timeout=10) as ws:
        ws.send(f"bind-with-token {token['token']}")
        yield ws


def receive(ws: ClientConnection, until: Callable[[list[Received]], bool],
            timeout: float = 20.0) -> list[Received]:
    """The notifications received until ``until`` holds of them (text frames of JSON)."""
    got: list[Received] = []
    deadline = time.monotonic() + timeout
    while not until(got):
        left = deadline - time.monotonic()
        try:
            message = ws.recv(timeout=max(left, 0.001))
        except TimeoutError:
            raise AssertionError(f"not received in {timeout}s: "
                                 f"{[r.kind for r in got]}") from None
        assert isinstance(message, str)  # a text frame
        got.append(Received("websocket", {}, json.loads(message)))
    return got


def kinds(*wanted: str) -> Callable[[list[Received]], bool]:
    return lambda got: sorted(r.kind for r in got) == sorted(wanted)


def refusal(url: str, message: str) -> tuple[dict, int | None]:
    """What the channel answers ``message`` with: its frame and the close code."""
    with connect(url, open_timeout=10) as ws:
        ws.send(message)
        outcome = json.loads(ws.recv(timeout=10))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    return outcome, closed.value.rcvd.code if closed.value.rcvd else None


def focus(notification: Received) -> list[str]:
    status = notification.status
    if status["resourceType"] == "Parameters":
        return [part["valueReference"]["reference"] for p in status["parameter"]
                if p["name"] == "notification-event" for part in p["part"]
                if part["name"] == "focus"]
    return [e["focus"]["reference"] for e in status.get("notificationEvent", [])
            if "focus" in e]


def wait_for_count(institution: Institution, id: str, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = institution.get(f"Subscription/{id}/$status").json()["entry"][0]["resource"]
        if int(status["eventsSinceSubscriptionStart"]) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"Subscription/{id} did not reach {count} events")


# -- tests ---------------------------------------------------------------------------------

def test_a_bound_connection_gets_handshakes_then_each_event_in_its_payload_content(
        live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    her = centre.create({"resourceType": "Patient"})
    centre.create(contact(her, WOMENS_CENTRE, "2026-11-01T09:00:00-03:00"))
    patient = f"Patient/{her['id']}"
    ids = {content: subscribe(centre, f"patient={patient}", content=content)
           for content in ("id-only", "full-resource", "empty")}

    token = binding_token(centre, *ids.values())
    assert token["websocket-url"] == f"ws://127.0.0.1:{channel.port}"
    assert token["subscription"] == [f"Subscription/{i}" for i in ids.values()]
    expires = datetime.fromisoformat(token["expiration"])
    assert 0 < (expires - datetime.now(UTC)).total_seconds() <= websocket.TOKEN_TTL_S + 5

    with connect(token["websocket-url"], open_timeout=10) as ws:
        ws.send(f"bind-with-token {token['token']}")
        handshakes = receive(ws, kinds("handshake", "handshake", "handshake"))
        assert {h.status["subscription"]["reference"] for h in handshakes} == \
            {f"{live.base}/Subscription/{i}" for i in ids.values()}
        assert all(h.status["status"] == "active" and
                   h.status["eventsSinceSubscriptionStart"] == "0" for h in handshakes)

        centre.create(assessment(patient, "alto", "2026-11-01"))
        got = receive(ws, kinds(*["event-notification"] * 3))
    by_id = {r.status["subscription"]["reference"].rsplit("/", 1)[1]: r for r in got}
    assert all(r.numbers == [1] and r.status["eventsSinceSubscriptionStart"] == "1"
               for r in got)
    id_only, full, empty = (by_id[ids[c]] for c in ("id-only", "full-resource", "empty"))
    [flag] = focus(id_only)
    assert flag.startswith("Flag/")
    assert [e["fullUrl"] for e in id_only.body["entry"][1:]] == [f"{live.base}/{flag}"]
    assert "resource" not in id_only.body["entry"][1]
    assert focus(full) == [flag]
    resource = full.body["entry"][1]["resource"]
    assert (resource["resourceType"], resource["id"]) == tuple(flag.split("/"))
    assert resource["subject"]["reference"] == patient
    assert focus(empty) == [] and len(empty.body["entry"]) == 1


def test_an_institution_that_cannot_read_the_record_gets_the_event_without_focus(
        live, workers, channel):
    police = Institution(live, POLICE, "THREAT")
    id = subscribe(police)  # every riesgo-alto alert; hers is not on its case
    with bind(police, id) as ws:
        receive(ws, kinds("handshake"))
        case_at_high_risk(Institution(live, WOMENS_CENTRE, "COC"))
        [event] = receive(ws, kinds("event-notification"))
    assert event.numbers == [1]
    assert focus(event) == [] and len(event.body["entry"]) == 1


def test_an_r4_subscriber_gets_the_backport_parameters_shape(live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    id = subscribe(centre, payload=R4_PAYLOAD)
    with bind(centre, id) as ws:
        [handshake] = receive(ws, kinds("handshake"))
        case_at_high_risk(centre)
        [event] = receive(ws, kinds("event-notification"))
    for notification in (handshake, event):
        assert notification.status["resourceType"] == "Parameters"
        assert notification.status["meta"]["profile"] == [STATUS_R4]
    assert event.numbers == [1]
    assert [f.split("/")[0] for f in focus(event)] == ["Flag"]


def test_a_subscriber_that_reconnects_replays_the_missed_events_by_number(
        live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    id = subscribe(centre)
    with bind(centre, id) as ws:
        receive(ws, kinds("handshake"))
        case_at_high_risk(centre)
        [first] = receive(ws, kinds("event-notification"))
    assert first.numbers == [1]

    case_at_high_risk(centre, day="2026-11-02")  # while nobody listens
    wait_for_count(centre, id, 2)
    with bind(centre, id) as ws:
        [handshake] = receive(ws, kinds("handshake"))
        assert handshake.status["eventsSinceSubscriptionStart"] == "2"
        missed = centre.get(f"Subscription/{id}/$events", eventsSinceNumber="2").json()
        replayed = Received("$events", {}, missed)
        assert replayed.kind == "query-event" and replayed.numbers == [2]
        assert len(focus(replayed)) == 1 and focus(replayed) != focus(first)
        case_at_high_risk(centre, day="2026-11-03")
        [third] = receive(ws, kinds("event-notification"))
    assert third.numbers == [3]  # pushed: only what came after the bind


def test_heartbeats_flow_and_a_subscription_turned_off_ends_its_stream(
        live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    id = subscribe(centre, heartbeat=1)
    with bind(centre, id) as ws:
        receive(ws, kinds("handshake"))
        receive(ws, kinds("heartbeat", "heartbeat"), timeout=10)
        current = centre.get(f"Subscription/{id}").json()
        assert centre.put(f"Subscription/{id}", {**current, "status": "off"}).status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            receive(ws, lambda got: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_a_stopping_channel_closes_its_connections_as_going_away(live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    with bind(centre, subscribe(centre)) as ws:
        receive(ws, kinds("handshake"))
        channel.stop(10)
        with pytest.raises(ConnectionClosed) as closed:
            receive(ws, lambda got: False)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001


def test_tokens_that_cannot_bind_are_refused_alike(live, workers, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    id = subscribe(centre)
    url = f"ws://127.0.0.1:{channel.port}"
    ring = live.app.extensions["amparo"].auth.ring
    principal = live.app.extensions["amparo"].auth.verifier.principal(
        centre.headers["Authorization"].removeprefix("Bearer "), live.base)
    expired, _ = websocket.issue(ring, live.base, principal, [id], ttl_s=-60)
    turned_off = binding_token(centre, subscribe(centre))
    current = centre.get(turned_off["subscription"][0]).json()
    assert centre.put(turned_off["subscription"][0],
                      {**current, "status": "off"}).status_code == 200

    answers = [refusal(url, f"bind-with-token {token}") for token in (
        "not-a-token", expired, turned_off["token"],
        centre.headers["Authorization"].removeprefix("Bearer "))]  # an access token
    assert all(code == 1008 for _, code in answers)
    assert all(outcome == answers[0][0] for outcome, _ in answers)
    assert answers[0][0]["resourceType"] == "OperationOutcome"
    assert answers[0][0]["issue"][0]["code"] == "security"
    outcome, code = refusal(url, "hola")
    assert code == 1008 and "bind-with-token" in outcome["issue"][0]["diagnostics"]

    valid = binding_token(centre, id)["token"]  # never an access token either
    answer = centre.get("Subscription", headers={"Authorization": f"Bearer {valid}"})
    assert answer.status_code == 401


def test_the_token_operation_refuses_what_it_cannot_bind(live, receiver, channel):
    centre = Institution(live, WOMENS_CENTRE, "COC")
    police = Institution(live, POLICE, "THREAT")
    hook = centre.create(subscription(TOPIC, receiver.url + "/hook"))
    answer = centre.get(f"Subscription/{hook['id']}/$get-ws-binding-token")
    assert answer.status_code == 422, answer.text

    theirs = subscribe(centre)
    hidden = police.get(f"Subscription/{theirs}/$get-ws-binding-token")
    missing = police.get(f"Subscription/{missing_id()}/$get-ws-binding-token")
    assert hidden.status_code == 404
    assert seen(hidden) == seen(missing)
    typed = police.get("Subscription/$get-ws-binding-token", id=theirs)
    assert typed.status_code == 404

    assert centre.get("Subscription/$get-ws-binding-token").status_code == 400
    assert centre.get(f"Subscription/{theirs}/$get-ws-binding-token",
                      other="x").status_code == 400


def test_the_websocket_url_is_configured_or_follows_the_fhir_base(monkeypatch):
    monkeypatch.delenv(websocket.URL_ENV, raising=False)
    monkeypatch.delenv(websocket.PORT_ENV, raising=False)
    assert websocket.public_url("https://amparo.example/fhir") is None
    monkeypatch.setenv(websocket.PORT_ENV, "0")
    assert websocket.public_url("https://amparo.example/fhir") is None
    monkeypatch.setenv(websocket.PORT_ENV, "8081")
    assert websocket.public_url("https://amparo.example/fhir") == "wss://amparo.example:8081"
    assert websocket.public_url("http://[::1]:8080/fhir") == "ws://[::1]:8081"
    monkeypatch.setenv(websocket.URL_ENV, "wss://ws.amparo.example/suscripciones")
    assert websocket.public_url("https://amparo.example/fhir") == \
        "wss://ws.amparo.example/suscripciones"


# -- every topic ---------------------------------------------------------------------------

ALERT_TOPICS = ("riesgo-alto", "escalamiento", "reincidencia", "agresor-serial",
                "incumplimiento-medida-proteccion", "derivacion-vencida")


def trigger(live, topic: str) -> tuple[Institution, Callable[[], object], str]:
    """(a subscriber to ``topic``, what makes its event happen, the type of the record
    the event is about)."""
    from tests.server.audit.test_recording import AUDITORS
    from tests.server.referrals.referrals import SHELTER, Referral
    from tests.server.subscriptions.test_rest_hook import flag, on_case

    centre = Institution(live, WOMENS_CENTRE, "COC")
    if topic in ALERT_TOPICS:
        her = on_case(centre, WOMENS_CENTRE)
        return centre, lambda: centre.create(flag(her, topic)), "Flag"
    if topic == "derivacion-asignada":
        shelter = Institution(live, SHELTER, "COC")
        referring = Institution(live, WOMENS_CENTRE, "TREAT")
        return shelter, lambda: Referral.new(referring, shelter).send(), "Task"
    if topic == "caso-actualizado":
        return centre, lambda: on_case(centre, WOMENS_CENTRE), "EpisodeOfCare"
    auditor = Institution(live, AUDITORS, "HLEGAL",
                          scope="system/AuditEvent.rs system/Subscription.crus")
    her = on_case(centre, WOMENS_CENTRE)
    hotline = Institution(live, "linea-1455", "BTG", justification="Riesgo vital inminente")
    return auditor, lambda: hotline.get(her), "AuditEvent"


@pytest.mark.parametrize("topic", [*ALERT_TOPICS, "derivacion-asignada", "caso-actualizado",
                                   "acceso-emergencia"])
def test_every_topic_reaches_a_websocket_subscriber(live, workers, channel, topic):
    subscriber, cause, focus_type = trigger(live, topic)
    answer = subscriber.post("Subscription", subscription(topic, None, channel="websocket",
                                                          content="full-resource"))
    assert answer.status_code == 201, answer.text
    with bind(subscriber, answer.json()["id"]) as ws:
        receive(ws, kinds("handshake"))
        cause()
        [note] = receive(ws, kinds("event-notification"))
    assert note.numbers == [1]
    assert note.status["topic"].endswith("/" + topic)
    focus = note.status["notificationEvent"][0]["focus"]["reference"]
    assert focus.startswith(focus_type + "/")
    assert note.body["entry"][1]["resource"]["resourceType"] == focus_type
