"""rest-hook delivery: each subscription's numbered events POSTed to its endpoint, in
order, at least once.

``RestHookDelivery`` is a leased loop (``server/worker.py``): one process at a time
delivers, the others take over when it dies. Per subscription (``Delivery`` in the store):

- ``requested`` (or ``error`` with nothing to send): a handshake notification; a 2xx
  makes it ``active``;
- events numbered beyond ``delivered``: the next ones (up to ``max-count``) in one
  notification; a 2xx moves ``delivered`` on. The store records that after the POST, so
  a process killed in between sends them again (at least once, in order, no gap);
- nothing to send and a heartbeat period: a heartbeat when the period has passed;
- a failure (no 2xx, a timeout, an endpoint no longer allowed) is retried with
  exponential backoff; the subscription is ``error`` meanwhile (its events still
  collect) and ``active`` again after the next success, or ``off`` when it has failed
  for ``off_after`` seconds.

A notification that names records (``id-only``, ``full-resource``) discloses them to the
subscriber's institution, so its delivery is audited like a read by that institution.

A websocket subscription is not delivered here: its connections read the event log
themselves (``websocket.py``), so its ``delivered`` just follows ``count``.

Nothing about a notification's content is logged (only the subscription id, the HTTP
status or the exception's class): bodies carry survivors' data and headers carry the
subscribers' secrets.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

import httpx
import orjson

from server import clock
from server.access import ANONYMOUS
from server.audit import trail
from server.repository import Write
from server.store import Delivery, Lease, Store
from server.subscriptions import endpoints
from server.subscriptions.notification import bundle, disclosure
from server.subscriptions.subscription import Spec, spec
from server.validation import validate
from server.worker import LeasedLoop

if TYPE_CHECKING:
    from server.repository import Repository

log = logging.getLogger("amparo.subscriptions")

LEASE = "subscriptions-delivery"
PARKED = 2 ** 62  # due_us of a subscription with nothing timed to do
_SECOND = 1_000_000


class RestHookDelivery(LeasedLoop):
    """The delivery loop; ``base`` is the FHIR base URL notifications name records by."""

    def __init__(self, store: Store, repo: Repository, base: str, off_after: float,
                 retry_base: float = 1.0, retry_max: float = 300.0, owner: str | None = None,
                 ttl_seconds: float = 10, batch: int = 50, idle_seconds: float = 0.05):
        super().__init__(store, LEASE, owner, ttl_seconds, batch, idle_seconds)
        self.repo = repo
        self.base = base.rstrip("/")
        self.off_after_us = int(off_after * _SECOND)
        self.retry_base, self.retry_max = retry_base, retry_max
        self.http = httpx.Client(follow_redirects=False)

    def run_once(self) -> int:
        lease = self._hold()
        if lease is None:
            return 0
        due = self.store.due_deliveries(clock.now()[1], self.batch)
        for delivery in due:
            if self._stopping.is_set():
                break
            self._serve(delivery, lease)
        return len(due)

    # -- one subscription ----------------------------------------------------------------

    def _serve(self, delivery: Delivery, lease: Lease) -> None:
        stored = self.store.read("Subscription", delivery.subscription)
        resource = orjson.loads(stored.body) if stored and not stored.deleted else None
        sub = spec(resource) if resource else None
        now = clock.now()[1]
        if sub is not None and _ended(resource, now) and sub.status != "off":
            self._record(lease, delivery, resource, "off", "La suscripción llegó a su fin.")
            return
        if sub is None or sub.status == "off" or sub.channel != "rest-hook":
            self._record(lease, replace(delivery, delivered=delivery.count, due_us=PARKED),
                         resource)
            return
        if sub.status == "requested" or (sub.status == "error"
                                         and delivery.count <= delivery.delivered):
            # (in error with nothing to send, the handshake is the probe of the endpoint)
            kind, events, delivered = "handshake", [], delivery.count
        elif delivery.count > delivery.delivered:
            kind = "event-notification"
            events = self.store.notifications(sub.id, delivery.delivered, sub.max_count)
            delivered = events[-1].number if events else delivery.count
        elif sub.heartbeat and delivery.due_us <= now:
            kind, events, delivered = "heartbeat", [], delivery.delivered
        else:
            self._record(lease, replace(delivery, due_us=self._next(sub, now)), resource)
            return
        body = bundle(self.repo.gate, self.store, sub, kind, events, delivery, self.base)
        if self._post(sub, kind, body):
            self._succeeded(lease, delivery, resource, sub, delivered,
                            disclosure(self.store, sub, body))
        else:
            self._failed(lease, delivery, resource, sub)

    def _post(self, sub: Spec, kind: str, body: dict) -> bool:
        """POST one notification; whether the endpoint took it (a 2xx)."""
        if reason := endpoints.refusal(sub.endpoint or ""):
            log.warning("subscription %s: endpoint refused (%s)", sub.id, reason)
            return False
        headers = {"Content-Type": sub.payload, **dict(sub.headers)}
        try:
            response = self.http.post(sub.endpoint, content=orjson.dumps(body),
                                      headers=headers, timeout=sub.timeout)
        except httpx.HTTPError as exc:
            log.warning("subscription %s: %s failed (%s)", sub.id, kind, type(exc).__name__)
            return False
        if not 200 <= response.status_code < 300:
            log.warning("subscription %s: %s answered %d", sub.id, kind,
                        response.status_code)
            return False
        return True

    def _succeeded(self, lease: Lease, delivery: Delivery, resource: dict, sub: Spec,
                   delivered: int, audit: dict | None) -> None:
        now = clock.now()[1]
        state = replace(delivery, delivered=max(delivered, delivery.delivered),
                        failing_since_us=None, attempts=0, due_us=self._next(sub, now))
        status = "active" if sub.status in ("requested", "error") else None
        self._record(lease, state, resource, status, audit=audit)

    def _failed(self, lease: Lease, delivery: Delivery, resource: dict, sub: Spec) -> None:
        now = clock.now()[1]
        since = delivery.failing_since_us or now
        attempts = delivery.attempts + 1
        if now - since >= self.off_after_us:
            self._record(lease, replace(delivery, due_us=PARKED), resource, "off",
                         "El endpoint no respondió durante el plazo; suscripción apagada.")
            return
        wait = min(self.retry_base * 2 ** (attempts - 1), self.retry_max)
        state = replace(delivery, failing_since_us=since, attempts=attempts,
                        due_us=now + int(wait * _SECOND))
        status = "error" if sub.status != "error" else None
        self._record(lease, state, resource, status,
                     "El endpoint no confirmó la entrega; se reintenta." if status else None)

    def _record(self, lease: Lease, state: Delivery, resource: dict | None = None,
                status: str | None = None, error: str | None = None,
                audit: dict | None = None) -> None:
        """The new delivery state and, when it changes, the subscription's status (and the
        AuditEvent of what a notification disclosed), in one unit of work that still
        holds the lease (fencing: a process that lost it writes nothing)."""
        with self.store.unit_of_work() as uow:
            uow.ack(LEASE, 0, lease)
            if audit is not None:
                trail.append(uow, audit, clock.now())
            current = uow.delivery(state.subscription)
            if current is not None:  # events numbered meanwhile stay counted
                state = replace(state, count=current.count)
            latest = uow.read("Subscription", state.subscription)
            if resource is not None and latest is not None \
                    and latest.version != int(resource["meta"]["versionId"]):
                # changed meanwhile by its subscriber (asked again, switched off): its
                # status stays as written and the next round looks at it at once
                state, status = replace(state, due_us=0), None
            uow.set_delivery(state)
            if status is not None and resource is not None and latest is not None:
                changed = {**resource, "status": status}
                if error:
                    changed["error"] = error
                else:
                    changed.pop("error", None)
                w = Write(uow, ANONYMOUS, clock.now())
                self.repo.update(w, "Subscription", changed["id"],
                                 validate(changed, "Subscription",
                                          profiles=self.repo.profiles))
            uow.commit()

    def _next(self, sub: Spec, now: int) -> int:
        return now + sub.heartbeat * _SECOND if sub.heartbeat else PARKED

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        self.http.close()


def _ended(resource: dict, now: int) -> bool:
    end = resource.get("end")
    at = clock.parse_instant(end) if isinstance(end, str) else None
    return at is not None and at <= now
