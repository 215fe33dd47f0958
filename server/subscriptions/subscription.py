"""A Subscription as the HL7 Subscriptions R5 Backport IG shapes it for R4/R4B, read into
a ``Spec``, and the write rule that checks and completes it.

See: https://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition-backport-subscription.html

- ``criteria`` is the topic's canonical URL; its ``backport-filter-criteria`` extensions
  are the filters (``patient=Patient/1`` or ``Flag?patient=Patient/1``), each one a
  ``canFilterBy`` of the topic, all of them applying (AND);
- ``channel.type`` is ``rest-hook`` (to ``channel.endpoint``, with ``channel.header``
  lines sent on every POST: the subscriber's shared secret goes there) or ``websocket``;
- ``channel.payload`` is the notification's media type: ``application/fhir+json``,
  where ``; fhirVersion=4.0`` asks for the Backport IG's R4 shapes (a Parameters in
  place of R4B's SubscriptionStatus); its ``backport-payload-content`` extension is
  ``empty``, ``id-only`` (the default, written back) or ``full-resource``;
- ``backport-heartbeat-period``, ``backport-timeout`` and ``backport-max-count`` on the
  channel, all optional.

The server owns ``status`` and ``error``: a new or re-requested rest-hook subscription is
``requested`` until its endpoint answers the handshake (``delivery.py``), a websocket
one is ``active`` at once; the subscriber may only set ``requested`` (try again) or
``off`` (stop). The subscriber's purpose of use is kept in a ``meta.tag`` so that
notifications are built with the consent its institution has for that purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from server import errors
from server.access import Principal, author_of, is_auditor
from server.search.parse import parse_criteria
from server.store import Delivery
from server.subscriptions import endpoints
from server.subscriptions.topics import BREAK_GLASS, REFERRAL_ASSIGNED, Topic, topics

if TYPE_CHECKING:
    from server.repository import Repository, Write

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER = BACKPORT + "backport-filter-criteria"
CONTENT = BACKPORT + "backport-payload-content"
HEARTBEAT = BACKPORT + "backport-heartbeat-period"
TIMEOUT = BACKPORT + "backport-timeout"
MAX_COUNT = BACKPORT + "backport-max-count"
PROFILE = BACKPORT + "backport-subscription"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
CONTENTS = ("empty", "id-only", "full-resource")
CHANNELS = ("rest-hook", "websocket")
FHIR_JSON = "application/fhir+json"
_MEDIA = (FHIR_JSON, "application/json")
_DEFAULT_TIMEOUT, _MAX_TIMEOUT = 10, 60
_MAX_EVENTS = 100  # events in one notification, at most


@dataclass(frozen=True)
class Spec:
    """What the delivery and the matcher need of one Subscription."""

    id: str
    status: str
    topic: str
    filters: tuple[tuple[str, str], ...]
    channel: str
    endpoint: str | None
    payload: str  # the media type, with its fhirVersion parameter if any
    content: str
    headers: tuple[tuple[str, str], ...]
    heartbeat: int | None
    timeout: int
    max_count: int
    institution: str | None
    purpose: str | None

    @property
    def r4(self) -> bool:
        """The subscriber asked for the Backport IG's R4 shapes."""
        return "fhirversion=4.0" in self.payload.replace(" ", "").lower()

    @property
    def subscriber(self) -> Principal:
        """Who reads the notifications: the institution that wrote the subscription, with
        the purpose it wrote it for (``client_id`` names the subscription, for audit)."""
        return Principal(client_id=f"Subscription/{self.id}", institution=self.institution,
                         purpose=self.purpose)


def spec(resource: dict) -> Spec:
    """Read a stored Subscription (checked on write, so well formed)."""
    channel = resource.get("channel") or {}
    payload = channel.get("payload") or FHIR_JSON
    return Spec(
        id=resource.get("id", ""), status=resource.get("status", "off"),
        topic=resource.get("criteria", ""), filters=tuple(_filters(resource)),
        channel=channel.get("type", ""), endpoint=channel.get("endpoint"),
        payload=payload, content=_ext(channel.get("_payload"), CONTENT, "valueCode")
        or "id-only",
        headers=tuple(_header(h) for h in channel.get("header") or []),
        heartbeat=_ext(channel, HEARTBEAT, "valueUnsignedInt"),
        timeout=_ext(channel, TIMEOUT, "valueUnsignedInt") or _DEFAULT_TIMEOUT,
        max_count=_ext(channel, MAX_COUNT, "valuePositiveInt") or 1,
        institution=author_of(resource),
        purpose=next((t.get("code") for t in (resource.get("meta") or {}).get("tag") or []
                      if t.get("system") == PURPOSE_SYSTEM), None))


class SubscriptionRule:
    """The write rule (``server/repository.py`` RULES) that checks a Subscription."""

    types = frozenset({"Subscription"})

    def before_write(self, repo: Repository, w: Write, resource: dict,
                     previous: dict | None) -> None:
        if w.principal.internal:  # the platform moving its status
            return
        topic = topics().get(resource.get("criteria", ""))
        if topic is None:
            raise errors.unprocessable(
                "criteria debe ser la URL canónica de un SubscriptionTopic de la plataforma "
                f"({', '.join(sorted(topics()))})", ["Subscription.criteria"])
        if topic.url == BREAK_GLASS and not is_auditor(w.principal):
            raise errors.FhirError(403, "forbidden", "Solo los auditores se suscriben a "
                                   "los accesos de emergencia.")
        _check_filters(repo, w, resource, topic)
        _check_channel(resource)
        _set_status(resource, previous)
        tags = [t for t in (resource.get("meta") or {}).get("tag") or []
                if t.get("system") != PURPOSE_SYSTEM]
        if w.principal.purpose:
            tags.append({"system": PURPOSE_SYSTEM, "code": w.principal.purpose})
        resource.setdefault("meta", {})["tag"] = tags
        resource.setdefault("meta", {}).setdefault("profile", [])
        if PROFILE not in resource["meta"]["profile"]:
            resource["meta"]["profile"].append(PROFILE)

    def after_write(self, repo: Repository, w: Write, written: dict,
                    previous: dict | None) -> None:
        """A subscription that wants a handshake (or has been switched off, or has
        events to hand to its websocket) is due for the delivery worker at once. The
        platform's own status changes leave the delivery state to the delivery worker."""
        if w.principal.internal:
            return
        current = w.uow.delivery(written["id"])
        if current is None:
            w.uow.set_delivery(Delivery(written["id"]))
        elif current.due_us != 0 or current.failing_since_us is not None:
            w.uow.set_delivery(replace(current, due_us=0, failing_since_us=None,
                                       attempts=0))

    def after_delete(self, repo: Repository, w: Write, type: str, id: str) -> None:
        """A deleted subscription gets no more events (the matcher reads only current
        ones); its event log stays for the record."""


def _check_filters(repo: Repository, w: Write, resource: dict, topic: Topic) -> None:
    """Each filter is one the topic offers, on a value its search parameter parses; a
    filter that names a record (a survivor, a case) names one the caller sees, so that a
    subscription cannot follow a survivor hidden from its institution."""
    wanted = list(_filters(resource))
    if topic.url == REFERRAL_ASSIGNED:
        own = w.principal.institution
        if any(name == "owner" and value != own for name, value in wanted):
            raise errors.unprocessable(
                "En este tópico el filtro owner es siempre la institución suscriptora.",
                ["Subscription.criteria"])
        if own and ("owner", own) not in wanted:
            wanted.append(("owner", own))
            _write_filters(resource, wanted)
    for name, value in wanted:
        if name not in topic.filters:
            raise errors.unprocessable(
                f"El tópico no ofrece el filtro {name!r} (ofrece: "
                f"{', '.join(sorted(topic.filters))}).", ["Subscription.criteria"])
        type, code = topic.filters[name]
        try:
            parse_criteria(type, [(code, value)])
        except errors.FhirError as exc:
            raise errors.unprocessable(f"Filtro {name!r} inválido: {exc}",
                                       ["Subscription.criteria"]) from None
        target = value.split("/")
        if code == "_id":
            target = [type, value]
        if len(target) == 2 and target[0][:1].isupper() and code != "owner":
            try:
                repo.read(w.principal, target[0], target[1], reader=w.uow)
            except errors.FhirError:
                raise errors.unprocessable(
                    f"El filtro {name!r} nombra un registro que no existe o que la "
                    "institución no puede ver.", ["Subscription.criteria"]) from None


def _check_channel(resource: dict) -> None:
    channel = resource.get("channel") or {}
    kind = channel.get("type")
    if kind not in CHANNELS:
        raise errors.unprocessable(
            f"channel.type debe ser {' o '.join(CHANNELS)}.", ["Subscription.channel.type"])
    if kind == "rest-hook":
        endpoint = channel.get("endpoint")
        if not endpoint:
            raise errors.unprocessable("Una suscripción rest-hook necesita channel.endpoint.",
                                       ["Subscription.channel.endpoint"])
        if reason := endpoints.refusal(endpoint):
            raise errors.unprocessable(f"Endpoint rechazado: {reason}.",
                                       ["Subscription.channel.endpoint"])
    payload = channel.get("payload") or FHIR_JSON
    media, _, params = payload.partition(";")
    version = params.replace(" ", "").lower().removeprefix("fhirversion=")
    if media.strip() not in _MEDIA or (params and version not in ("4.0", "4.3")):
        raise errors.unprocessable(
            "channel.payload debe ser application/fhir+json (con fhirVersion=4.0 para las "
            "formas R4 del Backport IG).", ["Subscription.channel.payload"])
    channel["payload"] = payload
    content = _ext(channel.get("_payload"), CONTENT, "valueCode") or "id-only"
    if content not in CONTENTS:
        raise errors.unprocessable(f"El contenido de la notificación debe ser uno de "
                                   f"{', '.join(CONTENTS)}.", ["Subscription.channel.payload"])
    channel["_payload"] = {**(channel.get("_payload") or {}), "extension": [
        *(e for e in (channel.get("_payload") or {}).get("extension") or []
          if e.get("url") != CONTENT), {"url": CONTENT, "valueCode": content}]}
    for header in channel.get("header") or []:
        name, value = _header(header)
        if not name or not value or "\n" in header or "\r" in header:
            raise errors.unprocessable("Cada channel.header es 'Nombre: valor'.",
                                       ["Subscription.channel.header"])
    timeout = _ext(channel, TIMEOUT, "valueUnsignedInt")
    if timeout is not None and not 1 <= timeout <= _MAX_TIMEOUT:
        raise errors.unprocessable(f"El timeout va de 1 a {_MAX_TIMEOUT} segundos.",
                                   ["Subscription.channel"])
    heartbeat = _ext(channel, HEARTBEAT, "valueUnsignedInt")
    if heartbeat is not None and heartbeat < 1:
        raise errors.unprocessable("El latido (heartbeat) es de al menos 1 segundo.",
                                   ["Subscription.channel"])
    count = _ext(channel, MAX_COUNT, "valuePositiveInt")
    if count is not None and not 1 <= count <= _MAX_EVENTS:
        raise errors.unprocessable(f"max-count va de 1 a {_MAX_EVENTS}.",
                                   ["Subscription.channel"])


def _set_status(resource: dict, previous: dict | None) -> None:
    """requested (or active for a websocket) on creation; afterwards the subscriber may
    ask again (requested) or stop (off), anything else keeps the server's status."""
    asked = resource.get("status")
    before = (previous or {}).get("status")
    websocket = (resource.get("channel") or {}).get("type") == "websocket"
    if asked == "off":
        status = "off"
    elif previous is None or asked == "requested" or before == "off":
        status = "active" if websocket else "requested"
    elif asked in (before, "active", "error"):
        status = before
    else:
        raise errors.unprocessable("status: el suscriptor solo pide requested u off.",
                                   ["Subscription.status"])
    resource["status"] = status
    if status in ("requested", "active") and before != status:
        resource.pop("error", None)


def _filters(resource: dict) -> list[tuple[str, str]]:
    found = []
    for ext in (resource.get("_criteria") or {}).get("extension") or []:
        if ext.get("url") == FILTER and isinstance(ext.get("valueString"), str):
            text = ext["valueString"].split("?", 1)[-1]
            name, _, value = text.partition("=")
            found.append((name.strip(), value.strip()))
    return found


def _write_filters(resource: dict, filters: list[tuple[str, str]]) -> None:
    criteria = resource.setdefault("_criteria", {})
    criteria["extension"] = [
        *(e for e in criteria.get("extension") or [] if e.get("url") != FILTER),
        *({"url": FILTER, "valueString": f"{name}={value}"} for name, value in filters)]


def _ext(element: dict | None, url: str, key: str):  # noqa: ANN202 - the value's type
    return next((e.get(key) for e in (element or {}).get("extension") or []
                 if e.get("url") == url), None)


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()
