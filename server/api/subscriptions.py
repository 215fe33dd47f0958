"""``Subscription/[id]/$status`` and ``Subscription/[id]/$events`` (Subscriptions Backport
IG): where a subscription stands, and its events again by number (a subscriber that
missed some, or that reads a websocket and lost the connection, asks for them here).

See: https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-status.html
and https://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition-backport-subscription-events.html

The subscription is read like a read (hidden is 404, like missing); the events' records
are shown as the caller may see them (``server/subscriptions/notification.py``). An R4
client (``fhirVersion=4.0``) gets the Backport IG's R4 shapes. Both need ``r`` on
Subscription.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from server import errors
from server.api.router import Context, FhirRequest, FhirResponse, route
from server.api.versions import R4
from server.subscriptions.notification import bundle
from server.subscriptions.subscription import CONTENTS, FHIR_JSON, Spec, spec

MAX_EVENTS = 1000  # events in one $events answer, at most


@route("GET", "Subscription/:id/$status", None, "instance")
def status(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    _only(req, ())
    sub = _subscription(ctx, id)
    delivery = ctx.repo.store.delivery(id)
    answer = bundle(ctx.repo.gate, ctx.repo.store, sub, "query-status", [], delivery,
                    ctx.base_url, bundle_type="searchset", principal=ctx.principal)
    answer["total"] = 1
    return FhirResponse(200, orjson.dumps(answer))


@route("GET", "Subscription/:id/$events", None, "instance")
def events(ctx: Context, req: FhirRequest, id: str) -> FhirResponse:
    _only(req, ("eventsSinceNumber", "eventsUntilNumber", "content"))
    sub = _subscription(ctx, id)
    delivery = ctx.repo.store.delivery(id)
    count = delivery.count if delivery is not None else 0
    since = _number(req, "eventsSinceNumber", 1)
    until = min(_number(req, "eventsUntilNumber", count), count, since + MAX_EVENTS - 1)
    content = _param(req, "content") or sub.content
    if content not in CONTENTS:
        raise errors.invalid(f"content must be one of {', '.join(CONTENTS)}")
    found = ctx.repo.store.notifications(id, since - 1, max(until - since + 1, 0)) \
        if until >= since else []
    answer = bundle(ctx.repo.gate, ctx.repo.store, sub, "query-event", found, delivery,
                    ctx.base_url, content=content, principal=ctx.principal)
    return FhirResponse(200, orjson.dumps(answer))


def _subscription(ctx: Context, id: str) -> Spec:
    sub = spec(orjson.loads(ctx.repo.read(ctx.principal, "Subscription", id,
                                          ctx.reader).body))
    if ctx.version == R4:  # the shapes the caller negotiated, not those of its channel
        return replace(sub, payload=f"{FHIR_JSON}; fhirVersion=4.0")
    return replace(sub, payload=FHIR_JSON)


def _only(req: FhirRequest, allowed: tuple[str, ...]) -> None:
    unknown = sorted({name for name, _ in req.params} - {"_format", "_pretty", *allowed})
    if unknown:
        raise errors.invalid(f"unknown parameters: {', '.join(unknown)[:100]}")


def _number(req: FhirRequest, name: str, default: int) -> int:
    value = _param(req, name)
    if value is None:
        return default
    if not value.isdigit() or len(value) > 18:
        raise errors.invalid(f"{name} must be a non-negative integer")
    return int(value)


def _param(req: FhirRequest, name: str) -> str | None:
    values = [v for k, v in req.params if k == name]
    if len(values) > 1:
        raise errors.invalid(f"{name} may be given once")
    return values[0] if values else None
