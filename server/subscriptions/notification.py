"""Notification bundles as the Subscriptions Backport IG shapes them: a ``history`` Bundle
whose first entry is the subscription's status (R4B's SubscriptionStatus, or the
Backport IG's ``backport-subscription-status-r4`` Parameters for a subscriber that asked
for R4), followed by the events' focus records as the payload content says.

See: https://hl7.org/fhir/uv/subscriptions-backport/notifications.html

What the subscriber may see decides what each event carries. Its institution reads
through the consent model like on any request (``Spec.subscriber``): a record it may
read goes as a reference (``id-only``) or whole (``full-resource``, redacted where a
permit says so); a record it may not read leaves the event with its number and time
only, so the notification says that something happened and nothing about what or whom.
A notification that names records discloses them: ``disclosure`` is its AuditEvent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import orjson

from server import clock
from server.access import Principal, survivor_of
from server.api.versions import R4, check_servable
from server.audit.events import Interaction, audit_event
from server.errors import FhirError
from server.store import Delivery, Notification, Store
from server.subscriptions.subscription import Spec

if TYPE_CHECKING:
    from server.access import AccessGate

STATUS_R4 = ("http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
             "backport-subscription-status-r4")


def bundle(gate: AccessGate, reader: Store, sub: Spec, kind: str,
           events: Iterable[Notification], delivery: Delivery | None, base: str,
           content: str | None = None, bundle_type: str = "history",
           principal: Principal | None = None) -> dict:
    """A notification (``kind``: handshake, heartbeat, event-notification,
    query-status, query-event) of ``events`` for ``sub``, its records shown as
    ``principal`` (default: the subscriber) may see them. ``content`` overrides the
    subscription's payload content (``$events``)."""
    content = content or sub.content
    principal = principal or sub.subscriber
    status_events, entries = [], []
    for event in events:
        item: dict = {"eventNumber": str(event.number),
                      "timestamp": _instant(event.at_us)}
        if content != "empty" and \
                (shown := _shown(gate, reader, principal, sub.r4, event)) is not None:
            reference, resource = shown
            item["focus"] = {"reference": reference}
            entry: dict = {"fullUrl": f"{base}/{reference}"}
            if content == "full-resource":
                entry["resource"] = resource
            version = resource.get("meta", {}).get("versionId", "1")
            entry["request"] = {"method": "POST" if version == "1" else "PUT",
                                "url": reference}
            entry["response"] = {"status": "201" if version == "1" else "200"}
            entries.append(entry)
        status_events.append(item)
    count = delivery.count if delivery is not None else 0
    status = _status(sub, kind, count, status_events, base)
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": bundle_type,
            "timestamp": clock.now()[0],
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": status,
                       **({"request": {"method": "GET",
                                       "url": f"Subscription/{sub.id}/$status"},
                           "response": {"status": "200"}} if bundle_type == "history"
                          else {"search": {"mode": "match"}})},
                      *entries]}


def disclosure(store: Store, sub: Spec, notification: dict) -> dict | None:
    """The AuditEvent of a notification that names records to its subscriber (None when
    it names none): recorded like a read of those records by the subscriber's institution,
    for its purpose (``client``: the subscription), about the survivor of the first."""
    named = [e["request"]["url"] for e in notification["entry"][1:]]
    if not named:
        return None
    type, id = named[0].split("/")[:2]
    found = store.read(type, id) if type != "AuditEvent" else None
    patient = survivor_of(orjson.loads(found.body)) if found and not found.deleted else None
    return audit_event(Interaction("operation", tuple(named), patient),
                       recorded=clock.now()[0], permitted=True,
                       client_id=f"Subscription/{sub.id}", institution=sub.institution,
                       purpose=sub.purpose, basis=("subscription",))


def _shown(gate: AccessGate, reader: Store, principal: Principal, r4: bool,
           event: Notification) -> tuple[str, dict] | None:
    """(reference, the record as ``principal`` may see it), or None if it may not."""
    parts = event.focus.split("/")
    type, id = parts[0], parts[1]
    version = int(parts[3]) if len(parts) == 4 else None
    if type == "AuditEvent":  # the trail's: only auditors subscribe to its topic
        entry = reader.audit_entry(id)
        return (f"{type}/{id}", orjson.loads(entry.body)) if entry is not None else None
    if reader.read_visible(type, id, gate.query_filter(principal, type)) is None:
        return None
    stored = reader.vread(type, id, version) if version else reader.read(type, id)
    if stored is None or stored.deleted:
        return None
    resource = orjson.loads(gate.shown(principal, stored, reader).body)
    if r4:
        try:
            check_servable(resource, R4)
        except FhirError:  # not expressible in R4: the reference alone
            resource = {"resourceType": type, "id": id}
    return f"{type}/{id}", resource


def _status(sub: Spec, kind: str, count: int, events: list[dict], base: str) -> dict:
    subscription = {"reference": f"{base}/Subscription/{sub.id}"}
    if sub.r4:
        parameters = [
            {"name": "subscription", "valueReference": subscription},
            {"name": "topic", "valueCanonical": sub.topic},
            {"name": "status", "valueCode": sub.status},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(count)},
            *({"name": "notification-event", "part": [
                {"name": "event-number", "valueString": e["eventNumber"]},
                {"name": "timestamp", "valueInstant": e["timestamp"]},
                *([{"name": "focus", "valueReference": e["focus"]}] if "focus" in e
                  else [])]} for e in events)]
        return {"resourceType": "Parameters", "id": str(uuid.uuid4()),
                "meta": {"profile": [STATUS_R4]}, "parameter": parameters}
    return {"resourceType": "SubscriptionStatus", "id": str(uuid.uuid4()),
            "status": sub.status, "type": kind,
            "eventsSinceSubscriptionStart": str(count),
            **({"notificationEvent": events} if events else {}),
            "subscription": subscription, "topic": sub.topic}


def _instant(us: int) -> str:
    seconds, micro = divmod(us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro).isoformat(
        timespec="microseconds")
