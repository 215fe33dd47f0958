"""Fixtures of the subscription tests: the access tests' live server (the institutions
``amparo init`` loads), a real webhook receiver on 127.0.0.1, and the real background
workers a served process runs (early warning, topic matching, rest-hook delivery) as
threads on the live server's store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from server.subscriptions.break_glass import BreakGlassWatch
from server.subscriptions.delivery import RestHookDelivery
from server.subscriptions.endpoints import ENV
from server.subscriptions.matching import Matcher
from server.warnings.engine import EarlyWarning
from server.worker import OutboxWorker
from tests.server.access.conftest import live  # noqa: F401 (the fixture)

SUBSCRIPTION_TOPIC = "https://fhir.amparo.cl/SubscriptionTopic/"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict

    @property
    def status(self) -> dict:
        """The notification's SubscriptionStatus (R4B) or its R4 Parameters."""
        return self.body["entry"][0]["resource"]

    @property
    def kind(self) -> str:
        status = self.status
        if status["resourceType"] == "Parameters":
            return next(p["valueCode"] for p in status["parameter"] if p["name"] == "type")
        return status["type"]

    @property
    def numbers(self) -> list[int]:
        status = self.status
        if status["resourceType"] == "Parameters":
            return [int(part["valueString"]) for p in status["parameter"]
                    if p["name"] == "notification-event" for part in p["part"]
                    if part["name"] == "event-number"]
        return [int(e["eventNumber"]) for e in status.get("notificationEvent", [])]


@dataclass
class Receiver:
    """A webhook endpoint: records every POST; answers ``status`` (503: down)."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0  # seconds each answer takes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, predicate: Callable[[list[Received]], bool], timeout: float = 15.0
             ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = list(self.received)
            if predicate(got):
                return got
            time.sleep(0.02)
        raise AssertionError(f"not received in {timeout}s: {[r.kind for r in got]}")

    def events(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.kind == "event-notification"
                    and (path is None or r.path == path)]


@pytest.fixture
def receiver(monkeypatch) -> Iterator[Receiver]:
    state: dict = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec: Receiver = state["receiver"]
            time.sleep(rec.delay)
            if rec.status < 300:
                with rec.lock:
                    rec.received.append(Received(self.path, dict(self.headers),
                                                 orjson.loads(body)))
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    state["receiver"] = Receiver(url)
    monkeypatch.setenv(ENV, url + "/")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


@dataclass
class Workers:
    """The background workers of a served process, on the live server's store."""

    threads: list
    delivery: RestHookDelivery

    def stop(self) -> None:
        for worker in self.threads:
            worker.stop(10)


def start_workers(live, retry_base: float = 0.1, off_after: float = 3600) -> Workers:  # noqa: F811
    amparo = live.app.extensions["amparo"]
    suffix = uuid.uuid4().hex[:8]
    threads = [
        OutboxWorker(amparo.store, f"early-warning-{suffix}", EarlyWarning(amparo.repo),
                     idle_seconds=0.05),
        OutboxWorker(amparo.store, f"subscriptions-{suffix}", Matcher(), idle_seconds=0.05),
        BreakGlassWatch(amparo.store, f"break-glass-{suffix}", idle_seconds=0.05),
    ]
    delivery = RestHookDelivery(amparo.store, amparo.repo, live.base, off_after,
                                retry_base=retry_base, retry_max=1.0, idle_seconds=0.02)
    threads.append(delivery)
    for worker in threads:
        worker.start()
    return Workers(threads, delivery)


@pytest.fixture
def workers(live) -> Iterator[Workers]:  # noqa: F811
    running = start_workers(live)
    yield running
    running.stop()


def subscription(topic: str, endpoint: str | None, *filters: str,
                 content: str = "id-only", channel: str = "rest-hook",
                 payload: str = "application/fhir+json", headers: tuple[str, ...] = (),
                 heartbeat: int | None = None) -> dict:
    content_ext = {"url": BACKPORT + "backport-payload-content", "valueCode": content}
    channel_element: dict = {"type": channel, "payload": payload,
                             "_payload": {"extension": [content_ext]}}
    if endpoint:
        channel_element["endpoint"] = endpoint
    if headers:
        channel_element["header"] = list(headers)
    if heartbeat:
        channel_element["extension"] = [{"url": BACKPORT + "backport-heartbeat-period",
                                         "valueUnsignedInt": heartbeat}]
    body: dict = {"resourceType": "Subscription", "status": "requested",
                  "reason": "Prueba", "criteria": SUBSCRIPTION_TOPIC + topic,
                  "channel": channel_element}
    if filters:
        body["_criteria"] = {"extension": [{"url": BACKPORT + "backport-filter-criteria",
                                            "valueString": f} for f in filters]}
    return body
