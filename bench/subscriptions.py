#!/usr/bin/env python3
"""Notification latency benchmark (issue 8): from the commit of a high-risk assessment
to its notification arriving at a rest-hook receiver, under background writes.

Target: with 200 writes/s of background load, p99 <= 1 second.

What runs: ``amparo serve`` (production workers, a fresh SQLite store, profiles
``strict``) with a client per institution registered before it is served (``amparo
init``, then ``server.auth.clients.register``, as ``core.journeys_clients`` does); a
webhook receiver on 127.0.0.1 (stdlib ``ThreadingHTTPServer``, allowed through
``AMPARO_SUBSCRIPTION_ENDPOINTS``) that notes the arrival time (``time.time()``) of
each notification as soon as its body is read, and answers 200 before looking at it.

1. Setup, before any load: the women's centre (``centro-de-la-mujer-13101``, purpose
   COC) meets ``--samples`` fresh survivors (a Patient and a contact Encounter each, so
   that it is on their cases and may read their alerts); the hotline (``linea-1455``,
   TREAT) meets ``--survivors`` others. The centre subscribes to the ``riesgo-alto``
   topic (one Subscription, no filter: what a centre would do; rest-hook,
   ``full-resource``) and the benchmark waits for the handshake to make it active.
2. Background: ``--rate`` writes/s, open loop (slot k is due at start + k / rate;
   ``--concurrency`` threads take the slots in turn and send each when it is due, late
   when all are busy), each a create by the hotline about one of its survivors in turn:
   a contact Encounter, a RiskAssessment at ``bajo``, a violence incident (Observation),
   another contact. Each is an early-warning trigger, so the engine reads her facts and
   reconciles her alerts for every one of them, but none raises an alert: her level
   stays ``bajo`` (no escalation, no high risk) and her incidents fall within 72 hours
   of each other (one fact, no recurrence), as most of a day's records do. The
   achieved rate (2xx creates per second of load) is printed: on a machine that cannot
   sustain ``--rate`` it says so.
3. After ``--warmup`` seconds, every ``--interval`` seconds the centre writes a PUIR
   assessment at ``vital-alto`` for the next of its survivors. Its commit instant is
   the ``meta.lastUpdated`` of the 201 (the server's clock on this machine; stamped when
   the write begins, a few milliseconds before the commit, so the latency is slightly
   overstated). Early warning raises her ``riesgo-alto`` alert (Flag), the matcher
   numbers it for the subscription, the delivery loop POSTs it. Each survivor gets one
   assessment, so the notified Flag's subject says which assessment it answers.
4. The load goes on until every notification has arrived or ``--drain`` seconds after
   the last sample; a missing one counts as an infinite latency.

Printed: one JSON line (latency n, p50/p90/p99/max in ms, its two stages: assessment
to Flag written, by early warning; Flag written to arrival, by matching and delivery;
the background target, achieved rate and errors; the cores server and client used
during the load) and a summary. The client (load, samples and receiver) shares the
machine's two cores with the server.

``--per-request N`` sends the background as transaction bundles of N records about one
survivor (a contact and what was recorded at it, as institutions send them): the rate
stays in writes (resources) per second. One create per request is the default and the
harder case: on this machine it is bounded by SQLite's commits (fsync of the WAL).

Usage: python bench/subscriptions.py [--samples 100] [--interval 0.5] [--rate 200]
       [--per-request 1] [--concurrency 8] [--survivors 300] [--warmup 3] [--drain 15]
       [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from core import amparo, free_port, server_cpu, start_server, stop  # bench/ is on sys.path
from fhir_workload import FhirConnection, Response, percentile
from journeys import ClientToken, access_token

CENTRE = "centro-de-la-mujer-13101"  # the subscriber, on the samples' cases
HOTLINE = "linea-1455"  # writes the background load
PURPOSES = {CENTRE: "COC", HOTLINE: "TREAT"}
TOPIC = "https://fhir.amparo.cl/SubscriptionTopic/riesgo-alto"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
ENDPOINTS_ENV = "AMPARO_SUBSCRIPTION_ENDPOINTS"  # server/subscriptions/endpoints.py
CS = "https://fhir.amparo.cl/CodeSystem/"
SD = "https://fhir.amparo.cl/StructureDefinition/"


# -- the records ---------------------------------------------------------------------------

def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def survivor(n: int) -> dict:
    return {"resourceType": "Patient", "gender": "female",
            "name": [{"family": "Reservada", "given": [f"Bench{n}"]}]}


def contact(her: str, org: str, kind: str) -> dict:
    return {"resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB"},
            "type": [{"coding": [{"system": CS + "tipo-contacto", "code": kind}]}],
            "subject": {"reference": her}, "period": {"start": now(), "end": now()},
            "serviceProvider": {"reference": f"Organization/{org}"}}


def assessment(her: str, level: str) -> dict:
    """A PUIR assessment (levels bajo, medio, vital-alto) at the level it gave."""
    coding = {"system": CS + "nivel-riesgo", "code": level}
    return {"resourceType": "RiskAssessment", "status": "final",
            "extension": [{"url": SD + "ext-nivel-instrumento", "valueCoding": coding}],
            "method": {"coding": [{"system": CS + "instrumento-riesgo", "code": "puir"}]},
            "subject": {"reference": her}, "occurrenceDateTime": now(),
            "prediction": [{"qualitativeRisk": {"coding": [coding]}}]}


def incident(her: str, org: str) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "social-history"}]}],
            "performer": [{"reference": f"Organization/{org}"}],
            "code": {"coding": [{"system": CS + "observacion-vcm",
                                 "code": "incidente-violencia"}]},
            "subject": {"reference": her}, "effectiveDateTime": now(),
            "component": [{"code": {"coding": [{"system": CS + "formas-violencia",
                                                "code": "psicologica"}]},
                           "valueBoolean": True}]}


def ordinary(her: str, turn: int) -> dict:
    """The background's ``turn``-th write about her."""
    match turn % 4:
        case 0:
            return contact(her, HOTLINE, "llamada-1455")
        case 1:
            return assessment(her, "bajo")
        case 2:
            return incident(her, HOTLINE)
        case _:
            return contact(her, HOTLINE, "llamada-1455")


def subscription(endpoint: str) -> dict:
    content = {"url": BACKPORT + "backport-payload-content", "valueCode": "full-resource"}
    return {"resourceType": "Subscription", "status": "requested",
            "reason": "Alertas de riesgo alto de sus casos", "criteria": TOPIC,
            "channel": {"type": "rest-hook", "endpoint": endpoint,
                        "payload": "application/fhir+json",
                        "_payload": {"extension": [content]}}}


# -- the clients ---------------------------------------------------------------------------

def register_clients(store: str) -> dict[str, dict[str, str]]:
    """``amparo init`` on ``store``, then a client per institution of ``PURPOSES``."""
    from server.auth.clients import register  # the venv's Amparo, as ``amparo()`` is
    from server.store import open_store

    subprocess.run([amparo(), "init"], capture_output=True, check=True,
                   env={**os.environ, "AMPARO_STORE": store})
    opened = open_store(store)
    try:
        return {org: register(opened, org, f"benchmark {org}", ["system/*.cruds"],
                              [purpose]).credentials() for org, purpose in PURPOSES.items()}
    finally:
        opened.close()


class Institution:
    """One institution's client: its token, a keep-alive connection per thread."""

    def __init__(self, base: str, credentials: dict[str, str]):
        self.base = base
        self.token = ClientToken(lambda: access_token(base, credentials["client_id"],
                                                      credentials["client_secret"]))
        self._local = threading.local()

    def request(self, method: str, path: str, body: Any = None) -> Response:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = FhirConnection(self.base, self.token, 30.0, {})
        return conn.request(method, path, body)

    def create(self, resource: dict) -> dict:
        """The created resource; setup stops on anything but 201."""
        answer = self.request("POST", resource["resourceType"], resource)
        if answer.status != 201:
            raise SystemExit(f"{resource['resourceType']} answered {answer.status}: "
                             f"{answer.body[:500]!r}")
        return answer.json()


def meet(institution: Institution, org: str, kind: str, count: int, first: int) -> list[str]:
    """``count`` new survivors, each met once by ``org`` (on her case); their references."""
    def one(n: int) -> str:
        her = f"Patient/{institution.create(survivor(n))['id']}"
        institution.create(contact(her, org, kind))
        return her
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(first, first + count)))


# -- the receiver --------------------------------------------------------------------------

class Receiver:
    """The subscriber's webhook on 127.0.0.1: when each survivor's alert arrived."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrived: dict[str, tuple[float, dict]] = {}  # Patient ref -> (time, Flag)
        self.numbers: list[int] = []
        self.handshakes = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.note(at, json.loads(body))

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def note(self, at: float, bundle: dict) -> None:
        status = bundle["entry"][0]["resource"]
        with self.lock:
            if status["type"] == "handshake":
                self.handshakes += 1
            if status["type"] != "event-notification":
                return
            self.numbers += [int(e["eventNumber"]) for e in status["notificationEvent"]]
            for entry in bundle["entry"][1:]:
                flag = entry.get("resource") or {}
                if flag.get("resourceType") == "Flag":
                    self.arrived.setdefault(flag["subject"]["reference"], (at, flag))

    def has(self, survivors: list[str]) -> bool:
        with self.lock:
            return all(her in self.arrived for her in survivors)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the background load -------------------------------------------------------------------

class Load:
    """Open-loop background writes: slot k is due at start + k / rate; ``concurrency``
    threads take the slots in order and send each once it is due (late when all of them
    are busy: the achieved rate then falls short, which ``stop`` reports)."""

    def __init__(self, writer: Institution, survivors: list[str], rate: float,
                 concurrency: int, per_request: int = 1):
        self.writer, self.survivors, self.rate = writer, survivors, rate
        self.concurrency = concurrency
        self.per_request = per_request  # writes per request: a transaction above 1
        self.lock = threading.Lock()
        self.next_slot = 0
        self.ok, self.errors, self.first_error = 0, 0, ""
        self.latencies_ms: list[float] = []
        self.late_ms: list[float] = []
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.started = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(self.concurrency)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while True:
            with self.lock:
                slot, self.next_slot = self.next_slot, self.next_slot + 1
            due = self.started + slot * self.per_request / self.rate
            if self.stopping.wait(max(0.0, due - time.monotonic())):
                return
            her = self.survivors[slot % len(self.survivors)]
            sent = time.monotonic()
            turn = slot // len(self.survivors) * self.per_request
            records = [ordinary(her, turn + n) for n in range(self.per_request)]
            try:
                if self.per_request == 1:
                    answer = self.writer.request("POST", records[0]["resourceType"], records[0])
                    expected = 201
                else:  # the records of one contact, as an institution sends them
                    answer = self.writer.request("POST", "", {
                        "resourceType": "Bundle", "type": "transaction",
                        "entry": [{"resource": r, "request": {
                            "method": "POST", "url": r["resourceType"]}} for r in records]})
                    expected = 200
                failed = "" if answer.status == expected else \
                    f"{answer.status} {answer.body[:300]!r}"
            except Exception as exc:  # counted; the load goes on
                failed = type(exc).__name__
            done = time.monotonic()
            with self.lock:
                self.late_ms.append((sent - due) * 1000)
                if failed:
                    self.errors += 1
                    self.first_error = self.first_error or failed
                else:
                    self.ok += self.per_request
                    self.latencies_ms.append((done - sent) * 1000)

    def stop(self) -> dict:
        self.stopping.set()
        elapsed = time.monotonic() - self.started
        for thread in self.threads:
            thread.join(60)
        latencies, late = sorted(self.latencies_ms), sorted(self.late_ms)
        return {"background_target_s": self.rate, "background_per_request": self.per_request,
                "background_writes_s": round(self.ok / elapsed, 1),
                "background_writes": self.ok, "background_errors": self.errors,
                "background_p50_ms": percentile(latencies, 50),
                "background_p99_ms": percentile(latencies, 99),
                "background_late_p99_ms": percentile(late, 99),
                **({"background_first_error": self.first_error} if self.errors else {})}


# -- the run -------------------------------------------------------------------------------

def instant(text: str) -> float:
    """Seconds since the epoch of a FHIR instant."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_active(centre: Institution, id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = centre.request("GET", f"Subscription/{id}")
        if answer.status == 200 and answer.json()["status"] == "active":
            return
        time.sleep(0.1)
    raise SystemExit("the subscription never became active (no handshake)")


def high_risk(centre: Institution, survivors: list[str], interval: float,
              start: float) -> tuple[dict[str, float], int]:
    """A vital-alto assessment for each survivor, one every ``interval`` seconds from
    ``start`` (monotonic); their commit instants (``meta.lastUpdated``) by survivor, and
    how many writes failed."""
    committed, errors = {}, 0
    for n, her in enumerate(survivors):
        time.sleep(max(0.0, start + n * interval - time.monotonic()))
        try:
            answer = centre.request("POST", "RiskAssessment", assessment(her, "vital-alto"))
        except Exception:  # counted
            errors += 1
            continue
        if answer.status != 201:
            errors += 1
            continue
        committed[her] = instant(answer.json()["meta"]["lastUpdated"])
    return committed, errors


def figures(name: str, values: list[float], quantiles: tuple[int, ...]) -> dict:
    """Nearest-rank percentiles in ms (None: beyond the drain, a missing notification)."""
    ordered = sorted(values)
    out = {}
    for q in quantiles:
        value = percentile(ordered, q)
        out[f"{name}p{q}_ms" if q < 100 else f"{name}max_ms"] = \
            None if value is None or math.isinf(value) else value
    return out


def latencies(receiver: Receiver, committed: dict[str, float]) -> dict:
    """Commit to arrival (a missing notification: infinite), and its two stages: commit
    to the Flag's ``meta.lastUpdated`` (early warning), Flag to arrival (matching and
    delivery)."""
    total, alert, delivery = [], [], []
    with receiver.lock:
        arrived = dict(receiver.arrived)
        numbers = list(receiver.numbers)
    for her, at in committed.items():
        if her not in arrived:
            total.append(math.inf)
            continue
        came, flag = arrived[her]
        raised = instant(flag["meta"]["lastUpdated"])
        total.append((came - at) * 1000)
        alert.append((raised - at) * 1000)
        delivery.append((came - raised) * 1000)
    return {"n": len(committed), "received": len(total) - total.count(math.inf),
            "missing": total.count(math.inf),
            **figures("", total, (50, 90, 99, 100)),
            **figures("alert_", alert, (50, 99)), **figures("delivery_", delivery, (50, 99)),
            "events": len(numbers), "redelivered_events": len(numbers) - len(set(numbers))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="high-risk assessments")
    parser.add_argument("--interval", type=float, default=0.5,
                        help="seconds between two high-risk assessments")
    parser.add_argument("--rate", type=float, default=200.0, help="background writes/s")
    parser.add_argument("--per-request", type=int, default=1,
                        help="background writes per request: above 1, a transaction "
                             "bundle of that many records about one survivor")
    parser.add_argument("--concurrency", type=int, default=8,
                        help="threads sending the background writes")
    parser.add_argument("--survivors", type=int, default=300,
                        help="the background's survivors (its writes go round them)")
    parser.add_argument("--warmup", type=float, default=3.0,
                        help="seconds of background load before the first sample")
    parser.add_argument("--drain", type=float, default=15.0,
                        help="seconds to wait for notifications after the last sample")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    began = time.monotonic()
    receiver = Receiver()
    # the served process inherits both: the receiver's URL is allowed (loopback is
    # refused otherwise), and no websocket channel is bound (none is used here)
    os.environ[ENDPOINTS_ENV] = receiver.url + "/"
    os.environ["AMPARO_WS_PORT"] = "0"
    try:
        with tempfile.TemporaryDirectory(prefix="amparo-subscriptions-") as tmp:
            store = f"sqlite:///{Path(tmp) / 'bench.db'}"
            credentials = register_clients(store)
            port = free_port()
            base = f"http://127.0.0.1:{port}/fhir"
            proc = start_server(store, port, args.workers, args.threads,
                                Path(tmp) / "server.log", "strict")
            try:
                line = run(args, base, credentials, receiver, lambda: server_cpu(proc))
            finally:
                stop(proc)
    finally:
        receiver.close()
    line["client_cpu_s"] = round(time.process_time(), 1)
    line["run_s"] = round(time.monotonic() - began, 1)
    print(json.dumps(line), flush=True)
    p99 = (f"{line['p99_ms']:.0f} ms" if line["p99_ms"] is not None
           else f"over {args.drain:.0f} s ({line['missing']} of {line['n']} not received)")
    print(f"\n# commit of a high-risk assessment -> notification at the receiver "
          f"({line['n']} samples, SQLite, production workers; the client shares the cores)")
    print(f"p50 {line['p50_ms']} ms  p90 {line['p90_ms']} ms  max {line['max_ms']} ms; "
          f"early warning p50 {line['alert_p50_ms']} ms, matching + delivery p50 "
          f"{line['delivery_p50_ms']} ms")
    print(f"background {line['background_writes_s']:.0f} writes/s achieved (target "
          f"{args.rate:.0f}), {line['background_errors']} errors; samples "
          f"{line['sample_errors']} errors")
    print(f"p99 {p99} (target <= 1000 ms)")


def run(args: argparse.Namespace, base: str, credentials: dict[str, dict[str, str]],
        receiver: Receiver, cpu: Callable[[], float]) -> dict:
    """Setup, then the load with the samples; the result line. ``cpu``: the server's CPU
    seconds so far."""
    centre = Institution(base, credentials[CENTRE])
    hotline = Institution(base, credentials[HOTLINE])
    samples = meet(centre, CENTRE, "ingreso-cdm", args.samples, 0)
    others = meet(hotline, HOTLINE, "llamada-1455", args.survivors, args.samples)
    sub = centre.create(subscription(receiver.url + "/alertas"))
    wait_active(centre, sub["id"])
    load = Load(hotline, others, args.rate, args.concurrency, args.per_request)
    server_before, client_before, started = cpu(), time.process_time(), time.monotonic()
    load.start()
    try:
        committed, errors = high_risk(centre, samples, args.interval,
                                      time.monotonic() + args.warmup)
        deadline = time.monotonic() + args.drain
        while not receiver.has(list(committed)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        background = load.stop()
    seconds = time.monotonic() - started
    cores = {"load_s": round(seconds, 1),
             "server_cores": round((cpu() - server_before) / seconds, 2),
             "client_cores": round((time.process_time() - client_before) / seconds, 2)}
    return {"benchmark": "subscription-latency", **latencies(receiver, committed),
            "sample_errors": errors, **background,
            "errors": errors + background["background_errors"],
            **cores, "workers": args.workers, "threads": args.threads}


if __name__ == "__main__":
    main()
